import {
  dropPastDeadline,
  dropTooLarge,
  planChanges,
  recordedChanges,
  seatChangesOf,
  settleAll,
  settleEventMissing,
  settleGone,
  takeBatch,
  type Waiting,
} from './coalescer-batch.js';
import type { Event } from './event.js';
import {
  TransientFailure,
  type Clock,
  type CommitResult,
  type EventRepository,
  type IdempotencyClaim,
  type RecordedAnswer,
  type Timers,
} from './ports.js';
import type { Reservation } from './reservation.js';

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
  /**
   * The event as our last commit left it, to plan the next batch without a read; may be stale if another process
   * has written since (the version guard catches that). Forgotten with the queue: a busy event's queue is rarely
   * idle, and an idle one reads once on its next request.
   */
  lastKnown: Event | undefined;
}

export interface CoalescerStats {
  readonly commits: number;
  readonly changesCommitted: number;
  readonly versionConflicts: number;
  readonly largestBatch: number;
  /** Events with requests waiting or a commit in flight right now. */
  readonly queuedEvents: number;
}

/** Told of every commit as it happens, for metrics (batch sizes); must not throw. */
export interface CommitObserver {
  committed(changes: number): void;
  conflicted(): void;
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
 * event's state and applied by one version-guarded commit; a version conflict (another process wrote) re-reads
 * and re-plans, so a refusal is only ever decided on seats that were current when it was made. Per process; the
 * version guard keeps processes consistent with each other.
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
  const remembered = new Map<string, Event>();
  /** Wakes a request still queued at its deadline (behind a commit that hangs), to answer it `contended`. */
  const deadlineTimers = new Map<Waiting, () => void>();
  let commits = 0;
  let changesCommitted = 0;
  let versionConflicts = 0;
  let largestBatch = 0;

  function enqueue(eventId: string, waiting: Waiting): void {
    let queue = queues.get(eventId);
    if (!queue) {
      queue = { waiting: [], committing: false, lastKnown: remembered.get(eventId) };
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
        await decide(eventId, queue, batch);
      } catch (error) {
        // A failed commit applied nothing, unless its answer was lost and the database could not say (the
        // adapter checks when it can); either way its requests fail with the error, and the next batch goes on.
        queue.lastKnown = undefined;
        for (const waiting of batch) waiting.fail(error);
      }
    }
    queue.committing = false;
    // Drained and idle: nothing waits in it, and no deadline timer refers to it (each is cleared when its request
    // is taken into a batch). The next request for this event starts a new queue.
    queues.delete(eventId);
    if (queue.lastKnown) {
      remembered.set(eventId, queue.lastKnown);
      if (remembered.size > REMEMBERED_EVENTS) remembered.delete(remembered.keys().next().value!);
    }
  }

  /**
   * Decides a batch: plans it on the event's state, commits it, and answers each request; re-plans on a version
   * conflict (and on changes no longer possible, once those are answered) until every request is answered.
   */
  async function decide(eventId: string, queue: EventQueue, batch: Waiting[]): Promise<void> {
    let pending = batch;
    let state = queue.lastKnown;
    let fresh = false;
    for (;;) {
      pending = dropPastDeadline(pending, clock.now().getTime());
      if (pending.length === 0) return;
      if (!state) {
        const read = await readEvent(eventId);
        if (read === 'retry') continue; // nothing read; try again, or answer `contended` once past the deadline
        if (!read) return settleEventMissing(pending, eventId);
        state = read;
        fresh = true;
      }
      // Fixed when the event is created: any read of it will do.
      pending = dropTooLarge(pending, state.maxSeatsPerReservation);
      if (pending.length === 0) return;
      const { decisions, accepted, refusing, sweeping } = planChanges(pending, state.availableSeats);
      // Refuse, and sweep, only on a fresh read: seats may have come back through another process, or through
      // holds that expired since the state we hold was read.
      if ((refusing || sweeping) && !fresh) {
        state = undefined;
        continue;
      }
      // Each change as this commit records it: a hold's time runs from now, however long it queued.
      const final = recordedChanges(accepted, clock.now().getTime());
      if (accepted.length === 0 && !(sweeping && state.expiredHolds > 0)) {
        return settleAll(pending, decisions, { availableSeats: state.availableSeats, expired: [], final });
      }
      const result = await commit(state, accepted, final);
      switch (result.kind) {
        case 'committed':
          queue.lastKnown = result.event;
          return settleAll(pending, decisions, {
            availableSeats: result.event.availableSeats,
            expired: result.expired,
            final,
          });
        case 'version_conflict':
          // Re-plan on what the failed commit saw, if it saw something newer; it is not a fresh read.
          state = queue.lastKnown =
            result.current && result.current.version !== state.version ? result.current : undefined;
          fresh = false;
          continue;
        case 'not_active':
        case 'claim_lost':
          pending = settleGone(pending, result);
          if (result.kind === 'not_active') state = queue.lastKnown = undefined;
          continue;
      }
    }
  }

  /** The event as it is now; `retry` after a transient failure, which read nothing. */
  async function readEvent(eventId: string): Promise<Event | undefined | 'retry'> {
    try {
      return await repository.findEvent(eventId);
    } catch (error) {
      if (!(error instanceof TransientFailure)) throw error;
      return 'retry';
    }
  }

  /** One version-guarded commit of the accepted changes, counted. */
  async function commit(
    state: Event,
    accepted: readonly Waiting[],
    final: ReadonlyMap<Waiting, Reservation>,
  ): Promise<CommitResult> {
    largestBatch = Math.max(largestBatch, accepted.length);
    const result = await repository.commitChanges(state, seatChangesOf(accepted, final));
    if (result.kind === 'version_conflict') {
      versionConflicts += 1;
      observer?.conflicted();
    } else if (result.kind === 'committed') {
      commits += 1;
      changesCommitted += accepted.length;
      observer?.committed(accepted.length);
    }
    return result;
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
    stats: () => ({ commits, changesCommitted, versionConflicts, largestBatch, queuedEvents: queues.size }),
  };
}
