import { randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCoalescer, type Reservation } from '@ticketboss/domain';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from './database.js';
import { createPostgresEventRepository, ensureEvent } from './event-repository.js';
import { findInvariantBreaches } from './invariant.js';
import { GRANT_MS } from './rebalance.js';
import { DEFAULT_MIGRATIONS_DIR, migrate, readMigrations } from './migrate.js';
import { createTestDatabase, type TestDatabase } from './testing/index.js';

let database: TestDatabase;
const FAR = Number.MAX_SAFE_INTEGER;
const clock = { now: () => new Date() };

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

function reservation(eventId: string, seats: number): Reservation {
  return {
    reservationId: randomUUID(),
    eventId,
    partnerId: 'partner-a',
    seats,
    status: 'confirmed',
    createdAt: new Date(),
  };
}

async function newEvent(totalSeats: number, pools: number, maxSeatsPerReservation = 10): Promise<string> {
  const eventId = `pools-${randomUUID().slice(0, 8)}`;
  await ensureEvent(database.db, { eventId, name: 'Pools', totalSeats, maxSeatsPerReservation }, pools);
  return eventId;
}

async function poolSeats(eventId: string): Promise<number[]> {
  const rows = await database.db
    .selectFrom('event_seat_pools')
    .select('available_seats')
    .where('event_id', '=', eventId)
    .orderBy('pool')
    .execute();
  return rows.map((r) => r.available_seats);
}

describe('seat pools', () => {
  it('a new event has its seats spread over its pools; the summary sums them', async () => {
    const eventId = await newEvent(10, 4);
    expect(await poolSeats(eventId)).toEqual([3, 3, 2, 2]);
    const repository = createPostgresEventRepository(database.db);
    expect(await repository.getEventSummary(eventId)).toMatchObject({ availableSeats: 10, version: 0 });
  });

  it('a batch larger than its pool takes seats from the other pools by a rebalance, changing no version', async () => {
    const eventId = await newEvent(8, 4); // 2 seats a pool
    const repository = createPostgresEventRepository(database.db);
    const coalescer = createCoalescer({ repository, clock });
    const batch = [3, 2].map((seats) => coalescer.reserve(reservation(eventId, seats), FAR));
    expect((await Promise.all(batch)).map((d) => d.kind)).toEqual(['reserved', 'reserved']);
    expect(coalescer.stats().rebalances).toBeGreaterThanOrEqual(1);
    expect(await repository.getEventSummary(eventId)).toMatchObject({
      availableSeats: 3,
      reservedSeats: 5,
      version: 2,
    });
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });

  it('sells out exactly with the seats scattered one per pool: every seat sold, then refused', async () => {
    const eventId = await newEvent(8, 8, 8); // 1 seat in each of 8 pools
    const repository = createPostgresEventRepository(database.db);
    const coalescer = createCoalescer({ repository, clock });
    expect(await coalescer.reserve(reservation(eventId, 3), FAR)).toMatchObject({ kind: 'reserved' });
    expect(await coalescer.reserve(reservation(eventId, 5), FAR)).toMatchObject({ kind: 'reserved' });
    expect(await coalescer.reserve(reservation(eventId, 1), FAR)).toEqual({
      kind: 'insufficient_seats',
      availableSeats: 0,
    });
    expect(await poolSeats(eventId)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });

  it('a rebalance gives the pool what it wants and shares the rest with the pools in use; all if it falls short', async () => {
    const eventId = await newEvent(6, 3);
    let now = Date.now();
    const repository = createPostgresEventRepository(database.db, { clock: { now: () => new Date(now) } });
    expect(await repository.rebalanceSeats(eventId, 1, 9, 9)).toMatchObject({
      pool: 1,
      availableSeats: 6,
      whole: true,
    });
    expect(await poolSeats(eventId)).toEqual([0, 6, 0]);
    // Pool 1 is in use once committed on: the next rebalance leaves it a share.
    const one = reservation(eventId, 1);
    expect(
      await repository.commitChanges({ eventId, pool: 1, version: 0 }, { reservations: [one], cancellations: [] }),
    ).toMatchObject({ kind: 'committed', pool: { availableSeats: 5 } });
    now += GRANT_MS + 1; // past pool 1's grant, still in use
    expect(await repository.rebalanceSeats(eventId, 2, 2, 2)).toMatchObject({
      pool: 2,
      availableSeats: 4,
      whole: false,
    });
    expect(await poolSeats(eventId)).toEqual([0, 1, 4]);
    expect(await repository.rebalanceSeats('no-such-event', 0, 1, 1)).toBeUndefined();
  });

  it('seats a rebalance granted to a pool stay there for the next rebalance, until GRANT_MS has passed', async () => {
    const eventId = await newEvent(15, 2);
    let now = Date.now();
    const at = { now: () => new Date(now) };
    const a = createPostgresEventRepository(database.db, { clock: at });
    const b = createPostgresEventRepository(database.db, { clock: at });
    expect(await a.rebalanceSeats(eventId, 0, 10, 10)).toMatchObject({ availableSeats: 15, whole: true });
    // Another process short of seats meanwhile gets none of them, and may not refuse on what it got.
    expect(await b.rebalanceSeats(eventId, 1, 10, 10)).toMatchObject({ availableSeats: 0, whole: false });
    now += GRANT_MS + 1;
    expect(await b.rebalanceSeats(eventId, 1, 10, 10)).toMatchObject({ availableSeats: 15, whole: true });
    expect(await poolSeats(eventId)).toEqual([0, 15]);
  });

  it('the commit that follows a rebalance ends its grant; a pool given too little for any reservation gets none', async () => {
    const eventId = await newEvent(15, 2);
    const a = createPostgresEventRepository(database.db);
    const b = createPostgresEventRepository(database.db);
    const granted = (await a.rebalanceSeats(eventId, 0, 10, 10))!;
    expect(
      await a.commitChanges(granted, { reservations: [reservation(eventId, 10)], cancellations: [] }),
    ).toMatchObject({ kind: 'committed', pool: { availableSeats: 5 } });
    // At once, without waiting for GRANT_MS: the 5 left are free to take.
    expect(await b.rebalanceSeats(eventId, 1, 6, 6)).toMatchObject({ availableSeats: 5, whole: true });
    // 5 seats, every one of them, but fewer than its smallest reservation: pool 1 commits nothing, so no grant.
    expect(await a.rebalanceSeats(eventId, 0, 2, 2)).toMatchObject({ availableSeats: 5, whole: true });
  });

  it('two processes each asking for more than half of what is left: one is served, the other refused, none 503', async () => {
    const processes = Array.from({ length: 2 }, () => {
      const db = createDatabase({ connectionString: database.url, poolSize: 2 });
      return { db, coalescer: createCoalescer({ repository: createPostgresEventRepository(db), clock }) };
    });
    try {
      for (let round = 0; round < 5; round += 1) {
        const eventId = await newEvent(15, 2);
        const deadline = Date.now() + 5000;
        const decisions = await Promise.all(
          processes.map((p) => p.coalescer.reserve(reservation(eventId, 10), deadline)),
        );
        expect(decisions.map((d) => d.kind).sort()).toEqual(['insufficient_seats', 'reserved']);
        expect(decisions.find((d) => d.kind === 'insufficient_seats')).toEqual({
          kind: 'insufficient_seats',
          availableSeats: 5,
        });
      }
      expect(await findInvariantBreaches(database.db)).toEqual([]);
    } finally {
      await Promise.all(processes.map((p) => p.db.destroy()));
    }
  });

  it('an event an earlier release created, without pools, gets them on its first reservation', async () => {
    const eventId = `old-${randomUUID().slice(0, 8)}`;
    await sql`
      INSERT INTO events (event_id, name, total_seats, available_seats, max_seats_per_reservation)
      VALUES (${eventId}, 'Old', 10, 10, 10)`.execute(database.db);
    const repository = createPostgresEventRepository(database.db, { seatPools: 3 });
    const coalescer = createCoalescer({ repository, clock });
    expect(await coalescer.reserve(reservation(eventId, 3), FAR)).toMatchObject({ kind: 'reserved' });
    expect((await poolSeats(eventId)).length).toBe(3);
    expect(await repository.getEventSummary(eventId)).toMatchObject({ availableSeats: 7, reservedSeats: 3 });
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });

  it('under load from four processes, with rebalances between their commits, never oversells', async () => {
    const eventId = await newEvent(120, 4, 5);
    const processes = Array.from({ length: 4 }, () => {
      const db = createDatabase({ connectionString: database.url, poolSize: 4 });
      return { db, coalescer: createCoalescer({ repository: createPostgresEventRepository(db), clock }) };
    });
    try {
      const asks = Array.from({ length: 200 }, (_, i) => ({ process: processes[i % 4]!, seats: 1 + (i % 3) }));
      const decisions = await Promise.all(
        asks.map(({ process, seats }) => process.coalescer.reserve(reservation(eventId, seats), FAR)),
      );
      const sold = asks.reduce((sum, a, i) => sum + (decisions[i]!.kind === 'reserved' ? a.seats : 0), 0);
      expect(decisions.every((d) => d.kind === 'reserved' || d.kind === 'insufficient_seats')).toBe(true);
      // Refused only once fewer seats than the smallest refused ask remained: the event ends sold out.
      expect(sold).toBe(120);
      expect(processes.reduce((sum, p) => sum + p.coalescer.stats().rebalances, 0)).toBeGreaterThan(0);
      expect(await findInvariantBreaches(database.db)).toEqual([]);
    } finally {
      await Promise.all(processes.map((p) => p.db.destroy()));
    }
  });

  it('an update of the total gathers the pools into the reserve, and the next rebalance spreads it again', async () => {
    const eventId = await newEvent(10, 2);
    const repository = createPostgresEventRepository(database.db);
    const coalescer = createCoalescer({ repository, clock });
    expect(await coalescer.reserve(reservation(eventId, 4), FAR)).toMatchObject({ kind: 'reserved' });
    expect(await repository.updateEvent(eventId, { totalSeats: 7 }, 1)).toMatchObject({
      kind: 'updated',
      event: { totalSeats: 7, availableSeats: 3, version: 2 },
    });
    expect(await poolSeats(eventId)).toEqual([0, 0]);
    expect(await repository.updateEvent(eventId, { totalSeats: 3 }, 2)).toEqual({
      kind: 'below_reserved',
      reservedSeats: 4,
    });
    expect(await coalescer.reserve(reservation(eventId, 3), FAR)).toMatchObject({ kind: 'reserved' });
    expect(await repository.getEventSummary(eventId)).toMatchObject({ availableSeats: 0, version: 3 });
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });
});

describe('migration 0004', () => {
  it("moves existing events' seats into 8 pools, keeping the invariant and the version", async () => {
    const fresh = await createTestDatabase({ migrated: false });
    const dir = await mkdtemp(join(tmpdir(), 'ticketboss-0004-'));
    try {
      const all = (await readMigrations()).files.map((f) => f.name);
      for (const name of ['schema_migrations.sql', ...all.filter((n) => n < '0004')]) {
        await copyFile(join(DEFAULT_MIGRATIONS_DIR, name), join(dir, name));
      }
      await migrate(fresh.db, await readMigrations(dir));
      await sql`
        INSERT INTO events (event_id, name, total_seats, available_seats, active_reservations, version)
        VALUES ('before-0004', 'Old', 30, 27, 1, 5), ('sold-out', 'Old', 2, 0, 1, 1)`.execute(fresh.db);
      await sql`
        INSERT INTO reservations (reservation_id, event_id, partner_id, seats, status)
        VALUES (${randomUUID()}, 'before-0004', 'p', 3, 'confirmed'), (${randomUUID()}, 'sold-out', 'p', 2, 'confirmed')
      `.execute(fresh.db);
      await migrate(fresh.db, await readMigrations());
      const pools = await fresh.db
        .selectFrom('event_seat_pools')
        .select(['event_id', 'available_seats'])
        .where('event_id', '=', 'before-0004')
        .orderBy('pool')
        .execute();
      expect(pools.map((p) => p.available_seats)).toEqual([4, 4, 4, 3, 3, 3, 3, 3]);
      expect(await findInvariantBreaches(fresh.db)).toEqual([]);
      const repository = createPostgresEventRepository(fresh.db);
      expect(await repository.getEventSummary('before-0004')).toMatchObject({ availableSeats: 27, version: 5 });
      expect(await repository.getEventSummary('sold-out')).toMatchObject({ availableSeats: 0, version: 1 });
    } finally {
      await fresh.drop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
