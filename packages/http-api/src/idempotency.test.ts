import { randomUUID } from 'node:crypto';
import { createPostgresIdempotencyStore } from '@ticketboss/adapters-postgres';
import { createManualClock } from '@ticketboss/domain/testing';
import type { LightMyRequestResponse } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from './plugins/idempotency.js';
import { TEST_ADMIN_TOKEN } from './testing/app-with-database.js';
import { useApiKeyApp } from './testing/v1-api.js';

/** Idempotency-Key on the routes that take one. The clock moves only when told (leases, retention). */
const clock = createManualClock();
const RETENTION_SECONDS = 3600;
const t = useApiKeyApp({ clock, idempotencyRetentionSeconds: RETENTION_SECONDS });
let acme: string;
let other: string;

beforeAll(async () => {
  acme = await t.createPartner('acme');
  other = await t.createPartner('other');
});

function post(url: string, token: string, payload: unknown, key?: string) {
  return t.app.inject({
    method: 'POST',
    url,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      ...(key === undefined ? {} : { 'idempotency-key': key }),
    },
    payload: JSON.stringify(payload),
  });
}

async function newEvent(totalSeats = 10): Promise<string> {
  const eventId = `idem-${randomUUID().slice(0, 8)}`;
  const response = await post('/v1/events', TEST_ADMIN_TOKEN, { eventId, name: 'Gig', totalSeats });
  expect(response.statusCode).toBe(201);
  return eventId;
}

const reserve = (eventId: string, payload: unknown, key?: string, token = acme) =>
  post(`/v1/events/${eventId}/reservations`, token, payload, key);

async function reservationsOf(eventId: string) {
  return t.database.db.selectFrom('reservations').selectAll().where('event_id', '=', eventId).execute();
}

async function availableSeats(eventId: string): Promise<number> {
  const response = await t.app.inject({ url: `/v1/events/${eventId}`, headers: { authorization: `Bearer ${acme}` } });
  return response.json<{ availableSeats: number }>().availableSeats;
}

const answer = (response: LightMyRequestResponse) => ({
  status: response.statusCode,
  body: response.body,
  replayed: response.headers['idempotent-replayed'],
});

describe('Idempotency-Key', () => {
  it('20 parallel POSTs with one key over real connections: one reservation; then retries replay it', async () => {
    const eventId = await newEvent(50);
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const key = randomUUID();
    const send = () =>
      fetch(`${address}/v1/events/${eventId}/reservations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${acme}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ seats: 3 }),
      });
    const answers = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const response = await send();
        return {
          status: response.status,
          body: await response.text(),
          retryAfter: response.headers.get('retry-after'),
          replayed: response.headers.get('idempotent-replayed'),
        };
      }),
    );
    const rows = await reservationsOf(eventId);
    expect(rows).toHaveLength(1);
    expect(await availableSeats(eventId)).toBe(47);
    const created = answers.filter((a) => a.status === 201);
    const inUse = answers.filter((a) => a.status === 409);
    expect(created.length + inUse.length).toBe(20);
    expect(created.length).toBeGreaterThanOrEqual(1);
    const stored = created[0]!.body;
    expect(JSON.parse(stored)).toMatchObject({ reservationId: rows[0]!.reservation_id, seats: 3, status: 'confirmed' });
    for (const a of created) expect(a.body).toBe(stored);
    for (const a of inUse) {
      expect(JSON.parse(a.body)).toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE' });
      expect(a.retryAfter).toMatch(/^[1-9]\d*$/);
    }
    // Only the one that decided is fresh; the others that got 201 are replays.
    expect(created.filter((a) => a.replayed === null)).toHaveLength(1);

    for (let i = 0; i < 5; i += 1) {
      const retry = await send();
      expect(retry.status).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(await retry.text()).toBe(stored);
    }
    expect(await reservationsOf(eventId)).toHaveLength(1);
    expect(await availableSeats(eventId)).toBe(47);
  });

  it('accepts a quoted key as the same key, and refuses a different body under a used key with 422', async () => {
    const eventId = await newEvent();
    const first = await reserve(eventId, { seats: 2 }, 'order-1');
    expect(first.statusCode).toBe(201);
    expect(answer(await reserve(eventId, { seats: 2 }, '"order-1"'))).toEqual({ ...answer(first), replayed: 'true' });
    const reused = await reserve(eventId, { seats: 3 }, 'order-1');
    expect(reused.statusCode).toBe(422);
    expect(reused.json()).toEqual({
      error: 'This Idempotency-Key was used with a different request; use a new key for a new request',
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
    // The same key on another event is another request too.
    expect((await reserve(await newEvent(), { seats: 2 }, 'order-1')).statusCode).toBe(422);
    expect(await reservationsOf(eventId)).toHaveLength(1);
  });

  it("is scoped to the partner: another partner's same key is independent", async () => {
    const eventId = await newEvent();
    const mine = await reserve(eventId, { seats: 1 }, 'shared-key');
    const theirs = await reserve(eventId, { seats: 1 }, 'shared-key', other);
    expect([mine.statusCode, theirs.statusCode]).toEqual([201, 201]);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(theirs.json<{ reservationId: string }>().reservationId).not.toBe(
      mine.json<{ reservationId: string }>().reservationId,
    );
    expect(await reservationsOf(eventId)).toHaveLength(2);
  });

  it('keeps no answer that decided nothing (400, 404, 401): the retry is a fresh attempt', async () => {
    const eventId = await newEvent(10);
    const bad = await reserve(eventId, { seats: 11 }, 'fix-and-retry');
    expect(bad.statusCode).toBe(400);
    expect((await reserve(eventId, { seats: 2 }, 'fix-and-retry')).statusCode).toBe(201);

    const noEvent = await reserve('no-such-event', { seats: 1 }, 'early');
    expect(noEvent.statusCode).toBe(404);
    expect((await reserve(eventId, { seats: 1 }, 'early')).statusCode).toBe(201);

    const unauthorised = await post(`/v1/events/${eventId}/reservations`, 'tb_wrong', { seats: 1 }, 'unauth');
    expect(unauthorised.statusCode).toBe(401);
    expect((await reserve(eventId, { seats: 1 }, 'unauth')).statusCode).toBe(201);
    expect(await reservationsOf(eventId)).toHaveLength(3);
  });

  it('keeps a refusal on the seats: the retry gets the same 409 even once seats are back', async () => {
    const eventId = await newEvent(2);
    const taken = await reserve(eventId, { seats: 2 });
    const refused = await reserve(eventId, { seats: 2 }, 'too-late');
    expect(refused.statusCode).toBe(409);
    const id = taken.json<{ reservationId: string }>().reservationId;
    const cancel = await t.app.inject({
      method: 'DELETE',
      url: `/v1/reservations/${id}`,
      headers: { authorization: `Bearer ${acme}` },
    });
    expect(cancel.statusCode).toBe(204);
    expect(answer(await reserve(eventId, { seats: 2 }, 'too-late'))).toEqual({ ...answer(refused), replayed: 'true' });
  });

  it('refuses a key that is empty, longer than 255 characters or holds control characters, with 400 naming the header', async () => {
    const eventId = await newEvent();
    for (const key of ['', '""', 'k'.repeat(256), 'a\u0001b']) {
      const response = await reserve(eventId, { seats: 1 }, key);
      expect({ status: response.statusCode, body: response.json() }).toEqual({
        status: 400,
        body: {
          error: 'Idempotency-Key must be 1 to 255 characters, bare or in double quotes',
          code: 'VALIDATION_ERROR',
        },
      });
    }
    expect((await reserve(eventId, { seats: 1 }, 'k'.repeat(255))).statusCode).toBe(201);
    expect(await reservationsOf(eventId)).toHaveLength(1);
  });

  it('a hold and its confirm, each retried: one hold, one confirmation, the same answers', async () => {
    const eventId = await newEvent();
    const held = await reserve(eventId, { seats: 2, holdSeconds: 60 }, 'hold-1');
    expect(answer(await reserve(eventId, { seats: 2, holdSeconds: 60 }, 'hold-1'))).toEqual({
      ...answer(held),
      replayed: 'true',
    });
    const { reservationId } = held.json<{ reservationId: string }>();
    const confirmUrl = `/v1/reservations/${reservationId}/confirm`;
    const confirmed = await post(confirmUrl, acme, {}, 'confirm-1');
    expect(confirmed.statusCode).toBe(200);
    expect(answer(await post(confirmUrl, acme, {}, 'confirm-1'))).toEqual({ ...answer(confirmed), replayed: 'true' });
    const version = (await t.app.inject({ url: `/v1/events/${eventId}`, headers: { authorization: `Bearer ${acme}` } }))
      .headers.etag;
    expect(version).toBe('"2"'); // the hold and its confirmation: nothing else
  });

  it('a 410 for an expired hold is kept too', async () => {
    const eventId = await newEvent();
    const { reservationId } = (await reserve(eventId, { seats: 1, holdSeconds: 1 })).json<{ reservationId: string }>();
    clock.advance(1000);
    const expired = await post(`/v1/reservations/${reservationId}/confirm`, acme, {}, 'late');
    expect(expired.statusCode).toBe(410);
    expect(answer(await post(`/v1/reservations/${reservationId}/confirm`, acme, {}, 'late'))).toEqual({
      ...answer(expired),
      replayed: 'true',
    });
  });

  it('works on the classic POST /reservations', async () => {
    const first = await post('/reservations', acme, { seats: 1 }, 'seed-1');
    expect(first.statusCode).toBe(201);
    expect(Object.keys(first.json()).sort()).toEqual(['reservationId', 'seats', 'status']);
    expect(answer(await post('/reservations', acme, { seats: 1 }, 'seed-1'))).toEqual({
      ...answer(first),
      replayed: 'true',
    });
    expect((await post('/reservations', acme, { seats: 2 }, 'seed-1')).statusCode).toBe(422);
  });

  it("a key whose holder died is taken over once its lease runs out; the holder's late commit then applies nothing", async () => {
    const eventId = await newEvent();
    // A request that claimed the key and then died (its process killed) before deciding.
    const store = createPostgresIdempotencyStore(t.database.db);
    const route = 'POST /v1/events/:eventId/reservations';
    const fingerprintSource = await reserve(eventId, { seats: 1 }, 'probe');
    expect(fingerprintSource.statusCode).toBe(201);
    const { fingerprint } = await t.database.db
      .selectFrom('idempotency_keys')
      .select('fingerprint')
      .where('idem_key', '=', 'probe')
      .executeTakeFirstOrThrow();
    const dead = await store.claim({ partnerId: 'acme', route, key: 'orphan' }, fingerprint, {
      now: clock.now(),
      leaseMs: 5000,
      retentionMs: RETENTION_SECONDS * 1000,
    });
    expect(dead.kind).toBe('claimed');

    const inFlight = await reserve(eventId, { seats: 1 }, 'orphan');
    expect(inFlight.statusCode).toBe(409);
    expect(inFlight.headers['retry-after']).toBe('5');
    clock.advance(5000);
    const takenOver = await reserve(eventId, { seats: 1 }, 'orphan');
    expect(takenOver.statusCode).toBe(201);
    expect(takenOver.headers['idempotent-replayed']).toBeUndefined();

    // The dead holder's commit, had it come back, would find its claim gone and apply nothing.
    if (dead.kind !== 'claimed') throw new Error('unreachable');
    const late = await t.services.reservations.reserveSeats({
      eventId,
      partnerId: 'acme',
      seats: 1,
      receipt: { claim: dead.claim, render: () => ({ code: 201, text: '{}' }) },
    });
    expect(late).toEqual({ kind: 'claim_lost' });
    expect(await reservationsOf(eventId)).toHaveLength(2);
  });

  it('forgets a key after the retention: the same key is then a new request', async () => {
    const eventId = await newEvent();
    const first = await reserve(eventId, { seats: 1 }, 'daily');
    clock.advance(RETENTION_SECONDS * 1000 - 1);
    expect((await reserve(eventId, { seats: 1 }, 'daily')).headers['idempotent-replayed']).toBe('true');
    clock.advance(1);
    const again = await reserve(eventId, { seats: 1 }, 'daily');
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(again.body).not.toBe(first.body);
    // The sweeper's purge deletes what is past the retention, and nothing younger.
    await reserve(eventId, { seats: 1 }, 'older');
    clock.advance(RETENTION_SECONDS * 1000 + 1);
    expect(await t.services.idempotency.purge()).toBeGreaterThanOrEqual(2);
    const left = await t.database.db.selectFrom('idempotency_keys').select('idem_key').execute();
    expect(left.map((row) => row.idem_key)).not.toContain('older');
  });

  it('answers a body nested thousands deep under a key as it does without one, never 500', async () => {
    const eventId = await newEvent();
    const raw = (url: string, payload: string, key?: string) =>
      t.app.inject({
        method: 'POST',
        url,
        headers: {
          authorization: `Bearer ${acme}`,
          'content-type': 'application/json',
          ...(key === undefined ? {} : { 'idempotency-key': key }),
        },
        payload,
      });
    for (const depth of [4_000, 20_000]) {
      // An unknown field: the seed's route ignores it (as the seed did), /v1 refuses it.
      const body = `{"seats":1,"extra":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      expect(body.length).toBeLessThan(64 * 1024);
      const plain = await raw('/reservations', body);
      const keyed = await raw('/reservations', body, `deep-seed-${depth}`);
      const retried = await raw('/reservations', body, `deep-seed-${depth}`);
      expect([plain.statusCode, keyed.statusCode, retried.statusCode]).toEqual([201, 201, 201]);
      expect(retried.headers['idempotent-replayed']).toBe('true');
      expect(retried.body).toBe(keyed.body);
      const v1 = `/v1/events/${eventId}/reservations`;
      const refused = { error: 'extra cannot be set here', code: 'VALIDATION_ERROR' };
      expect([(await raw(v1, body)).json(), (await raw(v1, body, `deep-v1-${depth}`)).json()]).toEqual([
        refused,
        refused,
      ]);
    }
    expect(await reservationsOf(eventId)).toEqual([]);
  });

  it('fingerprints a body by the same canonical text as before, so that keys stored then still match', () => {
    const body = { seats: 2, b: [1, { d: null, c: 'é"' }], '': true, B: [[], {}] };
    expect(canonicalJson(body)).toBe('{"":true,"B":[[],{}],"b":[1,{"c":"é\\"","d":null}],"seats":2}');
    expect(canonicalJson(JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`))).toHaveLength(200_000);
  });

  it('answers a malformed body under a key with 400, never 500, and claims no key for it', async () => {
    const eventId = await newEvent();
    const deep = `${'['.repeat(20_000)}1${']'.repeat(20_000)}`;
    const response = await t.app.inject({
      method: 'POST',
      url: `/v1/events/${eventId}/reservations`,
      headers: { authorization: `Bearer ${acme}`, 'content-type': 'application/json', 'idempotency-key': 'deep' },
      payload: `{"seats":${deep}}`,
    });
    expect(response.statusCode).toBe(400);
    const { reservationId } = (await reserve(eventId, { seats: 1, holdSeconds: 60 })).json<{ reservationId: string }>();
    const confirm = await t.app.inject({
      method: 'POST',
      url: `/v1/reservations/${reservationId}/confirm`,
      headers: { authorization: `Bearer ${acme}`, 'content-type': 'application/json', 'idempotency-key': 'deep' },
      payload: `{"a":${deep}}`,
    });
    expect({ status: confirm.statusCode, body: confirm.json() }).toEqual({
      status: 400,
      body: { error: 'confirm takes no body: send none, or {}', code: 'VALIDATION_ERROR' },
    });
    const keys = await t.database.db
      .selectFrom('idempotency_keys')
      .select('idem_key')
      .where('idem_key', '=', 'deep')
      .execute();
    expect(keys).toEqual([]);
    expect((await post(`/v1/reservations/${reservationId}/confirm`, acme, {}, 'deep')).statusCode).toBe(200);
  });
});
