import {
  StoreUnavailable,
  type Clock,
  type ConsoleStore,
  type Idempotency,
  type ReservationService,
} from '@ticketboss/domain';
import type { FastifyBaseLogger } from 'fastify';

export interface Sweeper {
  /** Runs one round now, or after the one in progress if any; once stopped, runs none. */
  runOnce(): Promise<void>;
  /** Stops the timer, waits for the round in progress (and for no other), then releases the lease if held. */
  stop(): Promise<void>;
}

/**
 * Who sweeps: a round sweeps only when `acquire()` answers that this process holds the lease (taking it if free or
 * run out, renewing it if already held); `release()` gives it up when the sweeper stops. `createPostgresLease`
 * implements it on the database's time.
 */
export interface SweepLease {
  acquire(): Promise<boolean>;
  release(): Promise<void>;
}

/** How often the console's rollups are pruned: their retentions are an hour and a day, so once a minute will do. */
export const PRUNE_INTERVAL_MS = 60_000;

/** The sweeper lease's time to live: three intervals, at least a second. */
export const sweepLeaseTtlMs = (intervalMs: number) => Math.max(3 * intervalMs, 1000);

/**
 * Every `intervalMs`: marks holds past their expiry `expired`, returning their seats, and purges Idempotency-Key
 * answers past their retention. Neither is needed for correctness (reads and decisions treat a hold as expired
 * from its expiry on; a key past its retention counts as absent), so a failed round is logged and the next one
 * tries again. Every API process runs one, and one at a time sweeps: each round first takes or renews the lease,
 * and a process that does not hold it skips the round, so N processes do not all commit the same expiries every
 * interval. A holder that stops renewing (stopped, stalled, cut off) is replaced once its lease runs out; two
 * sweeping at once meanwhile is harmless, as the commits are version-guarded and each hold's seats come back
 * exactly once. Expiry notifications need nothing from here: the webhook triggers record them in the statement
 * that marks the hold expired (migration 0006). About once a minute, after the sweep and the purge, a round also
 * prunes the console's rollups (`rollups`) of the rows past their retention: a bounded number of batches (see
 * ConsoleStore.pruneActivity), the rest on the next minute, so that a backlog (after a downtime) delays neither
 * the marking of expired holds nor a shutdown by much.
 */
export function startSweeper(deps: {
  reservations: ReservationService;
  idempotency: Idempotency;
  lease: SweepLease;
  intervalMs: number;
  /** The console's store, pruned as of the clock's time; absent: not pruned here. */
  rollups?: { readonly console: Pick<ConsoleStore, 'pruneActivity'>; readonly clock: Clock };
  logger: FastifyBaseLogger;
}): Sweeper {
  const { reservations, idempotency, lease, intervalMs, rollups, logger } = deps;
  /** The round in progress: at most one runs, and a tick that finds one skips (a stalled database must not pile
   * rounds up behind it, for shutdown to wait on). */
  let inProgress: Promise<void> | undefined;
  /** The round `runOnce` asked for while one was in progress, started when that one ends. */
  let next: Promise<void> | undefined;
  let stopped = false;
  /** Whether the last round found this process holding the lease (released on stop). */
  let holding = false;
  /** When the rollups were last pruned (or tried), by the rollups' clock. */
  let prunedAt: number | undefined;

  /** Prunes the rollups if a minute has passed and the sweeper is not stopping; a failure is logged. */
  async function pruneRollups(): Promise<void> {
    if (!rollups || stopped) return;
    const now = rollups.clock.now();
    if (prunedAt !== undefined && now.getTime() - prunedAt < PRUNE_INTERVAL_MS) return;
    prunedAt = now.getTime();
    try {
      const pruned = await rollups.console.pruneActivity(now);
      if (pruned > 0) logger.debug({ rows: pruned }, "pruned the console's rollups past their retention");
    } catch (err) {
      if (err instanceof StoreUnavailable) logger.debug({ err }, 'pruning failed: database unavailable');
      else logger.warn({ err }, "pruning the console's rollups failed; the next try is in a minute");
    }
  }

  /** Takes or renews the lease and, if held, sweeps and purges; answers whether this process holds the lease. */
  async function sweep(): Promise<boolean> {
    let held = false;
    try {
      held = await lease.acquire();
      if (held !== holding) logger.debug(held ? 'sweeper lease taken: this process sweeps' : 'sweeper lease lost');
      holding = held;
      if (!held) return false;
      const { expired } = await reservations.sweepExpiredHolds();
      if (expired.length > 0) logger.debug({ holds: expired.length }, 'expired holds marked, seats returned');
      const purged = await idempotency.purge();
      if (purged > 0) logger.debug({ keys: purged }, 'purged Idempotency-Key answers past their retention');
    } catch (err) {
      // A database outage is logged once, where it starts (database.ts), not once a round for as long as it lasts.
      if (err instanceof StoreUnavailable) logger.debug({ err }, 'sweep failed: database unavailable');
      else logger.warn({ err }, 'sweep failed; the next round will try again');
    }
    return held;
  }

  /** The rollups' pruning, the least urgent, last; tried even when the sweep failed, as it is work of its own. */
  async function round(): Promise<void> {
    if (await sweep()) await pruneRollups();
  }

  function begin(): Promise<void> {
    const current: Promise<void> = round().finally(() => {
      if (inProgress === current) inProgress = undefined;
    });
    inProgress = current;
    return current;
  }

  function runOnce(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (!inProgress) return begin();
    next ??= inProgress.then(() => {
      next = undefined;
      return stopped ? undefined : begin();
    });
    return next;
  }

  const timer =
    intervalMs > 0
      ? setInterval(() => {
          if (!inProgress) void begin();
        }, intervalMs)
      : undefined;
  timer?.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await inProgress;
      if (!holding) return;
      holding = false;
      // Without the release, another process would take over only once the lease runs out.
      await lease.release().catch((err: unknown) => logger.debug({ err }, 'sweeper lease not released'));
    },
  };
}
