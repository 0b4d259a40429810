import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDatabaseClock, type DatabaseClock } from './database-clock.js';
import {
  createTestDatabase,
  databaseNow,
  setDatabaseClockOffset,
  waitUntil,
  type TestDatabase,
} from './testing/index.js';

let database: TestDatabase;
const clocks: DatabaseClock[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
});
afterEach(async () => {
  await Promise.all(clocks.splice(0).map((clock) => clock.stop()));
  await setDatabaseClockOffset(database.db, 0);
});
afterAll(() => database.drop());

async function startedClock(resampleMs = 0): Promise<DatabaseClock> {
  const clock = createDatabaseClock(database.db, { resampleMs });
  clocks.push(clock);
  await clock.start();
  return clock;
}

/** How far a clock's reading may be from the database's: sampling error, and Date's whole milliseconds. */
const TOLERANCE_MS = 5;

/**
 * How far the database's time lies outside the clock's readings just before and just after reading it (0 when
 * within): the clock follows the database when this stays within TOLERANCE_MS.
 */
async function distanceFromDatabase(clock: DatabaseClock): Promise<number> {
  const before = clock.now().getTime();
  const databaseMs = (await databaseNow(database.db)).getTime();
  const after = clock.now().getTime();
  return Math.max(0, before - databaseMs, databaseMs - after);
}

describe('the database clock', () => {
  it('reads the database time, and keeps it between samples with the monotonic clock', async () => {
    const clock = await startedClock();
    for (let i = 0; i < 20; i++) {
      expect(await distanceFromDatabase(clock)).toBeLessThanOrEqual(TOLERANCE_MS);
    }
  });

  it('after the database time moves, follows it at its next sample, and not before', async () => {
    const clock = await startedClock();
    for (const offsetMs of [60_000, -60_000]) {
      await setDatabaseClockOffset(database.db, offsetMs);
      // No sample since the move: the clock is still on the old time, a minute (or two) from the database's.
      expect(await distanceFromDatabase(clock)).toBeGreaterThan(50_000);
      await clock.sample();
      expect(await distanceFromDatabase(clock)).toBeLessThanOrEqual(TOLERANCE_MS);
    }
  });

  it('resamples on its own every resampleMs', async () => {
    const clock = await startedClock(50);
    await setDatabaseClockOffset(database.db, 30_000);
    await waitUntil(async () => (await distanceFromDatabase(clock)) <= TOLERANCE_MS, 'the clock to follow');
  });

  it("never reads the process's wall clock: Date.now shifted by an hour changes nothing", async () => {
    const realNow = Date.now;
    const shiftedMs = 3_600_000;
    try {
      Date.now = () => realNow() + shiftedMs;
      expect(Math.abs(Date.now() - realNow() - shiftedMs)).toBeLessThan(100);
      const clock = await startedClock();
      expect(await distanceFromDatabase(clock)).toBeLessThanOrEqual(TOLERANCE_MS);
      await clock.sample();
      expect(await distanceFromDatabase(clock)).toBeLessThanOrEqual(TOLERANCE_MS);
    } finally {
      Date.now = realNow;
    }
  });

  it('keeps a sample with a short round trip over a slower one that the database time does not contradict', async () => {
    const clock = await startedClock();
    // Every read now takes 200 ms and gives the time at its end: taken as the time at the round trip's midpoint,
    // that reading is 100 ms off, within its error bound (half the round trip), so the earlier fast sample stays.
    await sql`
      CREATE OR REPLACE FUNCTION ticketboss_now() RETURNS timestamptz LANGUAGE sql VOLATILE
      AS $$ SELECT clock_timestamp() FROM pg_sleep(0.2) $$`.execute(database.db);
    await clock.sample();
    await setDatabaseClockOffset(database.db, 0);
    expect(await distanceFromDatabase(clock)).toBeLessThanOrEqual(TOLERANCE_MS);
  });

  it('keeps the last sample when a sample fails', async () => {
    const clock = await startedClock();
    await sql`DROP FUNCTION ticketboss_now()`.execute(database.db);
    try {
      await clock.sample();
    } finally {
      await setDatabaseClockOffset(database.db, 0);
    }
    expect(await distanceFromDatabase(clock)).toBeLessThanOrEqual(TOLERANCE_MS);
  });

  it('cannot be read before start()', () => {
    expect(() => createDatabaseClock(database.db).now()).toThrow(/before start/);
  });
});
