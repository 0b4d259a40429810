import type { EventSummary } from './event.js';
import type { Clock, EventRepository, IdGenerator } from './ports.js';
import { createSerialLanes } from './serial-lanes.js';
import { isReservationId, isValidPartnerId, isValidSeatCount, type Reservation } from './reservation.js';

export interface ReserveSeatsCommand {
  readonly eventId: string;
  readonly partnerId: string;
  readonly seats: number;
}

export type ReserveSeatsOutcome =
  | { readonly kind: 'reserved'; readonly reservation: Reservation }
  | { readonly kind: 'insufficient_seats'; readonly availableSeats: number }
  | { readonly kind: 'invalid_seats' }
  | { readonly kind: 'invalid_partner_id' }
  | { readonly kind: 'event_not_found' }
  /** The request could not be decided within the allowed wait; nothing was changed. */
  | { readonly kind: 'contended' };

export type CancelReservationOutcome =
  | { readonly kind: 'cancelled'; readonly reservation: Reservation }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'already_cancelled' }
  | { readonly kind: 'contended' };

export type EventSummaryOutcome =
  { readonly kind: 'found'; readonly summary: EventSummary } | { readonly kind: 'event_not_found' };

export interface ReservationServiceDeps {
  readonly repository: EventRepository;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** How long a request may wait, queued or retrying after version conflicts, before it answers `contended`. */
  readonly maxWaitMs: number;
}

export interface ReservationService {
  getEventSummary(eventId: string): Promise<EventSummaryOutcome>;
  reserveSeats(command: ReserveSeatsCommand): Promise<ReserveSeatsOutcome>;
  cancelReservation(reservationId: string): Promise<CancelReservationOutcome>;
}

/**
 * The reservation use cases. A version conflict is never an answer: the request re-reads and re-plans until it
 * is decided on the seats themselves, so "insufficient seats" is only returned when a fresh read shows they
 * don't fit.
 */
export function createReservationService(deps: ReservationServiceDeps): ReservationService {
  const { repository, clock, ids, maxWaitMs } = deps;
  const lanes = createSerialLanes();
  const deadlineFromNow = () => clock.now().getTime() + maxWaitMs;
  const isPast = (deadline: number) => clock.now().getTime() > deadline;

  return {
    async getEventSummary(eventId) {
      const summary = await repository.getEventSummary(eventId);
      return summary ? { kind: 'found', summary } : { kind: 'event_not_found' };
    },

    async reserveSeats({ eventId, partnerId, seats }) {
      if (!isValidSeatCount(seats)) return { kind: 'invalid_seats' };
      if (!isValidPartnerId(partnerId)) return { kind: 'invalid_partner_id' };
      const deadline = deadlineFromNow();
      return lanes.run(eventId, async (): Promise<ReserveSeatsOutcome> => {
        for (;;) {
          if (isPast(deadline)) return { kind: 'contended' };
          const event = await repository.findEvent(eventId);
          if (!event) return { kind: 'event_not_found' };
          if (event.availableSeats < seats) {
            return { kind: 'insufficient_seats', availableSeats: event.availableSeats };
          }
          const reservation: Reservation = {
            reservationId: ids.reservationId(),
            eventId,
            partnerId,
            seats,
            status: 'confirmed',
            createdAt: clock.now(),
          };
          const result = await repository.commitReservation(event, reservation);
          if (result.kind === 'committed') return { kind: 'reserved', reservation };
        }
      });
    },

    async cancelReservation(reservationId) {
      if (!isReservationId(reservationId)) return { kind: 'not_found' };
      const reservation = await repository.findReservation(reservationId);
      if (!reservation) return { kind: 'not_found' };
      if (reservation.status === 'cancelled') return { kind: 'already_cancelled' };
      const deadline = deadlineFromNow();
      return lanes.run(reservation.eventId, async (): Promise<CancelReservationOutcome> => {
        for (;;) {
          if (isPast(deadline)) return { kind: 'contended' };
          const event = await repository.findEvent(reservation.eventId);
          if (!event) throw new Error(`event ${reservation.eventId} of reservation ${reservationId} is missing`);
          const result = await repository.commitCancellation(event, reservation);
          switch (result.kind) {
            case 'committed':
              return { kind: 'cancelled', reservation: { ...reservation, status: 'cancelled' } };
            case 'already_cancelled':
              return { kind: 'already_cancelled' };
            case 'version_conflict':
              continue;
          }
        }
      });
    },
  };
}
