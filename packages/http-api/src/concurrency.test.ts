import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppWithDatabase, type AppWithDatabase } from './testing/app-with-database.js';
import { fetchSummary as summary, sellOut } from './testing/sell-out.js';

function anyConfirmedReservation(instance: AppWithDatabase) {
  return instance.database.db
    .selectFrom('reservations')
    .select(['reservation_id', 'seats'])
    .where('status', '=', 'confirmed')
    .executeTakeFirstOrThrow();
}

async function listen(instance: AppWithDatabase): Promise<string> {
  return instance.app.listen({ port: 0, host: '127.0.0.1' });
}

/** Checks a sell-out of the default event's 500 seats against everything the seats' promise says. */
async function expectExactSellOut(baseUrls: readonly string[], requests: number, inFlight: number) {
  const report = await sellOut({ baseUrls, requests, inFlight });
  expect(report.unexpected).toEqual([]);
  expect(report.results.filter((r) => r.status === 409).every((r) => r.error === 'Not enough seats left')).toBe(true);
  expect(report.oversold).toBe(0);
  expect(report.final.availableSeats).toBe(500 - report.confirmedSeats);
  expect(report.final.reservedSeats).toBe(report.confirmedSeats);
  expect(report.final.reservationCount).toBe(report.confirmed);
  expect(report.final.version).toBe(report.confirmed);
  expect(report.falseDenials).toEqual([]);
  // The requests ask for far more than 500 seats: the event must really sell out, to the last few seats.
  expect(report.final.availableSeats).toBeLessThan(10);
  return report;
}

describe('one API process under 100 concurrent clients', () => {
  let t: AppWithDatabase;
  let baseUrl: string;
  beforeAll(async () => {
    t = await createAppWithDatabase();
    baseUrl = await listen(t);
  });
  afterAll(() => t.close());

  it('400 requests, 100 in flight: sells out 500 seats with zero oversell, zero false denial, only 201/409', async () => {
    await expectExactSellOut([baseUrl], 400, 100);
    expect(await t.invariantBreaches()).toEqual([]);
  });

  it('8 parallel DELETEs of one reservation: exactly one 204, the seats come back once', async () => {
    const before = await summary(baseUrl);
    const victim = await anyConfirmedReservation(t);
    const responses = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const response = await fetch(`${baseUrl}/reservations/${victim.reservation_id}`, { method: 'DELETE' });
        return { status: response.status, body: await response.text() };
      }),
    );
    expect(responses.filter((r) => r.status === 204)).toHaveLength(1);
    const refused = responses.filter((r) => r.status === 404);
    expect(refused).toHaveLength(7);
    for (const r of refused) {
      expect(JSON.parse(r.body)).toEqual({
        error: 'Reservation already cancelled',
        code: 'RESERVATION_ALREADY_CANCELLED',
      });
    }
    expect(await summary(baseUrl)).toMatchObject({
      availableSeats: before.availableSeats + victim.seats,
      reservationCount: before.reservationCount - 1,
      version: before.version + 1,
    });
    expect(await t.invariantBreaches()).toEqual([]);
  });
});

describe('the hot-event sell-out: 1,000 requests of 1-10 seats, 200 in flight', () => {
  let t: AppWithDatabase;
  beforeAll(async () => {
    t = await createAppWithDatabase();
  });
  afterAll(() => t.close());

  it('sells 500 seats exactly: zero oversell, zero false denial, zero 5xx', async () => {
    const report = await expectExactSellOut([await listen(t)], 1000, 200);
    expect(report.denied).toBe(1000 - report.confirmed);
    expect(await t.invariantBreaches()).toEqual([]);
  });
});

describe('two API instances (separate pools and queues) on one database', () => {
  let first: AppWithDatabase;
  let second: AppWithDatabase;
  let urls: string[];
  beforeAll(async () => {
    first = await createAppWithDatabase();
    second = await createAppWithDatabase({ database: first.database });
    urls = [await listen(first), await listen(second)];
  });
  afterAll(async () => {
    await second.close();
    await first.close();
  });

  it('racing each other for the version, they still sell out exactly, with no false denial', async () => {
    await expectExactSellOut(urls, 400, 100);
    expect(await first.invariantBreaches()).toEqual([]);
  });

  it('8 parallel DELETEs of one reservation through both: exactly one 204', async () => {
    const before = await summary(urls[0]!);
    const victim = await anyConfirmedReservation(first);
    const statuses = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const response = await fetch(`${urls[i % 2]}/reservations/${victim.reservation_id}`, { method: 'DELETE' });
        return response.status;
      }),
    );
    expect(statuses.filter((s) => s === 204)).toHaveLength(1);
    expect(statuses.filter((s) => s === 404)).toHaveLength(7);
    expect((await summary(urls[1]!)).availableSeats).toBe(before.availableSeats + victim.seats);
    expect(await first.invariantBreaches()).toEqual([]);
  });
});
