import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppWithDatabase, type AppWithDatabase } from './testing/app-with-database.js';

/** Runs `tasks` with at most `limit` in flight at once. */
async function inParallel<T>(limit: number, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** Deterministic seat counts 1..10, so a failure can be replayed. */
function seatCounts(n: number, seed: number): number[] {
  let state = seed;
  return Array.from({ length: n }, () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return (state % 10) + 1;
  });
}

interface Summary {
  availableSeats: number;
  reservedSeats: number;
  reservationCount: number;
  version: number;
  totalSeats: number;
}

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

async function reserve(baseUrl: string, seats: number) {
  const startedAt = performance.now();
  const response = await fetch(`${baseUrl}/reservations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ partnerId: 'load', seats }),
  });
  const body = (await response.json()) as { error?: string };
  return { seats, status: response.status, body, startedAt, answeredAt: performance.now() };
}

async function summary(baseUrl: string): Promise<Summary> {
  return (await (await fetch(`${baseUrl}/reservations`)).json()) as Summary;
}

/** Sells out 500 seats with 400 requests of 1-10 seats, 100 in flight, spread over `baseUrls`. */
async function sellOut(baseUrls: readonly string[]) {
  const counts = seatCounts(400, 20_251_125);
  const results = await inParallel(
    100,
    counts.map((seats, i) => () => reserve(baseUrls[i % baseUrls.length]!, seats)),
  );
  const final = await summary(baseUrls[0]!);
  const confirmed = results.filter((r) => r.status === 201);
  const denied = results.filter((r) => r.status === 409);
  const confirmedSeats = confirmed.reduce((sum, r) => sum + r.seats, 0);

  expect(results.filter((r) => r.status !== 201 && r.status !== 409)).toEqual([]);
  expect(denied.every((r) => r.body.error === 'Not enough seats left')).toBe(true);
  expect(confirmedSeats).toBeLessThanOrEqual(500);
  expect(final.availableSeats).toBe(500 - confirmedSeats);
  expect(final.reservedSeats).toBe(confirmedSeats);
  expect(final.reservationCount).toBe(confirmed.length);
  expect(final.version).toBe(confirmed.length);
  // No false denial. With only reservations, seats never come back, so a denied request must not fit even now;
  // and the seats confirmed to requests sent after its 409 arrived were free when it was decided, so they too
  // must not have been enough.
  const falseDenials = denied.filter((d) => {
    const confirmedLater = confirmed.filter((c) => c.startedAt > d.answeredAt).reduce((sum, c) => sum + c.seats, 0);
    return d.seats <= final.availableSeats + confirmedLater;
  });
  expect(falseDenials).toEqual([]);
  // 400 requests of ~5.5 seats ask for far more than 500: the event must really sell out to the last few seats.
  expect(final.availableSeats).toBeLessThan(10);
  return { confirmed: confirmed.length, denied: denied.length, final };
}

describe('one API process under 100 concurrent clients', () => {
  let t: AppWithDatabase;
  let baseUrl: string;
  beforeAll(async () => {
    t = await createAppWithDatabase();
    baseUrl = await listen(t);
  });
  afterAll(() => t.close());

  it('sells out 500 seats with zero oversell, zero false denial, and only 201/409 answers', async () => {
    await sellOut([baseUrl]);
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
    await sellOut(urls);
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
