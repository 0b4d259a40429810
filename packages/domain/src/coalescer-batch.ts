// The steps of one coalesced batch, apart from the coalescer's queues and counters: what a request waits as,
// which queued requests a commit takes, how a batch is planned and committed, and how each request is answered.
import type { CancelDecision, ConfirmDecision, ReceiptRequest, ReserveDecision, SweepDecision } from './coalescer.js';
import { planBatch, type ChangeDecision, type PlannedChange } from './plan-batch.js';
import type { CommitResult, Receipt, SeatChanges } from './ports.js';
import type { Reservation } from './reservation.js';

/** A queued request: what it asks, until when it may wait, and how it is answered. */
export type Waiting = (
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

/**
 * The queued requests one commit takes: all of them, except that a commit confirms a reservation at most once and
 * never both confirms and cancels one (it changes each reservation once). Those wait for the next commit, which
 * decides them on what this one did. (Repeated cancellations stay: the plan answers all but the first.)
 */
export function takeBatch(queued: readonly Waiting[]): { batch: Waiting[]; later: Waiting[] } {
  const confirming = new Set<string>();
  const cancelling = new Set<string>();
  const batch: Waiting[] = [];
  const later: Waiting[] = [];
  for (const waiting of queued) {
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
  return { batch, later };
}

/** Answers `contended` those past their deadline at `now`; returns the others. */
export function dropPastDeadline(pending: readonly Waiting[], now: number): Waiting[] {
  return pending.filter((waiting) => {
    if (now <= waiting.deadline) return true;
    waiting.settle({ kind: 'contended' });
    return false;
  });
}

/** Answers `invalid_seats` the reservations larger than the event allows; returns the others. */
export function dropTooLarge(pending: readonly Waiting[], maxSeatsPerReservation: number): Waiting[] {
  return pending.filter((waiting) => {
    if (waiting.kind !== 'reserve' || waiting.reservation.seats <= maxSeatsPerReservation) return true;
    waiting.settle({ kind: 'invalid_seats', maxSeatsPerReservation });
    return false;
  });
}

/** Answers a batch whose event does not exist: unknown to new reservations and sweeps, a bug for the others. */
export function settleEventMissing(pending: readonly Waiting[], eventId: string): void {
  for (const waiting of pending) {
    if (waiting.kind === 'reserve' || waiting.kind === 'sweep') waiting.settle({ kind: 'event_not_found' });
    else waiting.fail(new Error(`event ${eventId} of reservation ${idOf(waiting)} is missing`));
  }
}

export interface ChangesPlan {
  /** The decision on each reservation and cancellation. */
  readonly decisions: ReadonlyMap<Waiting, ChangeDecision>;
  /** What the commit applies: the accepted seat changes and every confirmation (and sweep), in queue order. */
  readonly accepted: readonly Waiting[];
  /** Whether a reservation is refused for want of seats. */
  readonly refusing: boolean;
  readonly sweeping: boolean;
}

/** Plans the batch on `availableSeats` with `planBatch`. */
export function planChanges(pending: readonly Waiting[], availableSeats: number): ChangesPlan {
  const seatChanges = pending.filter(isSeatChange);
  const plan = planBatch(availableSeats, seatChanges.map(plannedChange));
  const decisions = new Map<Waiting, ChangeDecision>(seatChanges.map((w, index) => [w, plan.decisions[index]!]));
  return {
    decisions,
    accepted: pending.filter((w) => w.kind === 'confirm' || decisions.get(w) === 'accept'),
    refusing: seatChanges.some((w) => w.kind === 'reserve' && decisions.get(w) !== 'accept'),
    sweeping: pending.some((w) => w.kind === 'sweep'),
  };
}

/** Each accepted change as a commit at `commitAt` records it. */
export function recordedChanges(accepted: readonly Waiting[], commitAt: number): Map<Waiting, Reservation> {
  return new Map(accepted.flatMap((w) => (w.kind === 'sweep' ? [] : [[w, recorded(w, commitAt)] as const])));
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

/** The seat changes of one commit, with the answers to record under their Idempotency-Keys. */
export function seatChangesOf(accepted: readonly Waiting[], final: ReadonlyMap<Waiting, Reservation>): SeatChanges {
  const finalOf = (kind: Waiting['kind']) => accepted.filter((w) => w.kind === kind).map((w) => final.get(w)!);
  return {
    reservations: finalOf('reserve'),
    cancellations: finalOf('cancel'),
    confirmations: finalOf('confirm'),
    receipts: accepted.flatMap((w): Receipt[] => {
      const reservation = final.get(w)!;
      return w.receipt
        ? [{ reservationId: reservation.reservationId, claim: w.receipt.claim, answer: w.receipt.render(reservation) }]
        : [];
    }),
  };
}

/**
 * After a commit that applied nothing because some changes are no longer possible: answers those (no longer
 * live, or their Idempotency-Key taken over) and returns the others, to be planned again.
 */
export function settleGone(
  pending: readonly Waiting[],
  result: Extract<CommitResult, { kind: 'not_active' | 'claim_lost' }>,
): Waiting[] {
  const gone = new Set(result.reservationIds);
  return pending.filter((waiting) => {
    const id = idOf(waiting);
    if (id === undefined || !gone.has(id)) return true;
    if (result.kind === 'claim_lost') settleClaimLost(waiting);
    else if (waiting.kind === 'cancel') waiting.settle({ kind: 'already_cancelled' });
    else if (waiting.kind === 'confirm') waiting.settle({ kind: 'not_live' });
    else waiting.fail(new Error(`new reservation ${id} reported as not active`));
    return false;
  });
}

function settleClaimLost(waiting: Waiting): void {
  if (waiting.kind === 'reserve' || waiting.kind === 'confirm') waiting.settle({ kind: 'claim_lost' });
  else waiting.fail(new Error('a change without a receipt lost its claim'));
}

/** What a batch was decided on: the seats left after it, the holds it expired, each change as recorded. */
export interface BatchOutcome {
  readonly availableSeats: number;
  readonly expired: readonly Reservation[];
  readonly final: ReadonlyMap<Waiting, Reservation>;
}

/** Answers every request of a decided batch. */
export function settleAll(
  pending: readonly Waiting[],
  decisions: ReadonlyMap<Waiting, ChangeDecision>,
  outcome: BatchOutcome,
): void {
  for (const waiting of pending) settle(waiting, decisions.get(waiting), outcome);
}

function settle(
  waiting: Waiting,
  decision: ChangeDecision | undefined,
  { availableSeats, expired, final }: BatchOutcome,
): void {
  const reservation = final.get(waiting);
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
