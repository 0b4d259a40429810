import { expect } from 'vitest';
import type { Server } from './main-process.js';

/**
 * What the tests that run API processes (main.ts as a child) against one database give each of them: the
 * database, loopback, the admin token and no rate limit. Pass it with `{}` as startMain's base, so the rest is
 * the production default (API keys).
 */
export const apiProcessEnv = (databaseUrl: string, adminToken: string): Record<string, string> => ({
  DATABASE_URL: databaseUrl,
  HOST: '127.0.0.1',
  TICKETBOSS_ADMIN_TOKEN: adminToken,
  TICKETBOSS_RATE_LIMIT_PER_SECOND: '0',
});

export type CallInit = Omit<RequestInit, 'headers'> & { headers?: Record<string, string> };

/** One request with a bearer token; a body is sent as JSON. */
export function call(url: string, path: string, token: string, init: CallInit = {}): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...init.headers };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${url}${path}`, { ...init, headers });
}

async function expectCreated(response: Response, what: string): Promise<unknown> {
  const text = await response.text();
  if (response.status !== 201) throw new Error(`${what}: expected 201, got ${response.status} ${text}`);
  return JSON.parse(text) as unknown;
}

/** Creates a partner with the admin token; returns its first API key's token. */
export async function createPartner(url: string, adminToken: string, partnerId: string): Promise<string> {
  const response = await call(url, '/v1/partners', adminToken, {
    method: 'POST',
    body: JSON.stringify({ partnerId, name: partnerId }),
  });
  const { apiKey } = (await expectCreated(response, `partner ${partnerId}`)) as { apiKey: { token: string } };
  return apiKey.token;
}

export async function createEvent(url: string, adminToken: string, eventId: string, totalSeats: number): Promise<void> {
  const response = await call(url, '/v1/events', adminToken, {
    method: 'POST',
    body: JSON.stringify({ eventId, name: eventId, totalSeats, maxSeatsPerReservation: 10 }),
  });
  await expectCreated(response, `event ${eventId}`);
}

/** The calls a test makes as the admin of the API processes it starts with `adminToken`. */
export function adminClient(adminToken: string) {
  return {
    /** apiProcessEnv with this admin token. */
    env: (databaseUrl: string) => apiProcessEnv(databaseUrl, adminToken),
    createPartner: (url: string, partnerId: string) => createPartner(url, adminToken, partnerId),
    createEvent: (url: string, eventId: string, totalSeats: number) =>
      createEvent(url, adminToken, eventId, totalSeats),
  };
}

/** A reservation as the v1 routes answer it. */
export interface ReservationAnswer {
  readonly reservationId: string;
  readonly partnerId: string;
  readonly seats: number;
  readonly status: string;
  readonly expiresAt?: string;
}

export interface EventSummary {
  readonly availableSeats: number;
  readonly heldSeats: number;
  readonly reservedSeats: number;
  readonly reservationCount: number;
  readonly version: number;
}

/** GET /v1/events/:eventId, which must answer 200. */
export async function summaryOf(url: string, eventId: string, token: string): Promise<EventSummary> {
  const response = await call(url, `/v1/events/${eventId}`, token);
  expect(response.status).toBe(200);
  return (await response.json()) as EventSummary;
}

const isRunning = (server: Server) => server.child.exitCode === null && server.child.signalCode === null;

/**
 * Stops every process a test started that still runs: SIGTERM, then SIGKILL for any still there after
 * `graceMs` (a test that failed may have left one stuck).
 */
export async function stopAll(servers: readonly Server[], graceMs = 10_000): Promise<void> {
  for (const server of servers) if (isRunning(server)) server.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
  await Promise.race([Promise.all(servers.map((s) => s.exited)), grace]);
  clearTimeout(timer);
  for (const server of servers) if (isRunning(server)) server.child.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.exited));
}
