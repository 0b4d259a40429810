import { takeBatch, type Waiting } from './coalescer-batch.js';
import {
  createBatchDecider,
  newPoolMemory,
  type CommitObserver,
  type DecideCounters,
  type PoolMemory,
} from './coalescer-decide.js';
import type { Clock, EventRepository, IdempotencyClaim, RecordedAnswer, Timers } from './ports.js';
import type { Reservation } from './reservation.js';

export type { CommitObserver } from './coalescer-decide.js';

export type ReserveDecision =
  | { readonly kind: 'reserved'; readonly reservation: Reservation }
  | { readonly kind: 'insufficient_seats'; readonly availableSeats: number }
  | { readonly kind: 'event_not_found' }
  /** More seats than the event allows in one reservation. */
  | { readonly kind: 'invalid_seats'; readonly maxSeatsPerReservation: number }
  /** The request could not be decided within the allowed wait; nothing was changed for it. */
  | { readonly kind: 'contended' }
  /** Its Idempotency-Key was taken over by another request (this one outlived its lease): nothing was changed. */
  | { readonly kind: 'claim_lost' };

export type CancelDecision =
  | { readonly kind: 'cancelled'; readonly reservation: Reservation }
  /** It no longer takes seats (cancelled or expired meanwhile): nothing was changed. */
  | { readonly kind: 'already_cancelled' }
  | { readonly kind: 'contended' };

export type ConfirmDecision =
  | { readonly kind: 'confirmed'; readonly reservation: Reservation }
  /** It was no longer a live hold (expired, cancelled or confirmed meanwhile): nothing was changed. */
  | { readonly kind: 'not_live' }
  | { readonly kind: 'contended' }
  | { readonly kind: 'claim_lost' };

export type SweepDecision =
  | { readonly kind: 'swept'; readonly expired: readonly Reservation[] }
  | { readonly kind: 'event_not_found' }
  | { readonly kind: 'contended' };

/**
 * An Idempotency-Key claim and how to render the answer the change will get: rendered when the change is
 * committed, and recorded by that commit (so a change never exists without its answer, nor an answer without
 * its change).
 */
export interface ReceiptRequest {
  readonly claim: IdempotencyClaim;
  readonly render: (reservation: Reservation) => RecordedAnswer;
}

/** How many idle events' last known states a coalescer keeps (a few hundred bytes each). */
export const REMEMBERED_EVENTS = 1024;

/**
 * An event's queue lives while it has requests waiting or a commit in flight, and is forgotten once drained: a
 * queue per event id ever asked for would let any partner grow the process's memory with unknown ids.
 */
interface EventQueue {
  waiting: Waiting[];
  committing: boolean;
  /** The event's pool and its last known state (see PoolMemory), kept while the event is remembered. */
  memory: PoolMemory;
}

export interface CoalescerStats {
  readonly commits: number;
  readonly changesCommitted: number;
  readonly versionConflicts: number;
  readonly largestBatch: number;
  /** Rebalances of an event's seat pools, asked for when a pool could not cover a reservation. */
  readonly rebalances: number;
  /** Moves to another pool after repeated conflicts with another process on the same one. */
  readonly poolMoves: number;
  /** Events with requests waiting or a commit in flight right now. */
  readonly queuedEvents: number;
}

export interface Coalescer {
  /**
   * Records the reservation, or the hold: a hold lasts from the commit that takes its seats for as long as its
   * `expiresAt - createdAt` says, so time spent queued does not shorten it.
   */
  reserve(reservation: Reservation, deadline: number, receipt?: ReceiptRequest): Promise<ReserveDecision>;
  cancel(reservation: Reservation, deadline: number): Promise<CancelDecision>;
  /** Confirms a hold, its seats staying taken. */
  confirm(reservation: Reservation, deadline: number, receipt?: ReceiptRequest): Promise<ConfirmDecision>;
  /** Marks the event's holds past their expiry `expired` and returns their seats, if it has any. */
  sweep(eventId: string, deadline: number): Promise<SweepDecision>;
  stats(): CoalescerStats;
}

/**
 * Coalesces changes per event: while one commit for an event is in flight, the changes that arrive wait, and the
 * next commit takes all of them at once. There is no timer: a batch is exactly what queued up during the
 * previous commit, so an idle event commits a lone request at once. Each batch is planned by `planBatch` on the
 * process's seat pool of the event and applied by one commit guarded by that pool's version (see
 * coalescer-decide.ts): processes on different pools do not invalidate each other, a version conflict re-reads and
 * re-plans, and a refusal is only ever decided on all the event's seats at one instant. Per process; the version
 * guards keep processes consistent with each other.
 */
export function createCoalescer(deps: {
  repository: EventRepository;
  clock: Clock;
  timers?: Timers;
  observer?: CommitObserver;
}): Coalescer {
  const { repository, clock, timers, observer } = deps;
  const queues = new Map<string, EventQueue>();
  /**
   * The last known state of events whose queues were forgotten, most recent last, at most REMEMBERED_EVENTS: a
   * client that sends one request after another finds its event here and commits without a read first, as it
   * did while queues lived forever. Only events that exist get here, so unknown ids cannot grow it.
   */
  const remembered = new Map<string, PoolMemory>();
  /** Wakes a request still queued at its deadline (behind a commit that hangs), to answer it `contended`. */
  const deadlineTimers = new Map<Waiting, () => void>();
  const counters: DecideCounters = {
    commits: 0,
    changesCommitted: 0,
    versionConflicts: 0,
    largestBatch: 0,
    rebalances: 0,
    poolMoves: 0,
  };
  const decide = createBatchDecider({ repository, clock, observer, counters });

  function enqueue(eventId: string, waiting: Waiting): void {
    let queue = queues.get(eventId);
    if (!queue) {
      queue = { waiting: [], committing: false, memory: remembered.get(eventId) ?? newPoolMemory() };
      remembered.delete(eventId);
      queues.set(eventId, queue);
    }
    queue.waiting.push(waiting);
    if (timers) {
      const owner = queue;
      const delay = Math.max(0, waiting.deadline - clock.now().getTime()) + 1;
      deadlineTimers.set(
        waiting,
        timers.after(delay, () => {
          deadlineTimers.delete(waiting);
          const index = owner.waiting.indexOf(waiting);
          if (index < 0) return; // already taken into a batch, which will answer it
          owner.waiting.splice(index, 1);
          waiting.settle({ kind: 'contended' });
        }),
      );
    }
    if (!queue.committing) void drain(eventId, queue);
  }

  async function drain(eventId: string, queue: EventQueue): Promise<void> {
    queue.committing = true;
    while (queue.waiting.length > 0) {
      const { batch, later } = takeBatch(queue.waiting);
      queue.waiting = later;
      for (const waiting of batch) {
        deadlineTimers.get(waiting)?.();
        deadlineTimers.delete(waiting);
      }
      try {
        await decide(eventId, queue.memory, batch);
      } catch (error) {
        // A failed commit applied nothing, unless its answer was lost and the database could not say (the
        // adapter checks when it can); either way its requests fail with the error, and the next batch goes on.
        queue.memory.lastKnown = undefined;
        for (const waiting of batch) waiting.fail(error);
      }
    }
    queue.committing = false;
    // Drained and idle: nothing waits in it, and no deadline timer refers to it (each is cleared when its request
    // is taken into a batch). The next request for this event starts a new queue.
    queues.delete(eventId);
    if (queue.memory.pool !== undefined) {
      remembered.set(eventId, queue.memory);
      if (remembered.size > REMEMBERED_EVENTS) remembered.delete(remembered.keys().next().value!);
    }
  }

  return {
    reserve(reservation, deadline, receipt) {
      return new Promise((settle, fail) =>
        enqueue(reservation.eventId, { kind: 'reserve', reservation, deadline, receipt, settle, fail }),
      );
    },
    cancel(reservation, deadline) {
      return new Promise((settle, fail) =>
        enqueue(reservation.eventId, { kind: 'cancel', reservation, deadline, settle, fail }),
      );
    },
    confirm(reservation, deadline, receipt) {
      return new Promise((settle, fail) =>
        enqueue(reservation.eventId, { kind: 'confirm', reservation, deadline, receipt, settle, fail }),
      );
    },
    sweep(eventId, deadline) {
      return new Promise((settle, fail) => enqueue(eventId, { kind: 'sweep', deadline, settle, fail }));
    },
    stats: () => ({ ...counters, queuedEvents: queues.size }),
  };
}
