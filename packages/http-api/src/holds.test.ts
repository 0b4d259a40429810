import { randomUUID } from 'node:crypto';
import { waitUntil } from '@ticketboss/adapters-postgres/testing';
import { createManualClock } from '@ticketboss/domain/testing';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAppWithDatabase, TEST_ADMIN_TOKEN, type AppWithDatabase } from './testing/app-with-database.js';

/** Holds and their expiry, on a clock the tests move: an expiry is decided to the millisecond. */
const clock = createManualClock();
let t: AppWithDatabase;
let acme: string;
let other: string;

beforeAll(async () => {
  t = await createAppWithDatabase({ seedAuth: 'api-key', clock });
  acme = await t.createPartner('acme');
  other = await t.createPartner('other');
});
afterEach(async () => {
  expect(await t.invariantBreaches()).toEqual([]);
});
afterAll(() => t.close());

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function call(method: 'GET' | 'POST' | 'DELETE', url: string, token: string, payload?: unknown) {
  return t.app.inject({
    method,
    url,
    headers: payload === undefined ? bearer(token) : { ...bearer(token), 'content-type': 'application/json' },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
}

function expectError(response: LightMyRequestResponse, status: number, code: string) {
  expect({ status: response.statusCode, code: response.json<{ code: string }>().code }).toEqual({ status, code });
}

async function newEvent(totalSeats = 10): Promise<string> {
  const eventId = `hold-${randomUUID().slice(0, 8)}`;
  const response = await call('POST', '/v1/events', TEST_ADMIN_TOKEN, { eventId, name: 'Gig', totalSeats });
  expect(response.statusCode).toBe(201);
  return eventId;
}

const hold = (eventId: string, seats: number, holdSeconds: number, token = acme) =>
  call('POST', `/v1/events/${eventId}/reservations`, token, { seats, holdSeconds });

async function summary(eventId: string) {
  const response = await call('GET', `/v1/events/${eventId}`, acme);
  expect(response.statusCode).toBe(200);
  return response.json<{
    availableSeats: number;
    heldSeats: number;
    reservedSeats: number;
    reservationCount: number;
  }>();
}

const seatsOf = async (eventId: string) => {
  const { availableSeats, heldSeats, reservedSeats, reservationCount } = await summary(eventId);
  return { availableSeats, heldSeats, reservedSeats, reservationCount };
};

describe('holds', () => {
  it('takes the seats at once and answers held with expiresAt; confirm keeps them, twice alike', async () => {
    const eventId = await newEvent();
    const response = await hold(eventId, 3, 600);
    expect(response.statusCode).toBe(201);
    const held = response.json<{ reservationId: string; createdAt: string; expiresAt: string }>();
    expect(held).toMatchObject({ eventId, partnerId: 'acme', seats: 3, status: 'held' });
    expect(Date.parse(held.expiresAt) - Date.parse(held.createdAt)).toBe(600_000);
    expect(await seatsOf(eventId)).toEqual({ availableSeats: 7, heldSeats: 3, reservedSeats: 0, reservationCount: 0 });

    const confirmed = await call('POST', `/v1/reservations/${held.reservationId}/confirm`, acme);
    expect(confirmed.statusCode).toBe(200);
    expect(confirmed.json()).toEqual({
      reservationId: held.reservationId,
      eventId,
      partnerId: 'acme',
      seats: 3,
      status: 'confirmed',
      createdAt: held.createdAt,
    });
    expect(await seatsOf(eventId)).toEqual({ availableSeats: 7, heldSeats: 0, reservedSeats: 3, reservationCount: 1 });
    const again = await call('POST', `/v1/reservations/${held.reservationId}/confirm`, acme);
    expect({ status: again.statusCode, body: again.body }).toEqual({ status: 200, body: confirmed.body });
    // Long after the hold would have expired, a confirmed reservation stays.
    clock.advance(3600_000);
    expect(await seatsOf(eventId)).toEqual({ availableSeats: 7, heldSeats: 0, reservedSeats: 3, reservationCount: 1 });
  });

  it('stops counting at expiresAt with no sweeper run: seats back, status expired, confirm 410', async () => {
    const eventId = await newEvent(4);
    const { reservationId } = (await hold(eventId, 4, 1)).json<{ reservationId: string }>();
    expect((await hold(eventId, 1, 1)).statusCode).toBe(409);
    clock.advance(999);
    expect(await seatsOf(eventId)).toMatchObject({ availableSeats: 0, heldSeats: 4 });
    expect((await call('POST', `/v1/events/${eventId}/reservations`, other, { seats: 1 })).statusCode).toBe(409);
    clock.advance(1);
    expect(await seatsOf(eventId)).toEqual({ availableSeats: 4, heldSeats: 0, reservedSeats: 0, reservationCount: 0 });
    expectError(await call('POST', `/v1/reservations/${reservationId}/confirm`, acme), 410, 'HOLD_EXPIRED');
    expect((await call('GET', `/v1/reservations/${reservationId}`, acme)).json()).toMatchObject({
      status: 'expired',
    });
    expectError(await call('DELETE', `/v1/reservations/${reservationId}`, acme), 410, 'HOLD_EXPIRED');
    // The seats are for anyone now: the first change marks the hold and returns its seats in the same commit.
    expect((await call('POST', `/v1/events/${eventId}/reservations`, other, { seats: 4 })).statusCode).toBe(201);
    expect(await seatsOf(eventId)).toEqual({ availableSeats: 0, heldSeats: 0, reservedSeats: 4, reservationCount: 1 });
    expect((await call('GET', `/v1/reservations/${reservationId}`, acme)).json()).toMatchObject({
      status: 'expired',
      expiresAt: expect.any(String),
    });
  });

  it('on the real clock: a 1-second hold counts until its expiresAt and not after, with no sweeper anywhere', async () => {
    const real = await createAppWithDatabase({ database: t.database, seedAuth: 'api-key' });
    try {
      const eventId = await newEvent(5);
      const get = (url: string) => real.app.inject({ url, headers: bearer(acme) });
      const made = await real.app.inject({
        method: 'POST',
        url: `/v1/events/${eventId}/reservations`,
        headers: { ...bearer(acme), 'content-type': 'application/json' },
        payload: JSON.stringify({ seats: 5, holdSeconds: 1 }),
      });
      const { reservationId, expiresAt } = made.json<{ reservationId: string; expiresAt: string }>();
      // The API runs on this process's clock: a read that ended before expiresAt must count the hold. (On a
      // machine so loaded that the read ended later, only the checks after expiry below stand.)
      const read = await get(`/v1/events/${eventId}`);
      if (Date.now() < Date.parse(expiresAt)) {
        expect(read.json()).toMatchObject({ availableSeats: 0, heldSeats: 5 });
      }
      await waitUntil(() => Date.now() > Date.parse(expiresAt), 'the hold to reach its expiresAt', { everyMs: 5 });
      expect((await get(`/v1/events/${eventId}`)).json()).toMatchObject({ availableSeats: 5, heldSeats: 0 });
      const confirm = await real.app.inject({
        method: 'POST',
        url: `/v1/reservations/${reservationId}/confirm`,
        headers: bearer(acme),
      });
      expectError(confirm, 410, 'HOLD_EXPIRED');
      const row = await t.database.db
        .selectFrom('reservations')
        .select('status')
        .where('reservation_id', '=', reservationId)
        .executeTakeFirstOrThrow();
      expect(row.status).toBe('held'); // no sweeper ran: the row is unmarked, and yet nothing counts it
    } finally {
      await real.close();
    }
  });

  it('cancelling a live hold returns its seats, like cancelling a confirmed reservation', async () => {
    const eventId = await newEvent();
    const { reservationId } = (await hold(eventId, 2, 60)).json<{ reservationId: string }>();
    expect((await call('DELETE', `/v1/reservations/${reservationId}`, acme)).statusCode).toBe(204);
    expect(await seatsOf(eventId)).toEqual({ availableSeats: 10, heldSeats: 0, reservedSeats: 0, reservationCount: 0 });
    expectError(await call('POST', `/v1/reservations/${reservationId}/confirm`, acme), 409, 'RESERVATION_CANCELLED');
    expectError(await call('DELETE', `/v1/reservations/${reservationId}`, acme), 404, 'RESERVATION_ALREADY_CANCELLED');
  });

  it("another partner's hold cannot be confirmed: 404, as a missing one", async () => {
    const eventId = await newEvent();
    const { reservationId } = (await hold(eventId, 2, 60)).json<{ reservationId: string }>();
    const theirs = await call('POST', `/v1/reservations/${reservationId}/confirm`, other);
    const missing = await call('POST', `/v1/reservations/${randomUUID()}/confirm`, other);
    expectError(theirs, 404, 'RESERVATION_NOT_FOUND');
    expect(theirs.body).toBe(missing.body);
    expect((await call('GET', `/v1/reservations/${reservationId}`, acme)).json()).toMatchObject({ status: 'held' });
  });

  it('lists by each status, a hold past its expiry as expired', async () => {
    const eventId = await newEvent();
    const ids: Record<string, string> = {};
    const idOf = (response: LightMyRequestResponse) => response.json<{ reservationId: string }>().reservationId;
    ids.confirmed = idOf(await call('POST', `/v1/events/${eventId}/reservations`, acme, { seats: 1 }));
    ids.cancelled = idOf(await call('POST', `/v1/events/${eventId}/reservations`, acme, { seats: 1 }));
    await call('DELETE', `/v1/reservations/${ids.cancelled}`, acme);
    ids.expired = idOf(await hold(eventId, 1, 5));
    clock.advance(5000);
    ids.held = idOf(await hold(eventId, 1, 5));
    for (const status of ['held', 'confirmed', 'cancelled', 'expired']) {
      const page = (await call('GET', `/v1/events/${eventId}/reservations?status=${status}`, acme)).json<{
        items: { reservationId: string; status: string }[];
      }>();
      expect(page.items.map((r) => [r.reservationId, r.status])).toEqual([[ids[status], status]]);
    }
  });

  it('PATCH counts live holds as taken and expired ones as free, and marks those expired', async () => {
    const eventId = await newEvent(10);
    expect((await hold(eventId, 4, 60)).statusCode).toBe(201);
    expect((await call('POST', `/v1/events/${eventId}/reservations`, acme, { seats: 3 })).statusCode).toBe(201);
    const { reservationId } = (await hold(eventId, 2, 1)).json<{ reservationId: string }>();
    clock.advance(1000);
    const patch = (totalSeats: number) =>
      t.app.inject({
        method: 'PATCH',
        url: `/v1/events/${eventId}`,
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ totalSeats }),
      });
    expectError(await patch(6), 409, 'SEATS_BELOW_RESERVED');
    const resized = await patch(7);
    expect(resized.statusCode).toBe(200);
    expect(resized.json()).toMatchObject({ totalSeats: 7, availableSeats: 0, heldSeats: 4, reservedSeats: 3 });
    const row = await t.database.db
      .selectFrom('reservations')
      .select('status')
      .where('reservation_id', '=', reservationId)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('expired');
  });

  it('refuses holdSeconds outside 1 to 3600, naming the field', async () => {
    const eventId = await newEvent();
    for (const holdSeconds of [0, 3601, 1.5, '60']) {
      const response = await call('POST', `/v1/events/${eventId}/reservations`, acme, { seats: 1, holdSeconds });
      expectError(response, 400, 'VALIDATION_ERROR');
      expect(response.json<{ error: string }>().error).toBe('holdSeconds must be a whole number from 1 to 3600');
    }
    expect(await seatsOf(eventId)).toMatchObject({ availableSeats: 10 });
  });

  it('the sweeper marks expired holds and returns their seats exactly once, from two instances at once', async () => {
    const second = await createAppWithDatabase({ database: t.database, clock });
    try {
      const events = [await newEvent(6), await newEvent(6), await newEvent(6)];
      for (const eventId of events) {
        for (let i = 0; i < 3; i += 1) expect((await hold(eventId, 2, 30)).statusCode).toBe(201);
      }
      clock.advance(30_000);
      const [a, b] = await Promise.all([
        t.services.reservations.sweepExpiredHolds(),
        second.services.reservations.sweepExpiredHolds(),
      ]);
      // Holds of the other tests in this file may expire here too: only these events' are counted.
      const swept = [...a.expired, ...b.expired].filter((r) => events.includes(r.eventId)).map((r) => r.reservationId);
      expect(swept).toHaveLength(9);
      expect(new Set(swept).size).toBe(9);
      for (const eventId of events) {
        expect(await seatsOf(eventId)).toEqual({
          availableSeats: 6,
          heldSeats: 0,
          reservedSeats: 0,
          reservationCount: 0,
        });
      }
      const rows = await t.database.db
        .selectFrom('reservations')
        .select(['status', 'event_id'])
        .where('event_id', 'in', events)
        .execute();
      expect(rows.map((row) => row.status)).toEqual(Array(9).fill('expired'));
      expect((await t.services.reservations.sweepExpiredHolds()).expired).toEqual([]);
    } finally {
      await second.close();
    }
  });
});
