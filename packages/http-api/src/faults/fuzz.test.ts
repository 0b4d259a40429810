import { randomBytes, randomUUID } from 'node:crypto';
import { findInvariantBreaches } from '@ticketboss/adapters-postgres';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRequest, requestArbitrary, type FuzzRequest, type FuzzTargets } from './fuzz-requests.js';
import { sendAll, type Result } from './fuzz-send.js';
import { is2xx, snapshot, unexplained, WRITES } from './fuzz-snapshot.js';
import { recordScenario } from './report.js';
import {
  adminOf,
  call,
  expectStatus,
  isRunning,
  operationsOf,
  readOpenApi,
  reserve,
  startApiOnOwnDatabase,
  type ApiOnOwnDatabase,
  type Operation,
} from './routes-setup.js';

/**
 * Scenario 5: generated requests over every route of openapi.json (and routes that do not exist), sent over real
 * HTTP to the API process: no 5xx, every error in `{error, code}`, and no state change that a 2xx answer does
 * not explain.
 *
 * The generator aims real tokens (the admin's, partners', a revoked one) and real ids at the routes, so that
 * requests get past access control and into body parsing, validation and the handlers; some of them are then
 * legitimately accepted. So the state check is not "nothing changed" but "every row that changed is named by a
 * 2xx answer to a write": the ids in its path or in its answer's body (and an event through a reservation so
 * named), and an Idempotency-Key row by a request that sent that key and got the answer it records.
 *
 * The seed is random and printed; FAULTS_FUZZ_SEED=<seed> replays the same requests.
 */

const ADMIN_TOKEN = `faults-fuzz-admin-${randomBytes(18).toString('base64url')}`;
const GENERATED = 10_000;
const CONCURRENCY = 8;
const seed = Number(process.env.FAULTS_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** Issue 10's named edges, sent every run whatever the seed (items 3 and 11). */
function namedEdges(operations: readonly Operation[], ownerToken: string, eventId: string): FuzzRequest[] {
  const auth = ['Authorization', `Bearer ${ownerToken}`] as const;
  const deepWithKey = operations
    .filter((o) => (o.spec.parameters ?? []).some((p) => p.name === 'idempotency-key'))
    .map((o): FuzzRequest => {
      const params = [...o.path.matchAll(/\{(\w+)\}/g)].map((m) => (m[1] === 'eventId' ? eventId : randomUUID()));
      let i = 0;
      return {
        route: `${o.method} ${o.path}`,
        method: o.method,
        target: o.path.replace(/\{\w+\}/g, () => params[i++]!),
        params,
        headers: [auth, ['Content-Type', 'application/json'], ['Idempotency-Key', randomUUID()]],
        host: true,
        body: { kind: 'deep', fields: [['seats', '1']], depth: 4000, array: false },
      };
    });
  return [
    ...deepWithKey,
    {
      route: 'GET /v1/reservations/{reservationId}',
      method: 'GET',
      target: '/v1/reservations/%ZZ',
      params: ['%ZZ'],
      headers: [auth],
      host: true,
    },
    { route: 'GET /health', method: 'GET', target: '/health', params: [], headers: [], host: false },
  ];
}

/** Sends every request, `concurrency` at a time. */
/** What is wrong with an answer: a 5xx, no answer at all, an error body not exactly `{error, code}`, no request id. */
function problemsOf({ request, outcome }: Result): string[] {
  if (outcome.kind === 'no answer') return [`no answer: ${outcome.reason}`];
  const problems: string[] = [];
  if (outcome.status >= 500 || outcome.status < 100) problems.push(`status ${outcome.status}`);
  if (outcome.status >= 400 && request.method !== 'HEAD' && !isErrorBody(outcome.body)) {
    problems.push('error body is not exactly {error, code}');
  }
  // Every answer to a request Node itself would send carries the request id the log lines have.
  if (outcome.wellFormed && !outcome.headers['x-request-id']) problems.push('no X-Request-Id');
  return problems;
}

/** The bad answers grouped by what is wrong and the answer's status and code: a count and one example each. */
function failuresByKind(results: readonly Result[]): string[] {
  const kinds = new Map<string, { count: number; example: string }>();
  for (const result of results) {
    for (const problem of problemsOf(result)) {
      const { outcome } = result;
      const answer = outcome.kind === 'answer' ? `${outcome.status} ${outcome.body.slice(0, 100)}` : '';
      const { host, framing } = result.request;
      const status = outcome.kind === 'answer' ? outcome.status : '-';
      const kind = `${problem} (${status}${host ? '' : ', no Host'}${framing ? `, ${framing}` : ''})`;
      const seen = kinds.get(kind) ?? { count: 0, example: `${describeRequest(result.request)} -> ${answer}` };
      kinds.set(kind, { ...seen, count: seen.count + 1 });
    }
  }
  return [...kinds].map(([kind, { count, example }]) => `${count} x ${kind}, e.g. ${example}`);
}

function isErrorBody(text: string): boolean {
  try {
    const body = JSON.parse(text) as unknown;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
    const keys = Object.keys(body).sort();
    const { error, code } = body as Record<string, unknown>;
    return keys.join() === 'code,error' && typeof error === 'string' && typeof code === 'string';
  } catch {
    return false;
  }
}

/** "400 x 5,123, 401 x 1,904, ...": the answers by status, most frequent first. */
function histogram(results: readonly Result[]): string {
  const counts = new Map<string, number>();
  for (const { outcome } of results) {
    const key = outcome.kind === 'answer' ? String(outcome.status) : 'no answer';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([status, n]) => `${status} x ${n.toLocaleString('en-US')}`)
    .join(', ');
}

describe('fault scenario 5: generated requests over every route', () => {
  let system: ApiOnOwnDatabase | undefined;

  beforeAll(async () => {
    system = await startApiOnOwnDatabase({
      TICKETBOSS_ADMIN_TOKEN: ADMIN_TOKEN,
      TICKETBOSS_RATE_LIMIT_PER_SECOND: '0',
    });
  });

  afterAll(async () => {
    await system?.stop();
  });

  it(`answers ${GENERATED.toLocaleString('en-US')} generated requests without a 5xx, in {error, code}, changing only what 2xx answers say`, async () => {
    const { url, server, db } = system!;
    console.warn(`[faults] fuzz seed ${seed} (replay: FAULTS_FUZZ_SEED=${seed} pnpm test:faults fuzz)`);

    // The scene: two partners, a revoked key and a spare one (the admin may revoke it), an event besides the
    // default one, and reservations of the owner: confirmed on each event, a live hold, a cancelled one.
    const admin = adminOf(url, ADMIN_TOKEN);
    const owner = await admin.createPartner('owner');
    const other = await admin.createPartner('other');
    const revoked = await admin.issueKey('owner');
    await admin.revokeKey('owner', revoked.id);
    const spare = await admin.issueKey('owner');
    const eventId = 'fuzz-event';
    await admin.createEvent(eventId, 100);
    const reservations = [
      await reserve(url, owner.token),
      await reserve(url, owner.token, { eventId }),
      await reserve(url, owner.token, { eventId, holdSeconds: 3600 }),
    ];
    const cancelled = await reserve(url, owner.token, { eventId });
    expectStatus(await call(url, 'DELETE', `/v1/reservations/${cancelled}`, owner.token), 204, 'cancel');

    const operations = operationsOf(await readOpenApi());
    const targets: FuzzTargets = {
      operations,
      ids: {
        eventId: ['node-meetup-2025', eventId],
        reservationId: [...reservations, cancelled],
        partnerId: ['owner', 'other'],
        keyId: [spare.id, revoked.id],
      },
      tokens: [ADMIN_TOKEN, owner.token, other.token, revoked.token, spare.token],
    };
    const requests = [
      ...namedEdges(operations, owner.token, eventId),
      ...fc.sample(requestArbitrary(targets), { seed, numRuns: GENERATED }),
    ];

    const before = await snapshot(db);
    const started = Date.now();
    const results = await sendAll(url, requests, CONCURRENCY);
    const seconds = (Date.now() - started) / 1000;
    const after = await snapshot(db);

    // First: a process that died explains every answer that follows.
    expect(isRunning(server), server.output().slice(-3000)).toBe(true);
    const failures = failuresByKind(results);
    expect(failures, `seed ${seed}: bad answers by kind, one example each`).toEqual([]);
    expect(unexplained(before, after, results), `seed ${seed}`).toEqual([]);
    expect(await findInvariantBreaches(db)).toEqual([]);
    const errorLines = server
      .output()
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line));
    expect(errorLines.slice(0, 5), `seed ${seed}`).toEqual([]);

    // Every declared route was reached, and got past access control at least once.
    const routes = new Set(results.map((r) => r.request.route).filter((route) => route !== 'unknown'));
    const pastAccess = new Set(
      results
        .filter((r) => r.outcome.kind === 'answer' && ![401, 403].includes(r.outcome.status))
        .map((r) => r.request.route),
    );
    const declared = operations.map((o) => `${o.method} ${o.path}`);
    const missed = declared.filter((route) => !pastAccess.has(route));
    expect(missed, `seed ${seed}`).toEqual([]);

    const writes = results.filter((r) => is2xx(r.outcome) && WRITES.has(r.request.method)).length;
    const raw = results.filter((r) => r.outcome.kind === 'answer' && !r.outcome.wellFormed).length;
    await recordScenario({
      id: 5,
      name: 'Generated requests (fast-check) over every route',
      load: `${results.length.toLocaleString('en-US')} requests, ${CONCURRENCY} at a time, in ${Math.round(seconds)} s`,
      faults:
        `${declared.length} declared routes (+ HEAD, unknown routes and methods); deep JSON (to 6,000 levels), wrong ` +
        'types, numbers past 2^53, 60 KB strings, bodies over 64 KiB, unicode and NUL, duplicated and odd headers, ' +
        `bad, revoked and foreign tokens, bad ids and cursors; ${raw.toLocaleString('en-US')} sent as raw bytes`,
      checked:
        'no 5xx; every error exactly {error, code}; X-Request-Id on every answer to well-formed HTTP; every changed ' +
        'row named by a 2xx answer; invariant; the process alive, no error-level log line',
      figures: `0 5xx, 0 bad bodies, ${routes.size} routes (with HEAD) + unknown ones, ${writes} accepted writes (all explained); ${histogram(results)}`,
    });
  });
});
