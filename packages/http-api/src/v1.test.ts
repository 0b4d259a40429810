import { createHash, randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyIssuer } from './api-keys.js';
import { createMemoryRateLimiter } from './rate-limit.js';
import { createAppWithDatabase, TEST_ADMIN_TOKEN, type AppWithDatabase } from './testing/app-with-database.js';

let t: AppWithDatabase;

beforeAll(async () => {
  t = await createAppWithDatabase({ seedAuth: 'api-key' });
});
afterEach(async () => {
  expect(await t.invariantBreaches()).toEqual([]);
});
afterAll(() => t.close());

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const admin = bearer(TEST_ADMIN_TOKEN);
const uniqueId = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;
const keyIdOf = (token: string) => apiKeyIssuer.keyIdOf(token)!;

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

function expectError(response: LightMyRequestResponse, status: number, code: string, error?: string | RegExp) {
  expect({ status: response.statusCode, code: response.json<{ code: string }>().code }).toEqual({ status, code });
  if (typeof error === 'string') expect(response.json<{ error: string }>().error).toBe(error);
  if (error instanceof RegExp) expect(response.json<{ error: string }>().error).toMatch(error);
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

describe('authentication', () => {
  it('answers 401 UNAUTHORIZED, with WWW-Authenticate, without a token, with a wrong one or a malformed header', async () => {
    for (const headers of [
      {},
      bearer('tb_aaaaaaaaaaaaaaaa_' + 'x'.repeat(43)),
      bearer('nonsense'),
      { authorization: TEST_ADMIN_TOKEN },
      { authorization: `Basic ${TEST_ADMIN_TOKEN}` },
    ]) {
      const response = await call('GET', '/v1/events', headers);
      expectError(response, 401, 'UNAUTHORIZED');
      expect(response.headers['www-authenticate']).toBe('Bearer realm="ticketboss"');
    }
  });

  it('answers 403 FORBIDDEN to a partner token on admin routes, and to the admin token on partner routes', async () => {
    const token = await t.createPartner(uniqueId('p'));
    expectError(await call('POST', '/v1/events', bearer(token), { name: 'X', totalSeats: 1 }), 403, 'FORBIDDEN');
    expectError(await call('POST', '/v1/partners', bearer(token), { partnerId: 'x', name: 'X' }), 403, 'FORBIDDEN');
    expectError(await call('PATCH', '/v1/events/node-meetup-2025', bearer(token), { name: 'X' }), 403, 'FORBIDDEN');
    expectError(await reserve(TEST_ADMIN_TOKEN, 'node-meetup-2025', 1), 403, 'FORBIDDEN');
  });

  it('without TICKETBOSS_ADMIN_TOKEN, the admin routes answer 401 to everyone', async () => {
    const other = await createAppWithDatabase({ database: t.database, adminToken: null });
    try {
      const response = await call('POST', '/v1/partners', admin, { partnerId: 'nobody', name: 'N' }, other.app);
      expectError(response, 401, 'UNAUTHORIZED');
      const token = await t.createPartner(uniqueId('no-admin'));
      expectError(
        await call('POST', '/v1/events', bearer(token), { name: 'X', totalSeats: 1 }, other.app),
        401,
        'UNAUTHORIZED',
      );
      expect((await call('GET', '/v1/events', bearer(token), undefined, other.app)).statusCode).toBe(200);
    } finally {
      await other.close();
    }
  });
});

describe('POST /v1/partners and keys', () => {
  it('creates a partner and answers its key once; the key works; the id cannot be taken twice', async () => {
    const partnerId = uniqueId('acme');
    const response = await call('POST', '/v1/partners', admin, { partnerId, name: 'Acme Tickets' });
    expect(response.statusCode).toBe(201);
    const body = response.json<{ apiKey: { id: string; token: string; prefix: string } }>();
    expect(body).toEqual({
      partnerId,
      name: 'Acme Tickets',
      apiKey: {
        id: expect.stringMatching(/^[a-z0-9]{16}$/),
        partnerId,
        prefix: `tb_${body.apiKey.id}_`,
        token: expect.stringMatching(/^tb_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/),
        createdAt: expect.any(String),
      },
    });
    expect(body.apiKey.token.startsWith(body.apiKey.prefix)).toBe(true);
    expect((await call('GET', '/v1/events', bearer(body.apiKey.token))).statusCode).toBe(200);
    expectError(await call('POST', '/v1/partners', admin, { partnerId, name: 'Again' }), 409, 'PARTNER_ALREADY_EXISTS');
  });

  it('stores only a hash of the token', async () => {
    const partnerId = uniqueId('hash');
    const token = await t.createPartner(partnerId);
    const rows = await t.database.db.selectFrom('api_keys').selectAll().where('partner_id', '=', partnerId).execute();
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(Buffer.from(row!.token_hash).equals(createHash('sha256').update(token).digest())).toBe(true);
    expect(row!.key_id).toBe(keyIdOf(token));
    // No column holds the token's secret part in any form.
    const secret = token.slice(token.lastIndexOf('_') + 1);
    for (const value of Object.values(row!)) expect(String(value)).not.toContain(secret);
  });

  it.each([
    [{ partnerId: 'has space', name: 'X' }, /^partnerId must be/],
    [{ partnerId: '', name: 'X' }, /^partnerId must be/],
    [{ partnerId: 'a'.repeat(65), name: 'X' }, /^partnerId must be/],
    [{ name: 'X' }, 'partnerId is required'],
    [{ partnerId: 'ok-id', name: '' }, /^name must be/],
    [{ partnerId: 'ok-id', name: '   ' }, /^name must be/],
    [{ partnerId: 'ok-id' }, 'name is required'],
  ])('refuses %j with 400 naming the field', async (payload, message) => {
    expectError(await call('POST', '/v1/partners', admin, payload), 400, 'VALIDATION_ERROR', message);
  });

  it('rotates: a new key works alongside the old until the old is revoked, which stops it at once', async () => {
    const partnerId = uniqueId('rot');
    const oldToken = await t.createPartner(partnerId);
    const issued = await call('POST', `/v1/partners/${partnerId}/keys`, admin);
    expect(issued.statusCode).toBe(201);
    const { id: newId, token: newToken } = issued.json<{ id: string; token: string }>();
    expect(newToken).not.toBe(oldToken);
    for (const token of [oldToken, newToken])
      expect((await call('GET', '/v1/events', bearer(token))).statusCode).toBe(200);

    const oldId = keyIdOf(oldToken);
    const revoked = await call('DELETE', `/v1/partners/${partnerId}/keys/${oldId}`, admin);
    expect(revoked.statusCode).toBe(204);
    expect(revoked.body).toBe('');
    expectError(await call('GET', '/v1/events', bearer(oldToken)), 401, 'UNAUTHORIZED');
    expect((await call('GET', '/v1/events', bearer(newToken))).statusCode).toBe(200);
    // Revoking again changes nothing and says so the same way.
    expect((await call('DELETE', `/v1/partners/${partnerId}/keys/${oldId}`, admin)).statusCode).toBe(204);
    expect(newId).not.toBe(oldId);
  });

  it('a revocation holds at once in another instance with its own pool (another process)', async () => {
    const other = await createAppWithDatabase({ database: t.database });
    try {
      const partnerId = uniqueId('two');
      const token = await t.createPartner(partnerId);
      expect((await call('GET', '/v1/events', bearer(token), undefined, other.app)).statusCode).toBe(200);
      const keyId = keyIdOf(token);
      expect((await call('DELETE', `/v1/partners/${partnerId}/keys/${keyId}`, admin)).statusCode).toBe(204);
      expectError(await call('GET', '/v1/events', bearer(token), undefined, other.app), 401, 'UNAUTHORIZED');
    } finally {
      await other.close();
    }
  });

  it("answers 404 for an unknown partner's keys, an unknown key, or another partner's key", async () => {
    const [a, b] = [uniqueId('a'), uniqueId('b')];
    const tokenA = await t.createPartner(a);
    await t.createPartner(b);
    const keyA = keyIdOf(tokenA);
    expectError(await call('POST', '/v1/partners/nobody-here/keys', admin), 404, 'PARTNER_NOT_FOUND');
    expectError(await call('DELETE', `/v1/partners/${a}/keys/unknownkey000000`, admin), 404, 'API_KEY_NOT_FOUND');
    expectError(await call('DELETE', `/v1/partners/${b}/keys/${keyA}`, admin), 404, 'API_KEY_NOT_FOUND');
    expectError(await call('DELETE', `/v1/partners/%00/keys/${keyA}`, admin), 404, 'API_KEY_NOT_FOUND');
    expectError(await call('DELETE', `/v1/partners/${a}/keys/%00`, admin), 404, 'API_KEY_NOT_FOUND');
    expectError(await call('POST', '/v1/partners/%00/keys', admin), 404, 'PARTNER_NOT_FOUND');
    expect((await call('GET', '/v1/events', bearer(tokenA))).statusCode).toBe(200);
  });
});

describe('events', () => {
  it('creates an event with a generated id and the default limit of 10 seats per reservation', async () => {
    const response = await call('POST', '/v1/events', admin, { name: 'Jazz night', totalSeats: 120 });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toEqual({
      eventId: expect.stringMatching(UUID),
      name: 'Jazz night',
      totalSeats: 120,
      availableSeats: 120,
      reservedSeats: 0,
      heldSeats: 0,
      reservationCount: 0,
      maxSeatsPerReservation: 10,
      version: 0,
    });
    expect(response.headers.etag).toBe('"0"');
  });

  it('creates an event with the given id once; a second create answers 409', async () => {
    const eventId = uniqueId('given');
    const body = { eventId, name: 'Gig', totalSeats: 5, maxSeatsPerReservation: 2 };
    expect((await call('POST', '/v1/events', admin, body)).json()).toMatchObject({
      eventId,
      maxSeatsPerReservation: 2,
    });
    expectError(await call('POST', '/v1/events', admin, body), 409, 'EVENT_ALREADY_EXISTS');
  });

  it.each([
    [{ eventId: 'Upper', name: 'X', totalSeats: 1 }, /^eventId must be/],
    [{ eventId: '-dash', name: 'X', totalSeats: 1 }, /^eventId must be/],
    [{ eventId: 'a'.repeat(65), name: 'X', totalSeats: 1 }, /^eventId must be/],
    [{ name: 'X' }, 'totalSeats is required'],
    [{ name: 'X', totalSeats: -1 }, /^totalSeats must be/],
    [{ name: 'X', totalSeats: '5' }, /^totalSeats must be/],
    [{ name: 'X', totalSeats: 5, maxSeatsPerReservation: 0 }, /^maxSeatsPerReservation must be/],
    [{ name: 'X', totalSeats: 5, maxSeatsPerReservation: 1001 }, /^maxSeatsPerReservation must be/],
    [{ totalSeats: 5 }, 'name is required'],
    [{ name: ' ', totalSeats: 5 }, /^name must be/],
    [{ name: 'X', totalSeats: 5, seats: 5 }, 'seats cannot be set here'],
  ])('refuses %j with 400 naming the field', async (payload, message) => {
    expectError(await call('POST', '/v1/events', admin, payload), 400, 'VALIDATION_ERROR', message);
  });

  it('lets the admin and partners read events; the single one carries its version as ETag', async () => {
    const eventId = await newEvent();
    const token = await t.createPartner(uniqueId('reader'));
    for (const headers of [admin, bearer(token)]) {
      const one = await call('GET', `/v1/events/${eventId}`, headers);
      expect(one.statusCode).toBe(200);
      expect(one.headers.etag).toBe('"0"');
      expect(one.json()).toMatchObject({ eventId, totalSeats: 20, availableSeats: 20 });
    }
    expectError(await call('GET', '/v1/events/no-such-event', admin), 404, 'EVENT_NOT_FOUND');
    expectError(await call('GET', '/v1/events/Not_An_Id', admin), 404, 'EVENT_NOT_FOUND');
  });

  it('lists every event once across pages, in id order', async () => {
    await Promise.all([newEvent(), newEvent(), newEvent()]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : '';
      const response = await call('GET', `/v1/events?limit=2${query}`, admin);
      expect(response.statusCode).toBe(200);
      const page = response.json<{ items: { eventId: string }[]; nextCursor: string | null }>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((e) => e.eventId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toContain('node-meetup-2025');
  });

  it('PATCH renames and resizes, keeping reserved seats, and honours If-Match', async () => {
    const eventId = await newEvent(10);
    const token = await t.createPartner(uniqueId('patch'));
    await reserved(token, eventId, 4);
    const renamed = await call('PATCH', `/v1/events/${eventId}`, { ...admin, 'if-match': '"1"' }, { name: 'New name' });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.headers.etag).toBe('"2"');
    expect(renamed.json()).toMatchObject({ name: 'New name', totalSeats: 10, availableSeats: 6, version: 2 });

    expectError(
      await call('PATCH', `/v1/events/${eventId}`, { ...admin, 'if-match': '"1"' }, { totalSeats: 30 }),
      412,
      'PRECONDITION_FAILED',
    );
    for (const ifMatch of ['garbage', 'W/"2"', '"1", "2"', '']) {
      expectError(
        await call('PATCH', `/v1/events/${eventId}`, { ...admin, 'if-match': ifMatch }, { totalSeats: 30 }),
        412,
        'PRECONDITION_FAILED',
      );
    }
    const grown = await call('PATCH', `/v1/events/${eventId}`, { ...admin, 'if-match': '"2"' }, { totalSeats: 30 });
    expect(grown.json()).toMatchObject({ totalSeats: 30, availableSeats: 26, reservedSeats: 4, version: 3 });
    expectError(
      await call('PATCH', `/v1/events/${eventId}`, admin, { totalSeats: 3 }),
      409,
      'SEATS_BELOW_RESERVED',
      'totalSeats cannot be below the 4 seats already reserved',
    );
    expect((await call('PATCH', `/v1/events/${eventId}`, admin, { totalSeats: 4 })).json()).toMatchObject({
      availableSeats: 0,
    });
    expect(await summary(eventId)).toMatchObject({ name: 'New name', totalSeats: 4, availableSeats: 0, version: 4 });
  });

  it('PATCH refuses an empty change, fields it cannot change, and unknown events', async () => {
    const eventId = await newEvent();
    expectError(await call('PATCH', `/v1/events/${eventId}`, admin, {}), 400, 'VALIDATION_ERROR', /name or totalSeats/);
    expectError(
      await call('PATCH', `/v1/events/${eventId}`, admin, { maxSeatsPerReservation: 3 }),
      400,
      'VALIDATION_ERROR',
      'maxSeatsPerReservation cannot be set here',
    );
    expectError(await call('PATCH', `/v1/events/${eventId}`, admin, { totalSeats: -5 }), 400, 'VALIDATION_ERROR');
    expectError(await call('PATCH', '/v1/events/missing-event', admin, { name: 'X' }), 404, 'EVENT_NOT_FOUND');
    expect(await summary(eventId)).toMatchObject({ version: 0, name: 'Gig' });
  });
});

describe('partner reservations', () => {
  it("reserves with the key: 201 with the whole reservation, the partner being the key's", async () => {
    const partnerId = uniqueId('res');
    const token = await t.createPartner(partnerId);
    const eventId = await newEvent();
    const response = await reserve(token, eventId, 3);
    expect(response.statusCode).toBe(201);
    expect(response.json()).toEqual({
      reservationId: expect.stringMatching(UUID),
      eventId,
      partnerId,
      seats: 3,
      status: 'confirmed',
      createdAt: expect.any(String),
    });
    expect(await summary(eventId)).toMatchObject({ availableSeats: 17, reservedSeats: 3, version: 1 });
  });

  it("applies the event's own limit per reservation, naming it", async () => {
    const token = await t.createPartner(uniqueId('lim'));
    const small = await newEvent(50, 4);
    const large = await newEvent(50, 25);
    expectError(await reserve(token, small, 5), 400, 'VALIDATION_ERROR', 'seats must be between 1 and 4');
    expect((await reserve(token, large, 25)).statusCode).toBe(201);
    expectError(await reserve(token, large, 26), 400, 'VALIDATION_ERROR', 'seats must be between 1 and 25');
    for (const seats of [0, -1, 2.5, '3', null, 1e300]) {
      expectError(
        await reserve(token, large, seats as number),
        400,
        'VALIDATION_ERROR',
        'seats must be between 1 and 25',
      );
    }
    expectError(
      await call('POST', `/v1/events/${large}/reservations`, bearer(token), { seats: 1, partnerId: 'someone-else' }),
      400,
      'VALIDATION_ERROR',
      'partnerId cannot be set here',
    );
    expectError(await reserve(token, 'no-such-event', 0), 404, 'EVENT_NOT_FOUND');
    expectError(
      await call('POST', `/v1/events/${large}/reservations`, bearer(token), {}),
      400,
      'VALIDATION_ERROR',
      'seats is required',
    );
    expect(await summary(small)).toMatchObject({ availableSeats: 50, version: 0 });
  });

  it('answers 404 for an unknown event and 409 when the seats do not fit', async () => {
    const token = await t.createPartner(uniqueId('fit'));
    expectError(await reserve(token, 'no-such-event', 1), 404, 'EVENT_NOT_FOUND');
    const eventId = await newEvent(3);
    expectError(await reserve(token, eventId, 4), 409, 'INSUFFICIENT_SEATS', 'Not enough seats left');
    expect((await reserve(token, eventId, 3)).statusCode).toBe(201);
  });

  it("reads and cancels its own reservations; another partner's answer exactly as a missing one, and stay", async () => {
    const [mine, theirs] = [await t.createPartner(uniqueId('mine')), await t.createPartner(uniqueId('theirs'))];
    const eventId = await newEvent();
    const id = await reserved(mine, eventId, 2);
    const missing = randomUUID();

    const own = await call('GET', `/v1/reservations/${id}`, bearer(mine));
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ reservationId: id, eventId, seats: 2, status: 'confirmed' });

    const notTheirs = await call('GET', `/v1/reservations/${id}`, bearer(theirs));
    const notAnyone = await call('GET', `/v1/reservations/${missing}`, bearer(theirs));
    expectError(notTheirs, 404, 'RESERVATION_NOT_FOUND', 'Reservation not found');
    expect(notTheirs.body).toBe(notAnyone.body);
    expectError(await call('GET', '/v1/reservations/not-a-uuid', bearer(mine)), 404, 'RESERVATION_NOT_FOUND');

    const cancelTheirs = await call('DELETE', `/v1/reservations/${id}`, bearer(theirs));
    expect(cancelTheirs.body).toBe((await call('DELETE', `/v1/reservations/${missing}`, bearer(theirs))).body);
    expectError(cancelTheirs, 404, 'RESERVATION_NOT_FOUND');
    expect(await summary(eventId)).toMatchObject({ availableSeats: 18, reservationCount: 1, version: 1 });
    const listTheirs = await call('GET', `/v1/events/${eventId}/reservations`, bearer(theirs));
    expect(listTheirs.json()).toEqual({ items: [], nextCursor: null });

    const cancelled = await call('DELETE', `/v1/reservations/${id}`, bearer(mine));
    expect(cancelled.statusCode).toBe(204);
    expect(cancelled.body).toBe('');
    expectError(
      await call('DELETE', `/v1/reservations/${id}`, bearer(mine)),
      404,
      'RESERVATION_ALREADY_CANCELLED',
      'Reservation already cancelled',
    );
    expect((await call('GET', `/v1/reservations/${id}`, bearer(mine))).json()).toMatchObject({ status: 'cancelled' });
    expect(await summary(eventId)).toMatchObject({ availableSeats: 20, reservationCount: 0, version: 2 });
  });

  it('lists its own reservations with a status filter, and validates limit, status and cursor', async () => {
    const [mine, theirs] = [await t.createPartner(uniqueId('list')), await t.createPartner(uniqueId('other'))];
    const eventId = await newEvent();
    const ids = [await reserved(mine, eventId, 1), await reserved(mine, eventId, 1), await reserved(mine, eventId, 1)];
    await reserved(theirs, eventId, 1);
    await call('DELETE', `/v1/reservations/${ids[1]}`, bearer(mine));
    const list = async (query: string) =>
      (await call('GET', `/v1/events/${eventId}/reservations${query}`, bearer(mine))).json<{
        items: { reservationId: string; status: string }[];
      }>();
    expect((await list('')).items.map((r) => r.reservationId)).toEqual(ids);
    expect((await list('?status=confirmed')).items.map((r) => r.reservationId)).toEqual([ids[0], ids[2]]);
    expect((await list('?status=cancelled')).items.map((r) => r.reservationId)).toEqual([ids[1]]);

    const url = `/v1/events/${eventId}/reservations`;
    for (const query of ['?limit=0', '?limit=101', '?limit=abc', '?limit=1.5']) {
      expectError(await call('GET', url + query, bearer(mine)), 400, 'VALIDATION_ERROR', /^limit must be/);
    }
    expectError(await call('GET', `${url}?status=active`, bearer(mine)), 400, 'VALIDATION_ERROR', /^status must be/);
    const cursorOf = (text: string) => Buffer.from(text).toString('base64url');
    for (const cursor of [
      'bm9wZQ',
      '!!!',
      cursorOf(`99999999999999999|${ids[0]}`),
      cursorOf(`2025-13-01T00:00:00.000000|${ids[0]}`),
      cursorOf(`1|not-a-uuid`),
      cursorOf(`1|${ids[0]}|x`),
    ]) {
      expectError(
        await call('GET', `${url}?cursor=${cursor}`, bearer(mine)),
        400,
        'VALIDATION_ERROR',
        /^cursor is invalid/,
      );
    }
    expectError(await call('GET', '/v1/events/no-such-event/reservations', bearer(mine)), 404, 'EVENT_NOT_FOUND');
  });

  it('pagination walks every reservation exactly once while others are being added', async () => {
    const token = await t.createPartner(uniqueId('walk'));
    const eventId = await newEvent(1000, 1);
    const before = new Set<string>();
    for (let i = 0; i < 45; i += 1) before.add(await reserved(token, eventId, 1));

    let adding = true;
    const added: string[] = [];
    const writer = (async () => {
      while (adding) added.push(await reserved(token, eventId, 1));
    })();
    const seen: string[] = [];
    let cursor: string | null = null;
    try {
      do {
        const query: string = cursor ? `&cursor=${cursor}` : '';
        const response = await call('GET', `/v1/events/${eventId}/reservations?limit=7${query}`, bearer(token));
        expect(response.statusCode).toBe(200);
        const page = response.json<{ items: { reservationId: string }[]; nextCursor: string | null }>();
        seen.push(...page.items.map((r) => r.reservationId));
        cursor = page.nextCursor;
        await new Promise((resolve) => setImmediate(resolve));
      } while (cursor && seen.length < 10_000);
    } finally {
      adding = false;
      await writer;
    }
    expect(added.length).toBeGreaterThan(0);
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of before) expect(seen).toContain(id);
    for (const id of seen) expect(before.has(id) || added.includes(id)).toBe(true);
  });
});

describe('the classic routes with TICKETBOSS_AUTH=api-key', () => {
  it("POST needs a partner key; the partner is the key's; a different partnerId in the body answers 403", async () => {
    const partnerId = uniqueId('seed');
    const token = await t.createPartner(partnerId);
    expectError(await call('POST', '/reservations', {}, { partnerId, seats: 1 }), 401, 'UNAUTHORIZED');
    expectError(await call('POST', '/reservations', admin, { partnerId, seats: 1 }), 403, 'FORBIDDEN');
    expectError(
      await call('POST', '/reservations', bearer(token), { partnerId: 'someone-else', seats: 1 }),
      403,
      'FORBIDDEN',
    );
    const plain = await call('POST', '/reservations', bearer(token), { seats: 2 });
    expect(plain.statusCode).toBe(201);
    expect(plain.json()).toEqual({ reservationId: expect.stringMatching(UUID), seats: 2, status: 'confirmed' });
    expect((await call('POST', '/reservations', bearer(token), { partnerId, seats: 1 })).statusCode).toBe(201);
    const { reservationId } = plain.json<{ reservationId: string }>();
    expect((await call('GET', `/v1/reservations/${reservationId}`, bearer(token))).json()).toMatchObject({
      partnerId,
      eventId: 'node-meetup-2025',
    });
    expectError(
      await call('POST', '/reservations', bearer(token), { seats: 11 }),
      400,
      'VALIDATION_ERROR',
      'seats must be between 1 and 10',
    );
  });

  it("DELETE needs a partner key and cancels only the partner's own reservations", async () => {
    const [owner, other] = [await t.createPartner(uniqueId('own')), await t.createPartner(uniqueId('oth'))];
    const { reservationId } = (await call('POST', '/reservations', bearer(owner), { seats: 1 })).json<{
      reservationId: string;
    }>();
    expectError(await call('DELETE', `/reservations/${reservationId}`), 401, 'UNAUTHORIZED');
    expectError(await call('DELETE', `/reservations/${reservationId}`, bearer(other)), 404, 'RESERVATION_NOT_FOUND');
    expect((await call('DELETE', `/reservations/${reservationId}`, bearer(owner))).statusCode).toBe(204);
  });

  it('GET /reservations and GET /health stay open', async () => {
    expect((await call('GET', '/reservations')).statusCode).toBe(200);
    expect((await call('GET', '/health')).statusCode).toBe(200);
  });

  it('cancels through the classic route only reservations of the default event', async () => {
    const token = await t.createPartner(uniqueId('evt'));
    const id = await reserved(token, await newEvent(), 1);
    expectError(await call('DELETE', `/reservations/${id}`, bearer(token)), 404, 'RESERVATION_NOT_FOUND');
    expect((await call('DELETE', `/v1/reservations/${id}`, bearer(token))).statusCode).toBe(204);
  });
});

describe('rate limits', () => {
  let limited: AppWithDatabase;
  let now = 0;
  const policy = { perSecond: 1, burst: 3 };

  beforeAll(async () => {
    limited = await createAppWithDatabase({
      database: t.database,
      seedAuth: 'api-key',
      rateLimit: { policy, limiter: createMemoryRateLimiter(policy, () => now) },
    });
  });
  afterAll(() => limited.close());

  it('answers 429 RATE_LIMITED past the burst, with Retry-After and the draft RateLimit headers', async () => {
    const token = await t.createPartner(uniqueId('rl'));
    const responses = [];
    for (let i = 0; i < 4; i += 1)
      responses.push(await call('GET', '/v1/events', bearer(token), undefined, limited.app));
    expect(responses.map((r) => r.statusCode)).toEqual([200, 200, 200, 429]);
    expect(responses[0]!.headers['ratelimit-policy']).toBe('"per-key";q=3;w=3');
    expect(responses.map((r) => r.headers.ratelimit)).toEqual([
      '"per-key";r=2;t=1',
      '"per-key";r=1;t=2',
      '"per-key";r=0;t=3',
      // Refused: t is the wait until the next request fits, as Retry-After (the draft wants them to agree).
      '"per-key";r=0;t=1',
    ]);
    expectError(responses[3]!, 429, 'RATE_LIMITED');
    expect(responses[3]!.headers['retry-after']).toBe('1');
    expect(responses[2]!.headers['retry-after']).toBeUndefined();

    // Another partner's key has its own budget; the first gets one request back per second.
    const other = await t.createPartner(uniqueId('rl2'));
    expect((await call('GET', '/v1/events', bearer(other), undefined, limited.app)).statusCode).toBe(200);
    now += 1000;
    expect((await call('GET', '/v1/events', bearer(token), undefined, limited.app)).statusCode).toBe(200);
    expect((await call('GET', '/v1/events', bearer(token), undefined, limited.app)).statusCode).toBe(429);
  });

  it('counts requests without a valid key per client address, and never limits /health', async () => {
    now += 10_000;
    const statuses = [];
    for (let i = 0; i < 4; i += 1)
      statuses.push((await call('GET', '/reservations', {}, undefined, limited.app)).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429]);
    // A wrong token is no key: it is counted against the address.
    const bad = await call('GET', '/v1/events', bearer('wrong'), undefined, limited.app);
    expectError(bad, 429, 'RATE_LIMITED');
    expect(bad.headers.ratelimit).toBe('"per-address";r=0;t=1');
    for (let i = 0; i < 10; i += 1) {
      expect((await call('GET', '/health', {}, undefined, limited.app)).statusCode).toBe(200);
    }
  });
});
