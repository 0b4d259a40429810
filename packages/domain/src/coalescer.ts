import type { Event } from './event.js';
import { planBatch, type ChangeDecision, type PlannedChange } from './plan-batch.js';
import {
  TransientFailure,
  type Clock,
  type EventRepository,
  type IdempotencyClaim,
  type Receipt,
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

type Waiting = (
  | { readonly kind: 'reserve'; readonly reservation: Reservation; readonly settle: (d: ReserveDecision) => void }
  | { readonly kind: 'cancel'; readonly reservation: Reservation; readonly settle: (d: CancelDecision) => void }
  | { readonly kind: 'confirm'; readonly reservation: Reservation; readonly settle: (d: ConfirmDecision) => void }
  | { readonly kind: 'sweep'; readonly settle: (d: SweepDecision) => void }
) & {
  readonly deadline: number;
  /** The Idempotency-Key answer to record with the change. */
  readonly receipt?: ReceiptRequest;
  readonly fail: (error: unknown) => void;
};

type SeatChange = Extract<Waiting, { kind: 'reserve' | 'cancel' }>;

function plannedChange({ kind, reservation }: SeatChange): PlannedChange {
  return kind === 'reserve'
    ? { kind, seats: reservation.seats }
    : { kind, reservationId: reservation.reservationId, seats: reservation.seats };
}

const isSeatChange = (waiting: Waiting): waiting is SeatChange =>
  waiting.kind === 'reserve' || waiting.kind === 'cancel';
const idOf = (waiting: Waiting): string | undefined =>
  waiting.kind === 'sweep' ? undefined : waiting.reservation.reservationId;

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

  /**
   * The queued requests one commit takes: all of them, except that a commit confirms a reservation at most once and
   * never both confirms and cancels one (it changes each reservation once). Those wait for the next commit, which
   * decides them on what this one did. (Repeated cancellations stay: the plan answers all but the first.)
   */
  function takeBatch(queue: EventQueue): Waiting[] {
    const confirming = new Set<string>();
    const cancelling = new Set<string>();
    const batch: Waiting[] = [];
    const later: Waiting[] = [];
    for (const waiting of queue.waiting) {
      if (waiting.kind === 'confirm' || waiting.kind === 'cancel') {
        const id = waiting.reservation.reservationId;
        if (confirming.has(id) || (waiting.kind === 'confirm' && cancelling.has(id))) {
          later.push(waiting);
          continue;
        }
        (waiting.kind === 'confirm' ? confirming : cancelling).add(id);
      }
      batch.push(waiting);
    }
    queue.waiting = later;
    return batch;
  }

  async function drain(eventId: string, queue: EventQueue): Promise<void> {
    queue.committing = true;
    while (queue.waiting.length > 0) {
      const batch = takeBatch(queue);
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
            if (waiting.kind === 'reserve' || waiting.kind === 'sweep') waiting.settle({ kind: 'event_not_found' });
            else waiting.fail(new Error(`event ${eventId} of reservation ${idOf(waiting)} is missing`));
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
      const seatChanges = pending.filter(isSeatChange);
      const plan = planBatch(state.availableSeats, seatChanges.map(plannedChange));
      const decisions = new Map<Waiting, ChangeDecision>(seatChanges.map((w, index) => [w, plan.decisions[index]!]));
      const accepted = pending.filter((w) => w.kind === 'confirm' || decisions.get(w) === 'accept');
      const refusing = seatChanges.some((w) => w.kind === 'reserve' && decisions.get(w) !== 'accept');
      const sweeping = pending.some((w) => w.kind === 'sweep');
      // Refuse, and sweep, only on a fresh read: seats may have come back through another process, or through
      // holds that expired since the state we hold was read.
      if ((refusing || sweeping) && !fresh) {
        state = undefined;
        continue;
      }
      let committed = state;
      let expired: readonly Reservation[] = [];
      // Each change as this commit records it: a hold's time runs from now, however long it queued.
      const commitAt = clock.now().getTime();
      const final = new Map<Waiting, Reservation>(
        accepted.flatMap((w) => (w.kind === 'sweep' ? [] : [[w, recorded(w, commitAt)] as const])),
      );
      if (accepted.length > 0 || (sweeping && state.expiredHolds > 0)) {
        largestBatch = Math.max(largestBatch, accepted.length);
        const finalOf = (kind: Waiting['kind']) => accepted.filter((w) => w.kind === kind).map((w) => final.get(w)!);
        const result = await repository.commitChanges(state, {
          reservations: finalOf('reserve'),
          cancellations: finalOf('cancel'),
          confirmations: finalOf('confirm'),
          receipts: accepted.flatMap((w): Receipt[] => {
            const reservation = final.get(w)!;
            return w.receipt
              ? [
                  {
                    reservationId: reservation.reservationId,
                    claim: w.receipt.claim,
                    answer: w.receipt.render(reservation),
                  },
                ]
              : [];
          }),
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
        if (result.kind === 'not_active' || result.kind === 'claim_lost') {
          const gone = new Set(result.reservationIds);
          pending = pending.filter((waiting) => {
            const id = idOf(waiting);
            if (id === undefined || !gone.has(id)) return true;
            if (result.kind === 'claim_lost') settleClaimLost(waiting);
            else if (waiting.kind === 'cancel') waiting.settle({ kind: 'already_cancelled' });
            else if (waiting.kind === 'confirm') waiting.settle({ kind: 'not_live' });
            else waiting.fail(new Error(`new reservation ${id} reported as not active`));
            return false;
          });
          if (result.kind === 'not_active') state = queue.lastKnown = undefined;
          continue;
        }
        commits += 1;
        changesCommitted += accepted.length;
        observer?.committed(accepted.length);
        committed = queue.lastKnown = result.event;
        expired = result.expired;
      }
      for (const waiting of pending) {
        settle(waiting, decisions.get(waiting), committed.availableSeats, expired, final.get(waiting));
      }
      return;
    }
  }

  function settleClaimLost(waiting: Waiting): void {
    if (waiting.kind === 'reserve' || waiting.kind === 'confirm') waiting.settle({ kind: 'claim_lost' });
    else waiting.fail(new Error('a change without a receipt lost its claim'));
  }

  /** The reservation as a commit at `commitAt` records it. */
  function recorded(waiting: Exclude<Waiting, { kind: 'sweep' }>, commitAt: number): Reservation {
    const { reservation } = waiting;
    switch (waiting.kind) {
      case 'reserve': {
        if (reservation.status !== 'held' || !reservation.expiresAt) return reservation;
        const holdMs = reservation.expiresAt.getTime() - reservation.createdAt.getTime();
        return { ...reservation, expiresAt: new Date(Math.max(commitAt, reservation.createdAt.getTime()) + holdMs) };
      }
      case 'cancel':
        return reservation;
      case 'confirm':
        return { ...reservation, status: 'confirmed' };
    }
  }

  function settle(
    waiting: Waiting,
    decision: ChangeDecision | undefined,
    availableSeats: number,
    expired: readonly Reservation[],
    reservation: Reservation | undefined,
  ): void {
    switch (waiting.kind) {
      case 'reserve':
        return waiting.settle(
          decision === 'accept'
            ? { kind: 'reserved', reservation: reservation ?? waiting.reservation }
            : { kind: 'insufficient_seats', availableSeats },
        );
      case 'cancel':
        return waiting.settle(
          decision === 'accept'
            ? { kind: 'cancelled', reservation: { ...waiting.reservation, status: 'cancelled' } }
            : { kind: 'already_cancelled' },
        );
      case 'confirm':
        return waiting.settle({
          kind: 'confirmed',
          reservation: reservation ?? { ...waiting.reservation, status: 'confirmed' },
        });
      case 'sweep':
        return waiting.settle({ kind: 'swept', expired });
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
    stats: () => ({ commits, changesCommitted, versionConflicts, largestBatch, queuedEvents: queues.size }),
  };
}
