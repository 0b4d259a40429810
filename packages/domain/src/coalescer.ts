import type { Event } from './event.js';
import { planBatch, type ChangeDecision, type PlannedChange } from './plan-batch.js';
import { TransientFailure, type Clock, type EventRepository, type Timers } from './ports.js';
import type { Reservation } from './reservation.js';

export type ReserveDecision =
  | { readonly kind: 'reserved'; readonly reservation: Reservation }
  | { readonly kind: 'insufficient_seats'; readonly availableSeats: number }
  | { readonly kind: 'event_not_found' }
  /** More seats than the event allows in one reservation. */
  | { readonly kind: 'invalid_seats'; readonly maxSeatsPerReservation: number }
  /** The request could not be decided within the allowed wait; nothing was changed for it. */
  | { readonly kind: 'contended' };

export type CancelDecision =
  | { readonly kind: 'cancelled'; readonly reservation: Reservation }
  | { readonly kind: 'already_cancelled' }
  | { readonly kind: 'contended' };

type Waiting = (
  | { readonly kind: 'reserve'; readonly settle: (decision: ReserveDecision) => void }
  | { readonly kind: 'cancel'; readonly settle: (decision: CancelDecision) => void }
) & {
  /** The reservation to record, or the active one to cancel. */
  readonly reservation: Reservation;
  readonly deadline: number;
  readonly fail: (error: unknown) => void;
};

function plannedChange({ kind, reservation }: Waiting): PlannedChange {
  return kind === 'reserve'
    ? { kind, seats: reservation.seats }
    : { kind, reservationId: reservation.reservationId, seats: reservation.seats };
}

interface EventQueue {
  waiting: Waiting[];
  committing: boolean;
  /** The event as our last commit left it; may be stale if another process has written since. */
  lastKnown: Event | undefined;
}

export interface CoalescerStats {
  readonly commits: number;
  readonly changesCommitted: number;
  readonly versionConflicts: number;
  readonly largestBatch: number;
}

/** Told of every commit as it happens, for metrics (batch sizes); must not throw. */
export interface CommitObserver {
  committed(changes: number): void;
  conflicted(): void;
}

export interface Coalescer {
  reserve(reservation: Reservation, deadline: number): Promise<ReserveDecision>;
  cancel(reservation: Reservation, deadline: number): Promise<CancelDecision>;
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
  /** Wakes a request still queued at its deadline (behind a commit that hangs), to answer it `contended`. */
  const deadlineTimers = new Map<Waiting, () => void>();
  let commits = 0;
  let changesCommitted = 0;
  let versionConflicts = 0;
  let largestBatch = 0;

  function enqueue(eventId: string, waiting: Waiting): void {
    let queue = queues.get(eventId);
    if (!queue) {
      queue = { waiting: [], committing: false, lastKnown: undefined };
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
      const batch = queue.waiting.splice(0);
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
  }

  async function decide(eventId: string, queue: EventQueue, batch: Waiting[]): Promise<void> {
    let pending = batch;
    let state = queue.lastKnown;
    let fresh = false;
    for (;;) {
      const now = clock.now().getTime();
      pending = pending.filter((waiting) => {
        if (now <= waiting.deadline) return true;
        waiting.settle({ kind: 'contended' });
        return false;
      });
      if (pending.length === 0) return;
      if (!state) {
        try {
          state = await repository.findEvent(eventId);
        } catch (error) {
          if (!(error instanceof TransientFailure)) throw error;
          continue; // nothing read; try again, or answer `contended` once past the deadline
        }
        fresh = true;
        if (!state) {
          for (const waiting of pending) {
            if (waiting.kind === 'reserve') waiting.settle({ kind: 'event_not_found' });
            else
              waiting.fail(
                new Error(`event ${eventId} of reservation ${waiting.reservation.reservationId} is missing`),
              );
          }
          return;
        }
      }
      const { maxSeatsPerReservation } = state; // fixed when the event is created: any read of it will do
      pending = pending.filter((waiting) => {
        if (waiting.kind !== 'reserve' || waiting.reservation.seats <= maxSeatsPerReservation) return true;
        waiting.settle({ kind: 'invalid_seats', maxSeatsPerReservation });
        return false;
      });
      if (pending.length === 0) return;
      const plan = planBatch(state.availableSeats, pending.map(plannedChange));
      const accepted = pending.filter((_, index) => plan.decisions[index] === 'accept');
      if (accepted.length === 0 && !fresh) {
        // Refuse only on a fresh read: seats may have come back through another process.
        state = undefined;
        continue;
      }
      let committed = state;
      if (accepted.length > 0) {
        largestBatch = Math.max(largestBatch, accepted.length);
        const result = await repository.commitChanges(state, {
          reservations: accepted.filter((w) => w.kind === 'reserve').map((w) => w.reservation),
          cancellations: accepted.filter((w) => w.kind === 'cancel').map((w) => w.reservation),
        });
        if (result.kind === 'version_conflict') {
          versionConflicts += 1;
          observer?.conflicted();
          // Re-plan on what the failed commit saw, if it saw something newer; it is not a fresh read.
          const seen = result.current && result.current.version !== state.version ? result.current : undefined;
          state = queue.lastKnown = seen;
          fresh = false;
          continue;
        }
        if (result.kind === 'not_active') {
          const gone = new Set(result.reservationIds);
          pending = pending.filter((waiting) => {
            if (waiting.kind !== 'cancel' || !gone.has(waiting.reservation.reservationId)) return true;
            waiting.settle({ kind: 'already_cancelled' });
            return false;
          });
          state = queue.lastKnown = undefined;
          continue;
        }
        commits += 1;
        changesCommitted += accepted.length;
        observer?.committed(accepted.length);
        committed = queue.lastKnown = result.event;
      }
      pending.forEach((waiting, index) => settle(waiting, plan.decisions[index]!, committed.availableSeats));
      return;
    }
  }

  function settle(waiting: Waiting, decision: ChangeDecision, availableSeats: number): void {
    if (waiting.kind === 'reserve') {
      waiting.settle(
        decision === 'accept'
          ? { kind: 'reserved', reservation: waiting.reservation }
          : { kind: 'insufficient_seats', availableSeats },
      );
    } else {
      waiting.settle(
        decision === 'accept'
          ? { kind: 'cancelled', reservation: { ...waiting.reservation, status: 'cancelled' } }
          : { kind: 'already_cancelled' },
      );
    }
  }

  return {
    reserve(reservation, deadline) {
      return new Promise((settle, fail) =>
        enqueue(reservation.eventId, { kind: 'reserve', reservation, deadline, settle, fail }),
      );
    },
    cancel(reservation, deadline) {
      return new Promise((settle, fail) =>
        enqueue(reservation.eventId, { kind: 'cancel', reservation, deadline, settle, fail }),
      );
    },
    stats: () => ({ commits, changesCommitted, versionConflicts, largestBatch }),
  };
}
