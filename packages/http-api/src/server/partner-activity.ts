import {
  PARTNER_ACTIVITY_RETENTION_MS,
  StoreUnavailable,
  type Clock,
  type ConsoleStore,
  type PartnerActivityCount,
  type ReserveSeatsOutcome,
} from '@ticketboss/domain';
import type { FastifyBaseLogger } from 'fastify';

/**
 * What this process answered each partner, per minute, for the console's partners table: counted here and added to
 * the database about once a second, since a 429 must cost no database write of its own. The counts of every API
 * process add up in partner_activity, so any process shows the same table.
 */
export interface PartnerActivityRecorder {
  /** A request of the partner's was answered with `statusCode` (429: refused by the rate limit). */
  answered(partnerId: string, statusCode: number): void;
  /**
   * A reservation or hold the partner asked for was decided now: counted when made, or refused for lack of seats.
   * Only fresh decisions are passed here: a replay of an Idempotency-Key decided nothing again.
   */
  decided(partnerId: string, outcome: ReserveSeatsOutcome): void;
  /** Adds what was counted so far to the database; on failure keeps it for the next flush. Never rejects. */
  flush(): Promise<void>;
  /** Stops the timer and flushes one last time. */
  close(): Promise<void>;
}

export const PARTNER_ACTIVITY_FLUSH_MS = 1000;

const MINUTE_MS = 60_000;

type Counts = { -readonly [K in keyof PartnerActivityCount]: PartnerActivityCount[K] };

export function createPartnerActivityRecorder(deps: {
  readonly store: Pick<ConsoleStore, 'addPartnerActivity'>;
  /** The services' clock (the database's time): it decides a count's minute. */
  readonly clock: Clock;
  readonly logger: FastifyBaseLogger;
  /** How often the timer flushes (default 1 s); 0 for no timer (tests flush by hand). */
  readonly flushIntervalMs?: number;
}): PartnerActivityRecorder {
  const { store, clock, logger, flushIntervalMs = PARTNER_ACTIVITY_FLUSH_MS } = deps;
  /** Counts not yet in the database, by minute, then partner. */
  let pending = new Map<number, Map<string, Counts>>();
  /** The flush in progress, or the last one: flushes run one after the other. */
  let flushing: Promise<void> = Promise.resolve();
  let busy = false;
  /** Whether the last flush failed: a failure is logged at warn when a run of them starts, then at debug. */
  let failing = false;

  function countsOf(partnerId: string, at: Date): Counts {
    const minute = Math.floor(at.getTime() / MINUTE_MS) * MINUTE_MS;
    let partners = pending.get(minute);
    if (!partners) pending.set(minute, (partners = new Map<string, Counts>()));
    let counts = partners.get(partnerId);
    if (!counts) {
      counts = {
        partnerId,
        minute: new Date(minute),
        requests: 0,
        reservations: 0,
        seats: 0,
        refusals: 0,
        rateLimited: 0,
        lastRequestAt: at,
      };
      partners.set(partnerId, counts);
    }
    return counts;
  }

  /** Puts counts that did not reach the database back with those counted meanwhile. */
  function keep(taken: readonly PartnerActivityCount[]): void {
    for (const count of taken) {
      const counts = countsOf(count.partnerId, count.minute);
      counts.requests += count.requests;
      counts.reservations += count.reservations;
      counts.seats += count.seats;
      counts.refusals += count.refusals;
      counts.rateLimited += count.rateLimited;
      if (count.lastRequestAt > counts.lastRequestAt) counts.lastRequestAt = count.lastRequestAt;
    }
    // Bounded while the database stays away: minutes the database would have pruned by now are let go.
    const oldest = clock.now().getTime() - PARTNER_ACTIVITY_RETENTION_MS - MINUTE_MS;
    for (const minute of pending.keys()) if (minute < oldest) pending.delete(minute);
  }

  async function flushOnce(): Promise<void> {
    if (pending.size === 0) return;
    const taken = [...pending.values()].flatMap((partners) => [...partners.values()]);
    pending = new Map();
    try {
      await store.addPartnerActivity(taken);
      if (failing) logger.info('partner activity flushed again');
      failing = false;
    } catch (err) {
      keep(taken);
      // A database outage is logged once, where it starts (database.ts); anything else once per run of failures.
      const quiet = failing || err instanceof StoreUnavailable;
      logger[quiet ? 'debug' : 'warn']({ err }, 'partner activity not flushed; kept for the next flush');
      failing = true;
    }
  }

  function flush(): Promise<void> {
    busy = true;
    const current = flushing.then(flushOnce).finally(() => {
      if (flushing === current) busy = false;
    });
    flushing = current;
    return current;
  }

  // A tick that finds a flush still waiting on the database skips: ticks must not pile up behind a stalled one.
  const timer =
    flushIntervalMs > 0
      ? setInterval(() => {
          if (!busy) void flush();
        }, flushIntervalMs)
      : undefined;
  timer?.unref();

  return {
    answered(partnerId, statusCode) {
      const at = clock.now();
      const counts = countsOf(partnerId, at);
      counts.requests += 1;
      if (statusCode === 429) counts.rateLimited += 1;
      if (at > counts.lastRequestAt) counts.lastRequestAt = at;
    },
    decided(partnerId, outcome) {
      if (outcome.kind !== 'reserved' && outcome.kind !== 'insufficient_seats') return;
      const counts = countsOf(partnerId, clock.now());
      if (outcome.kind === 'insufficient_seats') counts.refusals += 1;
      else {
        counts.reservations += 1;
        counts.seats += outcome.reservation.seats;
      }
    },
    flush,
    async close() {
      if (timer) clearInterval(timer);
      await flush();
      if (pending.size > 0) logger.warn('partner activity of the last second not flushed; the console misses it');
    },
  };
}
