import {
  MAX_HOLD_SECONDS,
  MIN_HOLD_SECONDS,
  type Attempt,
  type CancelReservationOutcome,
  type Reservation,
  type RecordedAnswer,
  type ReserveSeatsOutcome,
} from '@ticketboss/domain';
import { apiErrors, invalidField, type ApiError } from '../plugins/errors.js';
import { errorAnswer } from '../plugins/idempotency.js';

/** The rule for `holdSeconds`, as the schema check and the use case both word it. */
export const HOLD_SECONDS_MESSAGE = `holdSeconds must be a whole number from ${MIN_HOLD_SECONDS} to ${MAX_HOLD_SECONDS}`;

/**
 * The answer to a reservation request, and whether its Idempotency-Key keeps it: a reservation's answer is
 * recorded by its commit; a refusal on the seats is a decision, kept; anything else (a bad count, no event, too
 * busy, a key taken over) decided nothing.
 */
export function reserveAttempt(
  outcome: ReserveSeatsOutcome,
  render: (reservation: Reservation) => RecordedAnswer,
): Attempt<ReserveSeatsOutcome> {
  if (outcome.kind === 'reserved') return { result: outcome, answer: render(outcome.reservation), keep: 'recorded' };
  const keep = outcome.kind === 'insufficient_seats' ? 'record' : 'discard';
  return { result: outcome, answer: errorAnswer(reserveErrorFor(outcome)), keep };
}

/** The answer to a reservation that was not made. */
export function reserveErrorFor(outcome: Exclude<ReserveSeatsOutcome, { kind: 'reserved' }>): ApiError {
  switch (outcome.kind) {
    case 'insufficient_seats':
      return apiErrors.insufficientSeats;
    case 'invalid_seats':
      return {
        ...invalidField('seats'),
        message: `seats must be between 1 and ${outcome.maxSeatsPerReservation}`,
      };
    case 'invalid_partner_id':
      return invalidField('partnerId');
    case 'invalid_hold_seconds':
      return invalidField('holdSeconds', { holdSeconds: HOLD_SECONDS_MESSAGE });
    case 'event_not_found':
      return apiErrors.eventNotFound;
    case 'contended':
      return apiErrors.contended;
    case 'claim_lost':
      return apiErrors.idempotencyKeyInUse;
  }
}

/** The answer to a cancellation that did not happen. */
export function cancelErrorFor(outcome: Exclude<CancelReservationOutcome, { kind: 'cancelled' }>): ApiError {
  switch (outcome.kind) {
    case 'not_found':
      return apiErrors.reservationNotFound;
    case 'already_cancelled':
      return apiErrors.reservationAlreadyCancelled;
    case 'hold_expired':
      return apiErrors.holdExpired;
    case 'contended':
      return apiErrors.contended;
  }
}
