/**
 * PostgreSQL alone, no HTTP and no application, measured with pgbench: each client reserves one seat, then
 * cancels it, every request its own commit. Two statements are measured:
 * - the one-row ceiling: the pre-pool reserve and cancel statements on one hot event row, without their version
 *   guard (one request per commit from many clients would only make it fail);
 * - the seat-pool commit statement: one UPDATE of one pool row with the reservation row, client
 *   `client_id % pools` on its pool (32 clients over 16 pools is 2 per pool); without its version guard, as the
 *   ceiling, for what PostgreSQL allows per event as pools grow, and with it, as API processes send it, for what
 *   clients that share a pool cost each other.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { query } from './databases.js';

const run = promisify(execFile);

export interface Ceiling {
  readonly clients: number;
  readonly operationsPerSecond: number;
  readonly latencyAverageMs: number;
}

export interface PoolRun {
  readonly pools: number;
  /** Whether each statement carried the version guard `AND version = $expected`. */
  readonly guarded: boolean;
  /**
   * Whether each statement also made the console's writes, as the API's commit statement does (migration 0007):
   * its change added to the pool's `event_activity` row of the second, and a reservation's `last_sale_at`.
   */
  readonly console: boolean;
  readonly clients: number;
  /** Changes committed (reservations and cancellations), per second of the run. */
  readonly operationsPerSecond: number;
  /** Script runs pgbench completed: each tried one reservation and, if it was committed, its cancellation. */
  readonly scriptRuns: number;
  readonly reserved: number;
  readonly cancelled: number;
  /** Guarded statements that found their pool's version changed (another client of the pool had committed). */
  readonly versionConflicts: number;
  readonly conflictsPerCommit: number;
  /** Per script run, as pgbench reports it. */
  readonly latencyAverageMs: number;
}

export const hasPgbench = (): Promise<boolean> =>
  run('pgbench', ['--version']).then(
    () => true,
    () => false,
  );

async function pgbench(
  databaseUrl: string,
  script: string,
  clients: number,
  seconds: number,
  extra: string[] = [],
): Promise<{ tps: number; transactions: number; latencyAverageMs: number }> {
  const url = new URL(databaseUrl);
  const { stdout } = await run(
    'pgbench',
    [
      ...['-n', '-M', 'extended', '-c', String(clients), '-j', '2', '-T', String(seconds), '-f', script, ...extra],
      ...['-h', url.hostname, '-p', url.port || '5432', '-U', decodeURIComponent(url.username)],
      url.pathname.slice(1),
    ],
    { env: { ...process.env, PGPASSWORD: decodeURIComponent(url.password) } },
  );
  return {
    tps: Number(/tps = ([\d.]+)/.exec(stdout)?.[1]),
    transactions: Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1]),
    latencyAverageMs: Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1]),
  };
}

/** The API's reserve statement and cancel transaction as they were before seat pools, on one event row. */
export async function ceiling(databaseUrl: string, workDir: string, clients: number, seconds: number) {
  await query(
    databaseUrl,
    `INSERT INTO events (event_id, name, total_seats, available_seats) VALUES ('pgbench-ceiling', 'pgbench', 1000, 1000)
     ON CONFLICT (event_id) DO NOTHING`,
  );
  const script = join(workDir, 'ceiling.sql');
  await writeFile(
    script,
    `WITH moved AS (UPDATE events SET available_seats = available_seats - 1, active_reservations = active_reservations + 1, version = version + 1, updated_at = now() WHERE event_id = 'pgbench-ceiling' AND available_seats >= 1 RETURNING event_id) INSERT INTO reservations (reservation_id, event_id, partner_id, seats, status) SELECT gen_random_uuid(), event_id, 'pgbench', 1, 'confirmed' FROM moved RETURNING reservation_id \\gset
BEGIN;
SELECT reservation_id FROM reservations WHERE reservation_id = :reservation_id AND status = 'confirmed' FOR UPDATE;
WITH moved AS (UPDATE events SET available_seats = available_seats + 1, active_reservations = active_reservations - 1, version = version + 1, updated_at = now() WHERE event_id = 'pgbench-ceiling' RETURNING event_id) UPDATE reservations SET status = 'cancelled', cancelled_at = now() FROM moved WHERE reservation_id = :reservation_id;
COMMIT;
`,
  );
  const { tps, latencyAverageMs } = await pgbench(databaseUrl, script, clients, seconds);
  // One script run = one reservation + one cancellation = two operations, as in the HTTP churn.
  return { clients, operationsPerSecond: tps * 2, latencyAverageMs: latencyAverageMs / 2 } satisfies Ceiling;
}

/** Seats in each pool: more than any run takes (a cancellation that lost its guard leaves its seat taken). */
const SEATS_PER_POOL = 1_000_000;

/**
 * The seat-pool commit statement on a new event of `pools` pools. Guarded, each client keeps the version its
 * last statement left (pgbench variables outlive a script run; -D starts them at 0, the version of a new pool)
 * and guards its next statement with it, as an API process does; a guard that fails reads the pool's version
 * again, and a cancellation that failed its guard leaves its reservation confirmed. So statements =
 * script runs + reservations, committed = reservations + cancellations, and the version conflicts are
 * script runs - cancellations (0 without the guard, give or take the runs cut off at the end). With `console`,
 * each statement also makes the console's writes, as the API's commit statement does.
 */
export async function poolRun(
  databaseUrl: string,
  workDir: string,
  pools: number,
  guarded: boolean,
  round: number,
  clients: number,
  seconds: number,
  console = false,
): Promise<PoolRun> {
  const eventId = `pgbench-pools-${pools}${guarded ? '-guarded' : ''}${console ? '-console' : ''}-r${round}`;
  await query(
    databaseUrl,
    `INSERT INTO events (event_id, name, total_seats, available_seats)
       VALUES ('${eventId}', 'pgbench', ${pools * SEATS_PER_POOL}, 0);
     INSERT INTO event_seat_pools (event_id, pool, available_seats)
       SELECT '${eventId}', g, ${SEATS_PER_POOL} FROM generate_series(0, ${pools - 1}) AS g`,
  );
  const sale = console ? ', last_sale_at = greatest(last_sale_at, now())' : '';
  const update = (taken: number, returned: number) =>
    `UPDATE event_seat_pools SET available_seats = available_seats - ${taken} + ${returned}, version = version + 1${taken > 0 ? sale : ''} WHERE event_id = '${eventId}' AND pool = :pool${guarded ? ' AND version = :v' : ''} AND available_seats - ${taken} + ${returned} >= 0 RETURNING event_id, version`;
  // The commit statement's `activity` CTE, for one reservation or one cancellation.
  const activity = (count: 'reservations' | 'cancellations', seats: 'reserved_seats' | 'cancelled_seats') =>
    console
      ? `, activity AS (INSERT INTO event_activity AS a (event_id, second, pool, ${count}, ${seats}) SELECT event_id, date_trunc('second', now()), :pool, 1, 1 FROM moved ON CONFLICT (event_id, second, pool) DO UPDATE SET ${count} = a.${count} + excluded.${count}, ${seats} = a.${seats} + excluded.${seats})`
      : '';
  const reread = `SELECT version AS v FROM event_seat_pools WHERE event_id = '${eventId}' AND pool = :pool \\gset`;
  const script = join(workDir, `${eventId}.sql`);
  await writeFile(
    script,
    `\\set pool :client_id % ${pools}
WITH moved AS (${update(1, 0)})${activity('reservations', 'reserved_seats')}, made AS (INSERT INTO reservations (reservation_id, event_id, partner_id, seats, status) SELECT gen_random_uuid(), event_id, 'pgbench', 1, 'confirmed' FROM moved RETURNING reservation_id) SELECT coalesce((SELECT version FROM moved), -1) AS v, coalesce((SELECT reservation_id::text FROM made), '') AS reservation_id \\gset
\\if :v < 0
${reread}
\\else
BEGIN;
SELECT reservation_id FROM reservations WHERE reservation_id = :reservation_id AND status = 'confirmed' FOR UPDATE;
WITH moved AS (${update(0, 1)})${activity('cancellations', 'cancelled_seats')}, done AS (UPDATE reservations SET status = 'cancelled', cancelled_at = now() FROM moved WHERE reservation_id = :reservation_id RETURNING moved.version) SELECT coalesce((SELECT version FROM done), -1) AS v \\gset
COMMIT;
\\if :v < 0
${reread}
\\endif
\\endif
`,
  );
  const { tps, transactions, latencyAverageMs } = await pgbench(databaseUrl, script, clients, seconds, ['-D', 'v=0']);
  const [counts] = await query<{ reserved: string; cancelled: string }>(
    databaseUrl,
    `SELECT count(*) AS reserved, count(*) FILTER (WHERE status = 'cancelled') AS cancelled
       FROM reservations WHERE event_id = '${eventId}'`,
  );
  const reserved = Number(counts?.reserved);
  const cancelled = Number(counts?.cancelled);
  const versionConflicts = guarded ? Math.max(0, transactions - cancelled) : 0;
  return {
    pools,
    guarded,
    console,
    clients,
    // pgbench's rate of script runs (its own clock) times the changes a script run committed on average.
    operationsPerSecond: (tps * (reserved + cancelled)) / transactions,
    scriptRuns: transactions,
    reserved,
    cancelled,
    versionConflicts,
    conflictsPerCommit: versionConflicts / (reserved + cancelled),
    latencyAverageMs,
  };
}
