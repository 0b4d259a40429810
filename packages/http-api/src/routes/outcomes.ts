import {
  MAX_HOLD_SECONDS,
  MIN_HOLD_SECONDS,
  type CancelReservationOutcome,
  type ReserveSeatsOutcome,
} from '@ticketboss/domain';
import { apiErrors, invalidField, type ApiError } from '../errors.js';

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
      return invalidField('holdSeconds', {
        holdSeconds: `holdSeconds must be a whole number from ${MIN_HOLD_SECONDS} to ${MAX_HOLD_SECONDS}`,
      });
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
