import { describe, expect, it } from 'vitest';
import { admin, bearer, expectError, uniqueId, useApiKeyApp, UUID, v1Calls } from './testing/v1-api.js';

const t = useApiKeyApp();
const { call, newEvent, reserved, summary } = v1Calls(t);

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
