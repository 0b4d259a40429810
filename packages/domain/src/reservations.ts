import { createCoalescer, type CancelDecision, type CoalescerStats, type ReserveDecision } from './coalescer.js';
import type { EventSummary } from './event.js';
import type { Clock, EventRepository, IdGenerator, Timers } from './ports.js';
import { createRecentReservations } from './recent-reservations.js';
import { isReservationId, isValidPartnerId, isValidSeatCount, type Reservation } from './reservation.js';

/** How many of its own reservations a process remembers for cancellation without a lookup (about 4 MB). */
const RECENT_RESERVATIONS = 20_000;

export interface ReserveSeatsCommand {
  readonly eventId: string;
  readonly partnerId: string;
  readonly seats: number;
}

/** What the coalescer decides (reserved, insufficient seats, contended, unknown event), or invalid input. */
export type ReserveSeatsOutcome =
  ReserveDecision | { readonly kind: 'invalid_seats' } | { readonly kind: 'invalid_partner_id' };

export type CancelReservationOutcome = CancelDecision | { readonly kind: 'not_found' };

export type EventSummaryOutcome =
  { readonly kind: 'found'; readonly summary: EventSummary } | { readonly kind: 'event_not_found' };

export interface ReservationServiceDeps {
  readonly repository: EventRepository;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** How long a request may wait, queued or retrying after version conflicts, before it answers `contended`. */
  readonly maxWaitMs: number;
  /** To answer a request still queued at its deadline even while the commit ahead of it hangs. */
  readonly timers?: Timers;
}

export interface ReservationService {
  getEventSummary(eventId: string): Promise<EventSummaryOutcome>;
  reserveSeats(command: ReserveSeatsCommand): Promise<ReserveSeatsOutcome>;
  cancelReservation(reservationId: string): Promise<CancelReservationOutcome>;
  /** Counters of the coalescing commits, for metrics and benchmarks. */
  commitStats(): CoalescerStats;
}

/**
 * The reservation use cases. Changes to an event's seats go through the coalescer (see coalescer.ts): a version
 * conflict is never an answer, the request is re-planned until it is decided on the seats themselves, and
 * "insufficient seats" is only returned on seats that were current when it was decided.
 */
export function createReservationService(deps: ReservationServiceDeps): ReservationService {
  const { repository, clock, ids, maxWaitMs, timers } = deps;
  const coalescer = createCoalescer({ repository, clock, timers });
  const recent = createRecentReservations(RECENT_RESERVATIONS);
  const deadlineFromNow = () => clock.now().getTime() + maxWaitMs;

  return {
    async getEventSummary(eventId) {
      const summary = await repository.getEventSummary(eventId);
      return summary ? { kind: 'found', summary } : { kind: 'event_not_found' };
    },

    async reserveSeats({ eventId, partnerId, seats }) {
      if (!isValidSeatCount(seats)) return { kind: 'invalid_seats' };
      if (!isValidPartnerId(partnerId)) return { kind: 'invalid_partner_id' };
      const reservation: Reservation = {
        reservationId: ids.reservationId(),
        eventId,
        partnerId,
        seats,
        status: 'confirmed',
        createdAt: clock.now(),
      };
      const outcome = await coalescer.reserve(reservation, deadlineFromNow());
      if (outcome.kind === 'reserved') recent.remember(outcome.reservation);
      return outcome;
    },

    async cancelReservation(reservationId) {
      if (!isReservationId(reservationId)) return { kind: 'not_found' };
      const reservation = recent.take(reservationId) ?? (await repository.findReservation(reservationId));
      if (!reservation) return { kind: 'not_found' };
      if (reservation.status === 'cancelled') return { kind: 'already_cancelled' };
      return coalescer.cancel(reservation, deadlineFromNow());
    },

    commitStats: () => coalescer.stats(),
  };
}
