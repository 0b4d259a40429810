import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Access } from '../plugins/access.js';
import { recordScenario } from './report.js';
import {
  adminOf,
  call,
  isRunning,
  operationsOf,
  readOpenApi,
  expectStatus,
  reserve,
  startApiOnOwnDatabase,
  type Answer,
  type ApiOnOwnDatabase,
  type Operation,
} from './routes-setup.js';

/**
 * Scenario 7, the access matrix: every route of openapi.json x every kind of caller, each cell a request that
 * would succeed if the caller were allowed (a fresh partner id, a fresh reservation of the owner, ...), so a
 * missing check shows as a 2xx. Then no secret may appear anywhere in the process's log.
 */

const ADMIN_TOKEN = `faults-access-admin-${randomBytes(18).toString('base64url')}`;

const CALLERS = ['none', 'garbage', 'revoked', 'other', 'admin', 'owner'] as const;
type Caller = (typeof CALLERS)[number];

/** A route's access as openapi.json declares it (the document's security is written from the route's config). */
function accessOf(operation: Operation): Access {
  const schemes = (operation.spec.security ?? []).flatMap((requirement) => Object.keys(requirement));
  const admin = schemes.includes('adminToken');
  const partner = schemes.includes('partnerApiKey');
  if (admin && partner) return 'any';
  if (admin) return 'admin';
  if (partner) return 'partner';
  if (schemes.length > 0) throw new Error(`${operation.method} ${operation.path}: unknown security ${schemes.join()}`);
  return 'open';
}

type Expected = { readonly kind: 'allowed' } | { readonly kind: 'refused'; readonly status: number; code: string };

const allowed: Expected = { kind: 'allowed' };
const unauthorized: Expected = { kind: 'refused', status: 401, code: 'UNAUTHORIZED' };
const forbidden: Expected = { kind: 'refused', status: 403, code: 'FORBIDDEN' };

/** The path parameters that name a resource a partner owns, outermost first, with the 404 of a missing one. */
const OWNED: ReadonlyArray<readonly [string, Expected]> = [
  ['{webhookId}', { kind: 'refused', status: 404, code: 'WEBHOOK_NOT_FOUND' }],
  ['{reservationId}', { kind: 'refused', status: 404, code: 'RESERVATION_NOT_FOUND' }],
];

/**
 * For a route whose path names a resource a partner owns, its parameter and the answer for a missing one, which
 * another partner must get too.
 */
const ownedResource = (operation: Operation) => OWNED.find(([parameter]) => operation.path.includes(parameter));

function expectedFor(access: Access, caller: Caller, owned: readonly [string, Expected] | undefined): Expected {
  if (access === 'open') return allowed;
  if (caller === 'none' || caller === 'garbage' || caller === 'revoked') return unauthorized;
  switch (access) {
    case 'any':
      return allowed;
    case 'admin':
      return caller === 'admin' ? allowed : forbidden;
    case 'partner':
      if (caller === 'admin') return forbidden;
      return caller === 'other' && owned ? owned[1] : allowed;
  }
}

interface Scene {
  readonly url: string;
  readonly admin: ReturnType<typeof adminOf>;
  readonly ownerToken: string;
  readonly eventId: string;
  readonly fresh: (prefix: string) => string;
  /** One webhook of the owner's, the same for every cell that leaves it in place. */
  readonly webhook: () => Promise<string>;
  /** A webhook of the owner's of its own (for the cells that delete it). */
  readonly freshWebhook: () => Promise<string>;
}

/** A request that succeeds for a caller the route allows: the path, and the body if it takes one. */
interface Prepared {
  readonly path: string;
  readonly body?: unknown;
}

/**
 * How to make each route's request. Keyed by openapi.json's method and path: a route added to the app without
 * a line here fails the test, so the matrix keeps covering every route.
 */
const requestFor: Record<string, (scene: Scene) => Promise<Prepared>> = {
  'GET /metrics': async () => ({ path: '/metrics' }),
  'GET /ready': async () => ({ path: '/ready' }),
  'GET /health': async () => ({ path: '/health' }),
  'GET /reservations': async () => ({ path: '/reservations' }),
  'POST /reservations': async () => ({ path: '/reservations', body: { seats: 1 } }),
  'DELETE /reservations/{reservationId}': async (s) => ({
    path: `/reservations/${await reserve(s.url, s.ownerToken)}`,
  }),
  'POST /v1/partners': async (s) => ({ path: '/v1/partners', body: { partnerId: s.fresh('p'), name: 'Fresh' } }),
  'POST /v1/partners/{partnerId}/keys': async () => ({ path: '/v1/partners/owner/keys' }),
  'DELETE /v1/partners/{partnerId}/keys/{keyId}': async (s) => ({
    path: `/v1/partners/owner/keys/${(await s.admin.issueKey('owner')).id}`,
  }),
  'POST /v1/events': async (s) => ({
    path: '/v1/events',
    body: { eventId: s.fresh('e'), name: 'Fresh', totalSeats: 5 },
  }),
  'GET /v1/events': async () => ({ path: '/v1/events' }),
  'PATCH /v1/events/{eventId}': async (s) => ({ path: `/v1/events/${s.eventId}`, body: { name: s.fresh('name') } }),
  'GET /v1/events/{eventId}': async (s) => ({ path: `/v1/events/${s.eventId}` }),
  'GET /v1/admin/events': async () => ({ path: '/v1/admin/events' }),
  'GET /v1/admin/events/{eventId}/activity': async (s) => ({ path: `/v1/admin/events/${s.eventId}/activity` }),
  'GET /v1/admin/partners': async () => ({ path: '/v1/admin/partners' }),
  'POST /v1/events/{eventId}/reservations': async (s) => ({
    path: `/v1/events/${s.eventId}/reservations`,
    body: { seats: 1 },
  }),
  'GET /v1/events/{eventId}/reservations': async (s) => ({ path: `/v1/events/${s.eventId}/reservations` }),
  'GET /v1/reservations/{reservationId}': async (s) => ({
    path: `/v1/reservations/${await reserve(s.url, s.ownerToken, { eventId: s.eventId })}`,
  }),
  'DELETE /v1/reservations/{reservationId}': async (s) => ({
    path: `/v1/reservations/${await reserve(s.url, s.ownerToken, { eventId: s.eventId })}`,
  }),
  'POST /v1/reservations/{reservationId}/confirm': async (s) => ({
    path: `/v1/reservations/${await reserve(s.url, s.ownerToken, { eventId: s.eventId, holdSeconds: 600 })}/confirm`,
  }),
  'POST /v1/webhooks': async () => ({ path: '/v1/webhooks', body: WEBHOOK }),
  'GET /v1/webhooks': async () => ({ path: '/v1/webhooks' }),
  'GET /v1/webhooks/{webhookId}': async (s) => ({ path: `/v1/webhooks/${await s.webhook()}` }),
  'PATCH /v1/webhooks/{webhookId}': async (s) => ({
    path: `/v1/webhooks/${await s.webhook()}`,
    body: { description: s.fresh('description') },
  }),
  'DELETE /v1/webhooks/{webhookId}': async (s) => ({ path: `/v1/webhooks/${await s.freshWebhook()}` }),
  'POST /v1/webhooks/{webhookId}/rotate-secret': async (s) => ({
    path: `/v1/webhooks/${await s.webhook()}/rotate-secret`,
  }),
  'POST /v1/webhooks/{webhookId}/test': async (s) => ({ path: `/v1/webhooks/${await s.webhook()}/test` }),
  'GET /v1/webhooks/{webhookId}/deliveries': async (s) => ({ path: `/v1/webhooks/${await s.webhook()}/deliveries` }),
  'POST /v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver': async (s) => {
    const webhookId = await s.webhook();
    const test = await call(s.url, 'POST', `/v1/webhooks/${webhookId}/test`, s.ownerToken);
    const { deliveryId } = expectStatus<{ deliveryId: string }>(test, 202, 'a test message to redeliver');
    return { path: `/v1/webhooks/${webhookId}/deliveries/${deliveryId}/redeliver` };
  },
};

/**
 * The owner's endpoint: a closed local port, so that the worker's attempts stay on this machine and fail at once
 * (private addresses are allowed in this scenario for that).
 */
const WEBHOOK = { url: 'http://127.0.0.1:9/access-matrix', events: ['reservation.created'] };

/** The same request for a resource that does not exist (the path's id of the owned resource replaced). */
const missingTwin = (operation: Operation, path: string): string => {
  const at = operation.path.split('/').indexOf(ownedResource(operation)![0]);
  return path
    .split('/')
    .map((segment, i) => (i === at ? randomUUID() : segment))
    .join('/');
};

interface Cell {
  readonly route: string;
  readonly caller: Caller;
  readonly expected: Expected;
  readonly answer: Answer;
  /** For another partner on the owner's resource: the answer for a missing one, which must be the same. */
  readonly missing?: Answer;
}

function mismatchOf(cell: Cell): string | undefined {
  const { expected, answer } = cell;
  const ok = answer.status >= 200 && answer.status < 300;
  const where = `${cell.route} as ${cell.caller}: ${answer.status} ${answer.text.slice(0, 200)}`;
  if (expected.kind === 'allowed') return ok ? undefined : `expected 2xx; ${where}`;
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    body = undefined;
  }
  const code = (body as { code?: unknown } | undefined)?.code;
  if (answer.status !== expected.status || code !== expected.code) {
    return `expected ${expected.status} ${expected.code}; ${where}`;
  }
  if (cell.missing && (cell.missing.status !== answer.status || cell.missing.text !== answer.text)) {
    return `expected the answer for a missing one (${cell.missing.status} ${cell.missing.text}); ${where}`;
  }
  return undefined;
}

/** The names of the secrets found in a text. */
function secretsIn(text: string, secrets: ReadonlyMap<string, string>): string[] {
  return [...secrets].filter(([, secret]) => text.includes(secret)).map(([name]) => name);
}

/** API keys are looked for by their secret part: the `tb_<key id>_` prefix may be logged. */
const secretPartOf = (token: string) => /^tb_[a-z0-9]{16}_(.+)$/.exec(token)?.[1] ?? token;

describe('fault scenario 7: the access matrix', () => {
  let system: ApiOnOwnDatabase | undefined;

  beforeAll(async () => {
    system = await startApiOnOwnDatabase({
      TICKETBOSS_ADMIN_TOKEN: ADMIN_TOKEN,
      // Deterministic answers: the matrix is about who may call what, not about the rate limit's 429s.
      TICKETBOSS_RATE_LIMIT_PER_SECOND: '0',
      TICKETBOSS_WEBHOOK_ALLOW_PRIVATE: 'true',
    });
  });

  afterAll(async () => {
    await system?.stop();
  });

  it('answers 2xx only to the callers a route declares, and logs no secret', async () => {
    const started = Date.now();
    const { url, server, databaseUrl } = system!;
    const admin = adminOf(url, ADMIN_TOKEN);
    // The keys made for the revoke route's cells: their tokens are secrets too.
    const keysForRevoking: string[] = [];
    const issueKey = admin.issueKey;
    const owner = await admin.createPartner('owner');
    const other = await admin.createPartner('other');
    const revoked = await admin.issueKey('owner');
    await admin.revokeKey('owner', revoked.id);
    // The owner's key id with a wrong secret: the most plausible guess, and well-formed, so it is looked up.
    const garbage = `tb_${owner.id}_${randomBytes(32).toString('base64url')}`;
    const tokens: Record<Caller, string | undefined> = {
      none: undefined,
      garbage,
      revoked: revoked.token,
      other: other.token,
      admin: ADMIN_TOKEN,
      owner: owner.token,
    };
    const eventId = 'access-matrix';
    await admin.createEvent(eventId, 1000);
    let counter = 0;
    const registerWebhook = async () => {
      const answer = await call(url, 'POST', '/v1/webhooks', owner.token, WEBHOOK);
      return expectStatus<{ webhookId: string }>(answer, 201, 'register a webhook').webhookId;
    };
    let sharedWebhook: Promise<string> | undefined;
    const scene: Scene = {
      url,
      admin: {
        ...admin,
        issueKey: async (partnerId) => {
          const key = await issueKey(partnerId);
          keysForRevoking.push(key.token);
          return key;
        },
      },
      ownerToken: owner.token,
      eventId,
      fresh: (p) => `${p}-${++counter}`,
      webhook: () => (sharedWebhook ??= registerWebhook()),
      freshWebhook: registerWebhook,
    };

    const operations = operationsOf(await readOpenApi());
    const routes = operations.map((o) => `${o.method} ${o.path}`);
    expect(routes.filter((route) => !requestFor[route])).toEqual([]);
    expect(new Set(operations.map(accessOf))).toEqual(new Set(['open', 'any', 'admin', 'partner']));

    const cells: Cell[] = [];
    for (const operation of operations) {
      const route = `${operation.method} ${operation.path}`;
      for (const caller of CALLERS) {
        const expected = expectedFor(accessOf(operation), caller, ownedResource(operation));
        const { path, body } = await requestFor[route]!(scene);
        const answer = await call(url, operation.method, path, tokens[caller], body);
        const missing =
          expected.kind === 'refused' && expected.status === 404
            ? await call(url, operation.method, missingTwin(operation, path), tokens[caller], body)
            : undefined;
        cells.push({ route, caller, expected, answer, ...(missing ? { missing } : {}) });
      }
    }

    const unexpected2xx = cells.filter(
      (c) => c.expected.kind !== 'allowed' && c.answer.status >= 200 && c.answer.status < 300,
    );
    expect(unexpected2xx.map(mismatchOf)).toEqual([]);
    expect(cells.map(mismatchOf).filter(Boolean)).toEqual([]);
    expect(isRunning(server)).toBe(true);

    // Every token the run saw or was given (those of 201 answers included), and the database's password, by name:
    // a failure says which leaked without printing it.
    const issued = cells.flatMap((c) =>
      [...c.answer.text.matchAll(/tb_[a-z0-9]{16}_[A-Za-z0-9_-]{43}|whsec_[A-Za-z0-9+/]{43}=/g)].map((m) => [
        `secret issued to ${c.route}`,
        m[0],
      ]),
    );
    const secrets = new Map<string, string>([
      ['admin token', ADMIN_TOKEN],
      ['database password', decodeURIComponent(new URL(databaseUrl).password)],
      ...[
        ['garbage token', garbage],
        ["owner's key", owner.token],
        ["other partner's key", other.token],
        ['revoked key', revoked.token],
        ...keysForRevoking.map((token) => ['key made to be revoked', token]),
        ...issued,
      ].map(([name, token]) => [`${name} ${token!.slice(0, 20)}`, secretPartOf(token!)] as const),
    ]);
    const log = server.output();
    expect(log).toMatch(/request completed/);
    expect(secretsIn(log, secrets)).toEqual([]);

    await recordScenario({
      id: 7,
      name: 'Access matrix',
      load: `${operations.length} routes x ${CALLERS.length} callers, ${cells.length} answers in ${Math.round((Date.now() - started) / 1000)} s`,
      faults:
        "no token, a wrong secret for a real key id, a revoked key, another partner (on the owner's reservations and webhooks), the admin token, the owner's key",
      checked:
        'each answer against the access openapi.json declares (401/403, 404 identical to a missing reservation or webhook); every secret against the process log',
      figures: `${unexpected2xx.length} unexpected 2xx, 0 other mismatches, ${secrets.size} secrets checked, 0 in the logs`,
    });
  });
});
