import { createDatabase, createPostgresLease, type DatabaseHandle } from '@ticketboss/adapters-postgres';
import {
  createTestDatabase,
  setDatabaseClockOffset,
  waitUntil,
  type TestDatabase,
} from '@ticketboss/adapters-postgres/testing';
import type { Idempotency, ReservationService } from '@ticketboss/domain';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSweeper, type Sweeper } from './sweeper.js';

/**
 * Three sweepers on one database, each with a pool of its own as in three API processes, taking turns through the
 * real lease in ticketboss_leases. What they sweep is a fake that counts their rounds (and can stall one, as a
 * database call that hangs would): the question here is who sweeps, not what a sweep does (sweeper-processes.test).
 */
let database: TestDatabase;
let pools: DatabaseHandle[] = [];
let running: ReturnType<typeof sweepers> | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  pools = [0, 1, 2].map(() => createDatabase({ connectionString: database.url, poolSize: 2 }));
});
afterEach(async () => {
  running?.openGate();
  await Promise.all(running?.all.map((s) => s.sweeper.stop()) ?? []);
  running = undefined;
  await setDatabaseClockOffset(database.db, 0);
  await sql`DELETE FROM ticketboss_leases`.execute(database.db);
});
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.destroy()));
  await database?.drop();
});

interface Counted {
  readonly sweeper: Sweeper;
  /** Rounds that swept (took or renewed the lease, then called sweepExpiredHolds). */
  sweeps: number;
  /** While set, this sweeper's next sweeps wait for the gate (a stalled database call). */
  stalls: boolean;
}

function sweepers({ intervalMs, ttlMs }: { intervalMs: number; ttlMs: number }) {
  let openGate: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  const all: Counted[] = pools.map((pool, i) => {
    const state = { sweeps: 0, stalls: false };
    const reservations = {
      async sweepExpiredHolds() {
        state.sweeps += 1;
        if (state.stalls) await gate;
        return { expired: [] };
      },
    } as unknown as ReservationService;
    const idempotency = { purge: async () => 0 } as unknown as Idempotency;
    const lease = createPostgresLease(pool, { name: 'sweeper', holder: `process-${i}`, ttlMs });
    const logger = pino({ level: 'silent' });
    return Object.assign(state, { sweeper: startSweeper({ reservations, idempotency, lease, intervalMs, logger }) });
  });
  return { all, openGate };
}

/** One round of each sweeper at once (as their timers would tick together); returns who swept in it. */
async function roundOfAll(all: readonly Counted[]): Promise<number[]> {
  const before = all.map((s) => s.sweeps);
  await Promise.all(all.map((s) => s.sweeper.runOnce()));
  return all.flatMap((s, i) => (s.sweeps > before[i]! ? [i] : []));
}

describe('the sweeper lease, three sweepers on one database', () => {
  it('exactly one sweeps in each round, the same one while it renews', async () => {
    const { all } = (running = sweepers({ intervalMs: 0, ttlMs: 60_000 }));
    const sweptBy = [];
    for (let round = 0; round < 10; round++) sweptBy.push(await roundOfAll(all));
    expect(sweptBy.every((who) => who.length === 1)).toBe(true);
    expect(new Set(sweptBy.flat()).size).toBe(1);
  });

  it('when the holder stops, it releases the lease and another sweeps at the next round, long before the TTL', async () => {
    const { all } = (running = sweepers({ intervalMs: 0, ttlMs: 60_000 }));
    const [holder] = await roundOfAll(all);
    await all[holder!]!.sweeper.stop();
    const others = all.filter((_, i) => i !== holder);
    const next = await roundOfAll(others);
    expect(next).toHaveLength(1);
    // And it keeps the lease from then on.
    expect(await roundOfAll(others)).toEqual(next);
  });

  it('a stalled holder is replaced once its lease has run out on the database time, and then sweeps no more', async () => {
    const ttlMs = 60_000;
    const { all, openGate } = (running = sweepers({ intervalMs: 0, ttlMs }));
    const [holder] = await roundOfAll(all);
    const stalled = all[holder!]!;
    const others = all.filter((_, i) => i !== holder);
    stalled.stalls = true;
    const stalledRound = stalled.sweeper.runOnce();
    await waitUntil(() => stalled.sweeps === 2, 'the holder to stall in its sweep');

    // Its lease still runs: the others skip.
    expect(await roundOfAll(others)).toEqual([]);
    // The database time past the lease's expiry (rather than a minute's wait): one of the others takes over.
    await setDatabaseClockOffset(database.db, ttlMs + 1000);
    const takeover = await roundOfAll(others);
    expect(takeover).toHaveLength(1);

    // The stalled round ends; from then on only the new holder sweeps, the old one finding the lease taken.
    openGate();
    await stalledRound;
    stalled.stalls = false;
    for (let round = 0; round < 3; round++) {
      expect(await roundOfAll(all)).toEqual([all.indexOf(others[takeover[0]!]!)]);
    }
  });

  it('on their timers, one sweeper sweeps every tick and the other two none', async () => {
    const { all } = (running = sweepers({ intervalMs: 20, ttlMs: 60_000 }));
    await waitUntil(() => all.some((s) => s.sweeps >= 20), 'twenty rounds');
    expect(all.filter((s) => s.sweeps > 0)).toHaveLength(1);
  });
});
