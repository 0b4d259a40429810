import { StoreUnavailable, type Idempotency, type Reservation, type ReservationService } from '@ticketboss/domain';
import type { FastifyBaseLogger } from 'fastify';

export interface Sweeper {
  /** Runs one round now, or after the one in progress if any; once stopped, runs none. */
  runOnce(): Promise<void>;
  /** Stops the timer and waits for the round in progress, and for no other. */
  stop(): Promise<void>;
}

/**
 * Every `intervalMs`: marks holds past their expiry `expired`, returning their seats, and purges Idempotency-Key
 * answers past their retention. Neither is needed for correctness (reads and decisions treat a hold as expired
 * from its expiry on; a key past its retention counts as absent), so a failed round is logged and the next one
 * tries again. Every API process runs one: the commits are version-guarded, so each hold's seats come back
 * exactly once however many sweep at the same moment. `onExpired` is where expiry notifications will hook in.
 */
export function startSweeper(deps: {
  reservations: ReservationService;
  idempotency: Idempotency;
  intervalMs: number;
  logger: FastifyBaseLogger;
  onExpired?: (expired: readonly Reservation[]) => void;
}): Sweeper {
  const { reservations, idempotency, intervalMs, logger, onExpired } = deps;
  /** The round in progress: at most one runs, and a tick that finds one skips (a stalled database must not pile
   * rounds up behind it, for shutdown to wait on). */
  let inProgress: Promise<void> | undefined;
  /** The round `runOnce` asked for while one was in progress, started when that one ends. */
  let next: Promise<void> | undefined;
  let stopped = false;

  async function round(): Promise<void> {
    try {
      const { expired } = await reservations.sweepExpiredHolds();
      if (expired.length > 0) {
        logger.debug({ holds: expired.length }, 'expired holds marked, seats returned');
        onExpired?.(expired);
      }
      const purged = await idempotency.purge();
      if (purged > 0) logger.debug({ keys: purged }, 'purged Idempotency-Key answers past their retention');
    } catch (err) {
      // A database outage is logged once, where it starts (database.ts), not once a round for as long as it lasts.
      if (err instanceof StoreUnavailable) logger.debug({ err }, 'sweep failed: database unavailable');
      else logger.warn({ err }, 'sweep failed; the next round will try again');
    }
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
      return inProgress;
    },
  };
}
