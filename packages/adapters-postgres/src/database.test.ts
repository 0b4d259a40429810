import { StoreUnavailable } from '@ticketboss/domain';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  createDatabase,
  isUnavailable,
  OUTAGE_QUIET_MS,
  trackAvailability,
  type AvailabilityChange,
  type DatabaseHandle,
} from './database.js';
import { createTestDatabase, waitUntil, type TestDatabase } from './testing/index.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase({ migrated: false });
});
afterAll(() => database.drop());

const backendExists = async (pid: number) =>
  (await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${pid}`.execute(database.db))
    .rows[0]!.n > 0;

async function terminate(pid: number): Promise<void> {
  await sql`SELECT pg_terminate_backend(${pid})`.execute(database.db);
  await waitUntil(async () => !(await backendExists(pid)), `backend ${pid} to exit`);
}

describe('a pooled connection cut by the server', () => {
  let db: DatabaseHandle;
  const changes: AvailabilityChange[] = [];

  beforeAll(() => {
    db = createDatabase({ connectionString: database.url, onAvailabilityChange: (change) => changes.push(change) });
  });
  afterAll(() => db.destroy());

  it('fails only the work on it, as StoreUnavailable, without crashing the process; the next query is served', async () => {
    // What would have ended a real process (vitest reports it too, but this makes the test itself fail).
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', record);
    onTestFinished(() => void process.off('uncaughtException', record));
    // The connection is cut while a transaction holds it between statements: pg emits 'error' on a client the
    // pool has handed out, and with no listener of ours that event alone would end the process.
    const outcome = db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
      await terminate(rows[0]!.pid);
      await sql`SELECT 1`.execute(trx);
    });
    await expect(outcome).rejects.toBeInstanceOf(StoreUnavailable);

    const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(db);
    expect(rows).toEqual([{ one: 1 }]);
    expect(uncaught).toEqual([]);
    // One report when it went, one once queries have succeeded for a quiet second.
    expect(changes.map((c) => c.available)).toEqual([false]);
    await waitUntil(async () => {
      await sql`SELECT 1`.execute(db);
      return changes.length === 2;
    }, 'the end of the outage to be reported');
    expect(changes.map((c) => c.available)).toEqual([false, true]);
  });

  it('a query running when its backend is terminated fails as StoreUnavailable', async () => {
    // Its failure is taken at once: it may come while the termination's own round trip is still under way.
    const failure = sql`SELECT pg_sleep(30), 'terminate-me'`.execute(db).then(
      () => undefined,
      (error: unknown) => error,
    );
    let pid: number | undefined;
    await waitUntil(async () => {
      const { rows } = await sql<{ pid: number }>`
        SELECT pid FROM pg_stat_activity
        WHERE query LIKE '%terminate-me%' AND query NOT LIKE '%pg_stat_activity%'`.execute(database.db);
      pid = rows[0]?.pid;
      return pid !== undefined;
    }, 'the sleeping query');
    await sql`SELECT pg_terminate_backend(${pid!})`.execute(database.db);
    expect(await failure).toBeInstanceOf(StoreUnavailable);
    await expect(sql`SELECT 1`.execute(db)).resolves.toBeDefined();
  });

  it('a statement that fails on its own merits is not an outage', async () => {
    const before = changes.length;
    await expect(sql`SELECT 1/0`.execute(db)).rejects.toMatchObject({ code: '22012' });
    expect(changes.length).toBe(before);
  });
});

describe('a database that is not there', () => {
  it('refuses as StoreUnavailable, reported once however many queries meet it', async () => {
    const changes: AvailabilityChange[] = [];
    // Port 1 on loopback: nothing listens there, so connecting is refused at once.
    const db = createDatabase({
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
      onAvailabilityChange: (change) => changes.push(change),
    });
    try {
      const attempts = await Promise.allSettled(Array.from({ length: 5 }, () => sql`SELECT 1`.execute(db)));
      for (const attempt of attempts) {
        expect(attempt.status).toBe('rejected');
        expect((attempt as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailable);
      }
      expect(changes).toEqual([{ available: false, error: expect.any(Error) }]);
    } finally {
      await db.destroy();
    }
  });

  it('is over after a quiet second: successes between failures (a server shutting down) do not end it', () => {
    let now = 0;
    const changes: AvailabilityChange[] = [];
    const tracker = trackAvailability(
      (change) => changes.push(change),
      () => now,
    );
    const cut = new Error('terminating connection due to administrator command');
    tracker.down(cut);
    now = 2;
    tracker.up(); // a connection not cut yet
    now = 3;
    tracker.down(new Error('connect ECONNREFUSED'));
    now = 3 + OUTAGE_QUIET_MS - 1;
    tracker.up();
    expect(changes).toEqual([{ available: false, error: cut }]);
    now = 3 + OUTAGE_QUIET_MS;
    tracker.up();
    tracker.up();
    expect(changes).toEqual([
      { available: false, error: cut },
      { available: true, unavailableForMs: 3 },
    ]);
  });

  it('tells connection failures from statement failures', () => {
    expect(isUnavailable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isUnavailable(Object.assign(new Error('terminating connection'), { code: '57P01' }))).toBe(true);
    expect(isUnavailable(Object.assign(new Error('connection failure'), { code: '08006' }))).toBe(true);
    expect(isUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isUnavailable(Object.assign(new Error('lock timeout'), { code: '55P03' }))).toBe(false);
    expect(isUnavailable(Object.assign(new Error('unique violation'), { code: '23505' }))).toBe(false);
    expect(isUnavailable('not an error')).toBe(false);
  });
});
