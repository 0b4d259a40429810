import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bearer, expectError, uniqueId, useApiKeyApp, UUID, v1Calls } from './testing/v1-api.js';

const t = useApiKeyApp();
const { call, newEvent, reserve, reserved, summary } = v1Calls(t);

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
