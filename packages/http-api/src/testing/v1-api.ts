import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { apiKeyIssuer } from '../server/api-keys.js';
import {
  createAppWithDatabase,
  TEST_ADMIN_TOKEN,
  type AppWithDatabase,
  type AppWithDatabaseOptions,
} from './app-with-database.js';

/**
 * What the v1 route tests (v1-*.test.ts) share: one app on a fresh database with API keys, the requests they make
 * to it through `inject`, and how they check an error answer.
 */

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const admin = bearer(TEST_ADMIN_TOKEN);
export const uniqueId = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;
export const keyIdOf = (token: string) => apiKeyIssuer.keyIdOf(token)!;

export function expectError(response: LightMyRequestResponse, status: number, code: string, error?: string | RegExp) {
  expect({ status: response.statusCode, code: response.json<{ code: string }>().code }).toEqual({ status, code });
  if (typeof error === 'string') expect(response.json<{ error: string }>().error).toBe(error);
  if (error instanceof RegExp) expect(response.json<{ error: string }>().error).toMatch(error);
}

/**
 * Registers the calling file's hooks: the app (TICKETBOSS_AUTH=api-key, and any other `options`) starts before its
 * tests, every test ends with the stored invariant holding, and the app closes after them. The handle it returns
 * reaches that app from inside tests and hooks.
 */
export function useApiKeyApp(options: Omit<AppWithDatabaseOptions, 'seedAuth'> = {}): AppWithDatabase {
  let current: AppWithDatabase | undefined;
  beforeAll(async () => {
    current = await createAppWithDatabase({ ...options, seedAuth: 'api-key' });
  });
  afterEach(async () => {
    expect(await started().invariantBreaches()).toEqual([]);
  });
  afterAll(() => current?.close());
  const started = () => {
    if (!current) throw new Error('the app starts in beforeAll: use it inside a test or a hook');
    return current;
  };
  return {
    get app() {
      return started().app;
    },
    get database() {
      return started().database;
    },
    get services() {
      return started().services;
    },
    invariantBreaches: () => started().invariantBreaches(),
    createPartner: (partnerId) => started().createPartner(partnerId),
    close: () => started().close(),
  };
}

/** The requests the v1 tests make to `t` (or, for `call`, to another app given last). */
export function v1Calls(t: AppWithDatabase) {
  function call(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    headers: Record<string, string> = {},
    payload?: unknown,
    app = t.app,
  ) {
    return app.inject({
      method,
      url,
      headers: payload === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
    });
  }

  async function newEvent(totalSeats = 20, maxSeatsPerReservation?: number): Promise<string> {
    const eventId = uniqueId('ev');
    const response = await call('POST', '/v1/events', admin, {
      eventId,
      name: 'Gig',
      totalSeats,
      maxSeatsPerReservation,
    });
    expect(response.statusCode).toBe(201);
    return eventId;
  }

  async function reserve(token: string, eventId: string, seats: number) {
    return call('POST', `/v1/events/${eventId}/reservations`, bearer(token), { seats });
  }

  async function reserved(token: string, eventId: string, seats: number): Promise<string> {
    const response = await reserve(token, eventId, seats);
    expect(response.statusCode).toBe(201);
    return response.json<{ reservationId: string }>().reservationId;
  }

  async function summary(eventId: string) {
    return (await call('GET', `/v1/events/${eventId}`, admin)).json<Record<string, unknown>>();
  }

  return { call, newEvent, reserve, reserved, summary };
}
