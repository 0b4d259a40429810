// How the coalescer decides one batch for one event: on which seat pool, when to rebalance, when to read again,
// and when to move to another pool. Apart from the coalescer's queues, so that each reads on its own.
import {
  dropPastDeadline,
  dropTooLarge,
  planChanges,
  recordedChanges,
  seatChangesOf,
  settleAll,
  settleEventMissing,
  settleGone,
  type Waiting,
} from './coalescer-batch.js';
import { TransientFailure, type Clock, type CommitResult, type EventRepository } from './ports.js';
import type { Reservation } from './reservation.js';
import type { SeatPool } from './seat-pool.js';

/**
 * After this many version conflicts in a row caused by another commit on the same pool (another process working on
 * it), the event's next batch moves to another pool.
 */
export const MOVE_AFTER_COLLISIONS = 2;

/** What a coalescer knows of one event between batches. */
export interface PoolMemory {
  /** The pool as our last commit left it, to plan the next batch without a read; the version guard catches staleness. */
  lastKnown: SeatPool | undefined;
  /** The pool this process works on for the event, once one is chosen. */
  pool: number | undefined;
  /** A pool to move away from: the next read lets the adapter choose another. */
  avoid: number | undefined;
  /** Version conflicts in a row caused by other commits on our pool. */
  collisions: number;
}

export const newPoolMemory = (): PoolMemory => ({
  lastKnown: undefined,
  pool: undefined,
  avoid: undefined,
  collisions: 0,
});

/** Told of every commit and rebalance as it happens, for metrics (batch sizes); must not throw. */
export interface CommitObserver {
  committed(changes: number): void;
  conflicted(): void;
  rebalanced?(): void;
}

export interface DecideCounters {
  commits: number;
  changesCommitted: number;
  versionConflicts: number;
  largestBatch: number;
  rebalances: number;
  poolMoves: number;
}

const asked = (pending: readonly Waiting[]) =>
  pending.flatMap((w) => (w.kind === 'reserve' ? [w.reservation.seats] : []));

/** A transient failure read or moved nothing: `retry` says so, to try again (or answer `contended` past the deadline). */
async function orRetry<T>(operation: () => Promise<T>): Promise<T | 'retry'> {
  try {
    return await operation();
  } catch (error) {
    if (!(error instanceof TransientFailure)) throw error;
    return 'retry';
  }
}

/**
 * Decides a batch: plans it on the event's pool, rebalances the pools when the pool cannot cover a reservation,
 * commits, and answers each request; re-plans on a version conflict (and on changes no longer possible, once those
 * are answered) until every request is answered. A reservation is refused only on a pool a rebalance found holding
 * every available seat of the event: never while seats remain anywhere.
 */
export function createBatchDecider(deps: {
  repository: EventRepository;
  clock: Clock;
  observer?: CommitObserver;
  counters: DecideCounters;
}) {
  const { repository, clock, observer, counters } = deps;

  async function commit(
    state: SeatPool,
    accepted: readonly Waiting[],
    final: ReadonlyMap<Waiting, Reservation>,
  ): Promise<CommitResult> {
    counters.largestBatch = Math.max(counters.largestBatch, accepted.length);
    const result = await repository.commitChanges(state, seatChangesOf(accepted, final));
    if (result.kind === 'version_conflict') {
      counters.versionConflicts += 1;
      observer?.conflicted();
    } else if (result.kind === 'committed') {
      counters.commits += 1;
      counters.changesCommitted += accepted.length;
      observer?.committed(accepted.length);
    }
    return result;
  }

  return async function decide(eventId: string, memory: PoolMemory, batch: Waiting[]): Promise<void> {
    let pending = batch;
    let state = memory.lastKnown;
    let fresh = false;
    for (;;) {
      pending = dropPastDeadline(pending, clock.now().getTime());
      if (pending.length === 0) return;
      if (!state) {
        const choice = memory.pool === undefined ? { avoid: memory.avoid } : { pool: memory.pool };
        const read = await orRetry(() => repository.findSeatPool(eventId, choice));
        if (read === 'retry') continue;
        if (!read) return settleEventMissing(pending, eventId);
        state = read;
        memory.pool = read.pool;
        memory.avoid = undefined;
        fresh = true;
      }
      // Fixed when the event is created: any read of it will do.
      pending = dropTooLarge(pending, state.maxSeatsPerReservation);
      if (pending.length === 0) return;
      const { decisions, accepted, refusing, sweeping } = planChanges(pending, state.availableSeats);
      if (refusing && !state.whole) {
        // Seats may be in other pools (or back through holds that expired): gather them, under a lock of all pools.
        const pool = state.pool;
        const seats = asked(pending);
        const moved = await orRetry(() =>
          repository.rebalanceSeats(
            eventId,
            pool,
            seats.reduce((a, b) => a + b, 0),
            Math.min(...seats),
          ),
        );
        if (moved === 'retry') continue;
        if (!moved) return settleEventMissing(pending, eventId);
        counters.rebalances += 1;
        observer?.rebalanced?.();
        state = moved;
        fresh = true;
        continue;
      }
      // Sweep only on a fresh read: holds may have expired since the state we hold was read.
      if (sweeping && !fresh) {
        state = undefined;
        continue;
      }
      // Each change as this commit records it: a hold's time runs from now, however long it queued.
      const final = recordedChanges(accepted, clock.now().getTime());
      if (accepted.length === 0 && !(sweeping && state.expiredHolds > 0)) {
        memory.lastKnown = { ...state, whole: false };
        return settleAll(pending, decisions, { availableSeats: state.availableSeats, expired: [], final });
      }
      const result = await commit(state, accepted, final);
      switch (result.kind) {
        case 'committed':
          memory.lastKnown = result.pool;
          memory.collisions = 0;
          return settleAll(pending, decisions, {
            availableSeats: result.pool.availableSeats,
            expired: result.expired,
            final,
          });
        case 'version_conflict': {
          // Another commit on this pool (a newer version) is a collision with another process; the seats no longer
          // fitting (the same version: a rebalance took some) is not.
          const collided = result.current !== undefined && result.current.version !== state.version;
          memory.collisions = collided ? memory.collisions + 1 : 0;
          if (memory.collisions >= MOVE_AFTER_COLLISIONS) {
            counters.poolMoves += 1;
            memory.avoid = state.pool;
            memory.pool = undefined;
            memory.collisions = 0;
            state = memory.lastKnown = undefined;
          } else {
            // Re-plan on what the failed commit saw, if it saw something newer; it is not a fresh read.
            state = memory.lastKnown = collided ? { ...result.current, whole: false } : undefined;
          }
          fresh = false;
          continue;
        }
        case 'not_active':
        case 'claim_lost':
          pending = settleGone(pending, result);
          if (result.kind === 'not_active') state = memory.lastKnown = undefined;
          continue;
      }
    }
  };
}
