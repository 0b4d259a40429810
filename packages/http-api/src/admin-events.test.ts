import { waitUntil } from '@ticketboss/adapters-postgres/testing';
import { describe, expect, it } from 'vitest';
import { createAppWithDatabase } from './testing/app-with-database.js';
import { admin, bearer, expectError, uniqueId, useApiKeyApp, v1Calls } from './testing/v1-api.js';

/**
 * The console's event routes, GET /v1/admin/events and GET /v1/admin/events/:eventId/activity: figures from the
 * event_activity rollup that the statements applying changes write, checked against GET /v1/events/:eventId.
 */
const t = useApiKeyApp();
const { call, newEvent, reserved, summary } = v1Calls(t);

/** Holds seats for `holdSeconds`; answers the 201's body. */
async function hold(token: string, eventId: string, seats: number, holdSeconds: number) {
  const response = await call('POST', `/v1/events/${eventId}/reservations`, bearer(token), { seats, holdSeconds });
  expect(response.statusCode).toBe(201);
  return response.json<{ reservationId: string; expiresAt: string }>();
}

interface EventOverviewLine extends Record<string, unknown> {
  eventId: string;
  seatsPerMinute: number;
  netSeatsPerMinute: number;
  lastSaleAt: string | null;
}
interface EventsPage {
  items: EventOverviewLine[];
  nextCursor: string | null;
}
interface Activity {
  event: Record<string, unknown> & { availableSeats: number; totalSeats: number };
  asOf: string;
  seatsPerMinute: number;
  netSeatsPerMinute: number;
  lastSaleAt: string | null;
  estimatedSellOutAt: string | null;
  series: {
    at: number[];
    reservations: number[];
    cancellations: number[];
    holdsTaken: number[];
    holdsExpired: number[];
    holdsConfirmed: number[];
    availableSeats: (number | null)[];
  };
}

const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);

/** Every line of the events list, walking its pages as a client would. */
async function allOverviews(app = t.app): Promise<EventOverviewLine[]> {
  const lines: EventOverviewLine[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `/v1/admin/events?limit=100${cursor === null ? '' : `&cursor=${cursor}`}`;
    const response = await call('GET', url, admin, undefined, app);
    expect(response.statusCode).toBe(200);
    const page = response.json<EventsPage>();
    lines.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return lines;
}

async function activityOf(eventId: string, seconds?: number): Promise<Activity> {
  const query = seconds === undefined ? '' : `?seconds=${seconds}`;
  const response = await call('GET', `/v1/admin/events/${eventId}/activity${query}`, admin);
  expect(response.statusCode).toBe(200);
  expect(response.headers['cache-control']).toBe('no-store');
  return response.json<Activity>();
}

describe('GET /v1/admin/events', () => {
  it('lists each event with the summary GET /v1/events/:eventId gives and its selling rate, busiest first', async () => {
    const token = await t.createPartner(uniqueId('sell'));
    const idle = await newEvent(10);
    const busy = await newEvent(20);
    await reserved(token, busy, 2);
    await reserved(token, busy, 1);
    await hold(token, busy, 2, 60);

    const response = await call('GET', '/v1/admin/events?limit=100', admin);
    expect(response.headers['cache-control']).toBe('no-store');
    const lines = await allOverviews();
    const busyLine = lines.find((line) => line.eventId === busy);
    const idleLine = lines.find((line) => line.eventId === idle);
    expect(busyLine).toEqual({
      ...(await summary(busy)),
      seatsPerMinute: 3,
      netSeatsPerMinute: 5,
      lastSaleAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expect(idleLine).toEqual({ ...(await summary(idle)), seatsPerMinute: 0, netSeatsPerMinute: 0, lastSaleAt: null });
    expect(lines.indexOf(busyLine!)).toBeLessThan(lines.indexOf(idleLine!));
  });

  it('pages through every event with nextCursor, and refuses a cursor it did not give', async () => {
    const own = await createAppWithDatabase({ seedAuth: 'api-key', partnerActivity: false });
    try {
      const ids = ['ev-a', 'ev-b', 'ev-c'];
      for (const eventId of ids) {
        const created = await call('POST', '/v1/events', admin, { eventId, name: 'Gig', totalSeats: 5 }, own.app);
        expect(created.statusCode).toBe(201);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/v1/admin/events?limit=1${cursor === null ? '' : `&cursor=${cursor}`}`;
        const page = (await call('GET', url, admin, undefined, own.app)).json<EventsPage>();
        expect(page.items.length).toBe(1);
        seen.push(...page.items.map((line) => line.eventId));
        cursor = page.nextCursor;
      } while (cursor !== null);
      // All idle: by id.
      expect(seen).toEqual([...ids, 'node-meetup-2025'].sort());
      const refused = await call('GET', '/v1/admin/events?cursor=bm9wZQ', admin, undefined, own.app);
      expectError(refused, 400, 'VALIDATION_ERROR', 'cursor is invalid; pass back a nextCursor as is');
    } finally {
      await own.close();
    }
  });
});

describe('GET /v1/admin/events/:eventId/activity', () => {
  it('answers 404 for an unknown event', async () => {
    const response = await call('GET', '/v1/admin/events/no-such-event/activity', admin);
    expectError(response, 404, 'EVENT_NOT_FOUND');
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('answers 404 for an id no event can have, as GET /v1/events/:eventId does (a NUL byte never reaches SQL)', async () => {
    for (const eventId of ['%00', 'a%00b', 'Not%20An%20Id']) {
      expectError(await call('GET', `/v1/events/${eventId}`, admin), 404, 'EVENT_NOT_FOUND');
      expectError(await call('GET', `/v1/admin/events/${eventId}/activity`, admin), 404, 'EVENT_NOT_FOUND');
    }
  });

  it('gives 900 seconds by default, one entry per second up to the current one, as GET /v1/events/:eventId', async () => {
    const eventId = await newEvent(10);
    const activity = await activityOf(eventId);
    const { series } = activity;
    for (const column of Object.values(series)) expect(column).toHaveLength(900);
    expect(series.at.every((second, i) => i === 0 || second === series.at[i - 1]! + 1)).toBe(true);
    expect(series.at.at(-1)).toBe(Math.floor(Date.parse(activity.asOf) / 1000));
    expect(activity.event).toEqual(await summary(eventId));
    expect(series.availableSeats.at(-1)).toBe(10);
    // The event was made within the last 900 seconds: nothing before it.
    expect(series.availableSeats[0]).toBeNull();
    expect(activity).toMatchObject({
      seatsPerMinute: 0,
      netSeatsPerMinute: 0,
      lastSaleAt: null,
      estimatedSellOutAt: null,
    });
  });

  it('counts reservations, holds taken and confirmed, and cancellations per second, with rates and sell-out', async () => {
    const token = await t.createPartner(uniqueId('live'));
    const eventId = await newEvent(20);
    await reserved(token, eventId, 2);
    const held = await hold(token, eventId, 1, 60);
    expect((await call('POST', `/v1/reservations/${held.reservationId}/confirm`, bearer(token))).statusCode).toBe(200);
    const cancelled = await reserved(token, eventId, 3);
    expect((await call('DELETE', `/v1/reservations/${cancelled}`, bearer(token))).statusCode).toBe(204);

    const activity = await activityOf(eventId, 60);
    const { series } = activity;
    for (const column of Object.values(series)) expect(column).toHaveLength(60);
    expect({
      reservations: sum(series.reservations),
      holdsTaken: sum(series.holdsTaken),
      holdsConfirmed: sum(series.holdsConfirmed),
      cancellations: sum(series.cancellations),
      holdsExpired: sum(series.holdsExpired),
    }).toEqual({ reservations: 2, holdsTaken: 1, holdsConfirmed: 1, cancellations: 1, holdsExpired: 0 });
    expect(activity.event).toEqual(await summary(eventId));
    expect(activity.event.availableSeats).toBe(17);
    expect(series.availableSeats.at(-1)).toBe(17);
    for (const seats of series.availableSeats) if (seats !== null) expect(seats).toBeGreaterThanOrEqual(17);
    // Sold: 2 + 3 reserved at once, 1 confirmed. Net: 5 reserved + 1 held - 3 cancelled.
    expect(activity.seatsPerMinute).toBe(6);
    expect(activity.netSeatsPerMinute).toBe(3);
    expect(activity.lastSaleAt).not.toBeNull();
    expect(Date.parse(activity.asOf) - Date.parse(activity.lastSaleAt!)).toBeLessThan(60_000);
    // 17 seats at 3 a minute: 340 seconds from now.
    const sellOutInMs = Date.parse(activity.estimatedSellOutAt!) - Date.parse(activity.asOf);
    expect(Math.abs(sellOutInMs - 340_000)).toBeLessThanOrEqual(1000);

    expect((await activityOf(eventId, 1)).series.at).toHaveLength(1);
  });

  it('counts an expired hold in the second of its expiresAt, its seats back, before anything marks it', async () => {
    const token = await t.createPartner(uniqueId('exp'));
    const eventId = await newEvent(5);
    const expiring = await hold(token, eventId, 2, 1);
    let activity: Activity | undefined;
    await waitUntil(async () => {
      activity = await activityOf(eventId, 60);
      return sum(activity.series.holdsExpired) === 1;
    }, 'the hold counted as expired');
    const { series } = activity!;
    const second = Math.floor(Date.parse(expiring.expiresAt) / 1000);
    expect(series.holdsExpired[series.at.indexOf(second)]).toBe(1);
    expect(series.availableSeats.at(-1)).toBe(5);
    expect(activity!.event.availableSeats).toBe(5);
  });

  it('advances with the clock: a later poll ends at a later second', async () => {
    const eventId = await newEvent(5);
    const first = (await activityOf(eventId, 5)).series.at.at(-1)!;
    await waitUntil(
      async () => (await activityOf(eventId, 5)).series.at.at(-1)! > first,
      'the next second in the series',
    );
  });
});
