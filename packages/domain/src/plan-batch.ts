/** One queued change to an event's seats, as the planner sees it. */
export type PlannedChange =
  | { readonly kind: 'reserve'; readonly seats: number }
  | { readonly kind: 'cancel'; readonly reservationId: string; readonly seats: number };

export type ChangeDecision =
  | 'accept'
  /** A reservation whose seats do not fit after everything before it. */
  | 'insufficient_seats'
  /** A second cancellation of a reservation already cancelled earlier in the same batch. */
  | 'duplicate_cancel';

export interface BatchPlan {
  /** One decision per change, in the order given. */
  readonly decisions: readonly ChangeDecision[];
  readonly seatsTaken: number;
  readonly seatsReturned: number;
  readonly reservationsAccepted: number;
  readonly cancellationsAccepted: number;
  readonly availableAfter: number;
}

/**
 * Decides which queued changes one commit applies, given the seats available before it. Cancellations go first
 * (they were in flight together with the reservations, and the seats they free should not be refused to anyone),
 * then reservations in arrival order, each accepted if it fits in what is left; one that does not fit does not
 * stop smaller ones behind it.
 */
export function planBatch(availableSeats: number, changes: readonly PlannedChange[]): BatchPlan {
  const decisions = new Array<ChangeDecision>(changes.length);
  const cancelled = new Set<string>();
  let available = availableSeats;
  let seatsReturned = 0;
  let cancellationsAccepted = 0;
  changes.forEach((change, index) => {
    if (change.kind !== 'cancel') return;
    if (cancelled.has(change.reservationId)) {
      decisions[index] = 'duplicate_cancel';
      return;
    }
    cancelled.add(change.reservationId);
    decisions[index] = 'accept';
    available += change.seats;
    seatsReturned += change.seats;
    cancellationsAccepted += 1;
  });
  let seatsTaken = 0;
  let reservationsAccepted = 0;
  changes.forEach((change, index) => {
    if (change.kind !== 'reserve') return;
    if (change.seats > available) {
      decisions[index] = 'insufficient_seats';
      return;
    }
    decisions[index] = 'accept';
    available -= change.seats;
    seatsTaken += change.seats;
    reservationsAccepted += 1;
  });
  return {
    decisions,
    seatsTaken,
    seatsReturned,
    reservationsAccepted,
    cancellationsAccepted,
    availableAfter: available,
  };
}
