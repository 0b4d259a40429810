import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatabaseHandle } from '@ticketboss/adapters-postgres';
import { repositoryRoot, type Server } from '../testing/main-process.js';
import { cleanUp, startApi, startOwnedPostgres, type Resources } from './harness.js';

/** One API process on a PostgreSQL of its own, as the route scenarios (fuzz, access matrix) run it. */
export interface ApiOnOwnDatabase {
  readonly url: string;
  readonly server: Server;
  /** A handle of the test's own on the same database, for snapshots and the invariant. */
  readonly db: DatabaseHandle;
  /** The superuser connection string (it holds a password: a secret the logs must not show). */
  readonly databaseUrl: string;
  /** Stops the process, then the database; safe to call after a failure part-way. */
  stop(): Promise<void>;
}

/** The routes' whole description, as the app publishes it (`pnpm openapi` keeps the file in step). */
export async function readOpenApi(): Promise<OpenApiDocument> {
  return JSON.parse(await readFile(join(repositoryRoot, 'openapi.json'), 'utf8')) as OpenApiDocument;
}

export interface OpenApiOperation {
  readonly operationId?: string;
  readonly security?: ReadonlyArray<Readonly<Record<string, readonly string[]>>>;
  readonly parameters?: ReadonlyArray<{ readonly name: string; readonly in: string }>;
  readonly requestBody?: { readonly content?: Readonly<Record<string, OpenApiMediaType>> };
}

export interface OpenApiMediaType {
  readonly schema?: { readonly properties?: Readonly<Record<string, unknown>>; readonly required?: readonly string[] };
  readonly example?: unknown;
  readonly examples?: Readonly<Record<string, { readonly value: unknown }>>;
}

export interface OpenApiDocument {
  readonly paths: Readonly<Record<string, Readonly<Record<string, OpenApiOperation>>>>;
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

export interface Operation {
  readonly method: string;
  /** OpenAPI form: /v1/reservations/{reservationId} */
  readonly path: string;
  readonly spec: OpenApiOperation;
}

export function operationsOf(document: OpenApiDocument): Operation[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => (HTTP_METHODS as readonly string[]).includes(method))
      .map(([method, spec]) => ({ method: method.toUpperCase(), path, spec })),
  );
}

/**
 * One API process on a PostgreSQL of its own (the harness's), with the production defaults (API keys, the
 * default rate limit) and the given environment on top. Everything started is stopped again if a later step
 * fails.
 */
export async function startApiOnOwnDatabase(env: Record<string, string>): Promise<ApiOnOwnDatabase> {
  const resources: Resources = {};
  const stop = () => cleanUp(resources);
  try {
    const postgres = (resources.postgres = await startOwnedPostgres());
    // The harness's start has no rate limit; these scenarios get the production default unless `env` says.
    const api = await startApi(postgres, { TICKETBOSS_RATE_LIMIT_PER_SECOND: '', ...env });
    return { url: api.url, server: api.server, db: postgres.db, databaseUrl: postgres.url, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/** Whether the API process is still running (not exited, not killed). */
export const isRunning = (server: Server): boolean =>
  server.child.exitCode === null && server.child.signalCode === null;

export interface Answer {
  readonly status: number;
  readonly text: string;
}

/** One JSON request with an optional bearer token: for setting the scene, where every answer is checked. */
export async function call(url: string, method: string, path: string, token?: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, text: await response.text() };
}

/** The answer's JSON, once its status is the expected one (else an error that shows the answer). */
export function expectStatus<T>(answer: Answer, status: number, what: string): T {
  if (answer.status !== status) throw new Error(`${what}: expected ${status}, got ${answer.status} ${answer.text}`);
  return (answer.text ? JSON.parse(answer.text) : undefined) as T;
}

export interface IssuedKey {
  readonly id: string;
  readonly token: string;
}

/** The admin's side of the scene: partners, keys and events. */
export function adminOf(url: string, adminToken: string) {
  return {
    createPartner: async (partnerId: string): Promise<IssuedKey> => {
      const answer = await call(url, 'POST', '/v1/partners', adminToken, { partnerId, name: partnerId });
      return expectStatus<{ apiKey: IssuedKey }>(answer, 201, `create partner ${partnerId}`).apiKey;
    },
    issueKey: async (partnerId: string): Promise<IssuedKey> => {
      const answer = await call(url, 'POST', `/v1/partners/${partnerId}/keys`, adminToken);
      return expectStatus<IssuedKey>(answer, 201, `issue a key to ${partnerId}`);
    },
    revokeKey: async (partnerId: string, keyId: string): Promise<void> => {
      const answer = await call(url, 'DELETE', `/v1/partners/${partnerId}/keys/${keyId}`, adminToken);
      expectStatus(answer, 204, `revoke key ${keyId}`);
    },
    createEvent: async (eventId: string, totalSeats: number): Promise<void> => {
      const answer = await call(url, 'POST', '/v1/events', adminToken, { eventId, name: eventId, totalSeats });
      expectStatus(answer, 201, `create event ${eventId}`);
    },
  };
}

/** A partner reserving: on the default event through the classic route, or on an event through /v1. */
export async function reserve(
  url: string,
  token: string,
  where: { eventId?: string; holdSeconds?: number } = {},
): Promise<string> {
  const answer = where.eventId
    ? await call(url, 'POST', `/v1/events/${where.eventId}/reservations`, token, {
        seats: 1,
        ...(where.holdSeconds ? { holdSeconds: where.holdSeconds } : {}),
      })
    : await call(url, 'POST', '/reservations', token, { seats: 1 });
  return expectStatus<{ reservationId: string }>(answer, 201, 'reserve').reservationId;
}
