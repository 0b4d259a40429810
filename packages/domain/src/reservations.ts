import {
  createCoalescer,
  type CancelDecision,
  type CoalescerStats,
  type CommitObserver,
  type ReserveDecision,
} from './coalescer.js';
import { isValidEventId, type EventSummary } from './event.js';
import type { Clock, EventRepository, IdGenerator, Page, ReservationQuery, Timers } from './ports.js';
import { createRecentReservations } from './recent-reservations.js';
import { isReservationId, isValidPartnerId, MIN_SEATS_PER_RESERVATION, type Reservation } from './reservation.js';

/** How many of its own reservations a process remembers for cancellation without a lookup (about 4 MB). */
const RECENT_RESERVATIONS = 20_000;

export interface ReserveSeatsCommand {
  readonly eventId: string;
  readonly partnerId: string;
  readonly seats: number;
}

export interface CancelReservationCommand {
  readonly reservationId: string;
  /** When given, only this partner's reservation can be cancelled; anyone else's is `not_found`. */
  readonly partnerId?: string;
  /** When given, only a reservation of this event can be cancelled. */
  readonly eventId?: string;
}

/**
 * What the coalescer decides (reserved, insufficient seats, too many seats for the event, contended, unknown
 * event), or invalid input.
 */
export type ReserveSeatsOutcome = ReserveDecision | { readonly kind: 'invalid_partner_id' };

export type CancelReservationOutcome = CancelDecision | { readonly kind: 'not_found' };

export type EventSummaryOutcome =
  { readonly kind: 'found'; readonly summary: EventSummary } | { readonly kind: 'event_not_found' };

export type ListReservationsOutcome =
  { readonly kind: 'page'; readonly page: Page<Reservation> } | { readonly kind: 'event_not_found' };

export interface ReservationServiceDeps {
  readonly repository: EventRepository;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** How long a request may wait, queued or retrying after version conflicts, before it answers `contended`. */
  readonly maxWaitMs: number;
  /** To answer a request still queued at its deadline even while the commit ahead of it hangs. */
  readonly timers?: Timers;
  /** Told of each commit's size and each version conflict (metrics). */
  readonly observer?: CommitObserver;
}

export interface ReservationService {
  getEventSummary(eventId: string): Promise<EventSummaryOutcome>;
  reserveSeats(command: ReserveSeatsCommand): Promise<ReserveSeatsOutcome>;
  cancelReservation(command: CancelReservationCommand): Promise<CancelReservationOutcome>;
  /** The partner's own reservation; anyone else's is indistinguishable from a missing one. */
  getReservation(reservationId: string, partnerId: string): Promise<Reservation | undefined>;
  listReservations(query: ReservationQuery): Promise<ListReservationsOutcome>;
  /** Counters of the coalescing commits, for metrics and benchmarks. */
  commitStats(): CoalescerStats;
}

/**
 * The reservation use cases. Changes to an event's seats go through the coalescer (see coalescer.ts): a version
 * conflict is never an answer, the request is re-planned until it is decided on the seats themselves, and
 * "insufficient seats" is only returned on seats that were current when it was decided.
 */
export function createReservationService(deps: ReservationServiceDeps): ReservationService {
  const { repository, clock, ids, maxWaitMs, timers, observer } = deps;
  const coalescer = createCoalescer({ repository, clock, timers, observer });
  const recent = createRecentReservations(RECENT_RESERVATIONS);
  const deadlineFromNow = () => clock.now().getTime() + maxWaitMs;

  async function findOwn(reservationId: string, partnerId: string | undefined, eventId: string | undefined) {
    if (!isReservationId(reservationId)) return undefined;
    const reservation = recent.get(reservationId) ?? (await repository.findReservation(reservationId));
    if (!reservation) return undefined;
    if (partnerId !== undefined && reservation.partnerId !== partnerId) return undefined;
    if (eventId !== undefined && reservation.eventId !== eventId) return undefined;
    return reservation;
  }

  return {
    async getEventSummary(eventId) {
      const summary = isValidEventId(eventId) ? await repository.getEventSummary(eventId) : undefined;
      return summary ? { kind: 'found', summary } : { kind: 'event_not_found' };
    },

    async reserveSeats({ eventId, partnerId, seats }) {
      if (!isValidPartnerId(partnerId)) return { kind: 'invalid_partner_id' };
      if (!isValidEventId(eventId)) return { kind: 'event_not_found' };
      if (!Number.isInteger(seats) || seats < MIN_SEATS_PER_RESERVATION) {
        // Rare (the HTTP schema rules it out): read the event only to name its limit.
        const event = await repository.findEvent(eventId);
        return event
          ? { kind: 'invalid_seats', maxSeatsPerReservation: event.maxSeatsPerReservation }
          : { kind: 'event_not_found' };
      }
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

    async cancelReservation({ reservationId, partnerId, eventId }) {
      const reservation = await findOwn(reservationId, partnerId, eventId);
      if (!reservation) return { kind: 'not_found' };
      // Only the facts that never change are remembered; whether it is still active is the commit's to check.
      recent.forget(reservationId);
      if (reservation.status === 'cancelled') return { kind: 'already_cancelled' };
      return coalescer.cancel(reservation, deadlineFromNow());
    },

    async getReservation(reservationId, partnerId) {
      if (!isReservationId(reservationId)) return undefined;
      const reservation = await repository.findReservation(reservationId);
      return reservation?.partnerId === partnerId ? reservation : undefined;
    },

    async listReservations(query) {
      if (!isValidEventId(query.eventId) || !(await repository.findEvent(query.eventId))) {
        return { kind: 'event_not_found' };
      }
      return { kind: 'page', page: await repository.listReservations(query) };
    },

    commitStats: () => coalescer.stats(),
  };
}
