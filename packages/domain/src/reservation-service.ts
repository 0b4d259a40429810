import {
  createCoalescer,
  type CancelDecision,
  type CoalescerStats,
  type CommitObserver,
  type ReceiptRequest,
  type ReserveDecision,
} from './coalescer.js';
import { isValidEventId, type EventSummary } from './event.js';
import type { Clock, EventRepository, IdGenerator, Page, ReservationQuery, Timers } from './ports.js';
import { createRecentReservations } from './recent-reservations.js';
import {
  isReservationId,
  isValidHoldSeconds,
  isValidPartnerId,
  MIN_SEATS_PER_RESERVATION,
  statusAt,
  type Reservation,
} from './reservation.js';

/** How many of its own reservations a process remembers for cancellation without a lookup (about 4 MB). */
const RECENT_RESERVATIONS = 20_000;

export interface ReserveSeatsCommand {
  readonly eventId: string;
  readonly partnerId: string;
  readonly seats: number;
  /** Given: a hold of this many seconds (1 to 3600), which expires unless confirmed. Absent: confirmed at once. */
  readonly holdSeconds?: number;
  readonly receipt?: ReceiptRequest;
}

export interface ConfirmHoldCommand {
  readonly reservationId: string;
  readonly partnerId: string;
  readonly receipt?: ReceiptRequest;
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
export type ReserveSeatsOutcome =
  ReserveDecision | { readonly kind: 'invalid_partner_id' } | { readonly kind: 'invalid_hold_seconds' };

export type CancelReservationOutcome =
  | CancelDecision
  | { readonly kind: 'not_found' }
  /** A hold past its expiry: its seats are already back. */
  | { readonly kind: 'hold_expired'; readonly reservation: Reservation };

export type ConfirmHoldOutcome =
  /** `recorded`: the receipt, if any, was recorded with the confirmation; false when it was already confirmed. */
  | { readonly kind: 'confirmed'; readonly reservation: Reservation; readonly recorded: boolean }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'hold_expired'; readonly reservation: Reservation }
  | { readonly kind: 'cancelled'; readonly reservation: Reservation }
  | { readonly kind: 'contended' }
  | { readonly kind: 'claim_lost' };

export type SweepOutcome = { readonly events: number; readonly expired: readonly Reservation[] };

export type ExpireHoldOutcome =
  /** Past its expiry: its event's expired holds (among them this one, unless another sweep was first) are marked. */
  | { readonly kind: 'swept'; readonly expired: readonly Reservation[] }
  /** Still live by this process's clock: try again at `expiresAt`. */
  | { readonly kind: 'not_yet'; readonly expiresAt: Date }
  /** Not a hold any more (confirmed or cancelled), or unknown: nothing to do. */
  | { readonly kind: 'not_held' }
  | { readonly kind: 'contended' };

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
  /** Confirms the partner's own hold; confirming a confirmed reservation answers the same again. */
  confirmHold(command: ConfirmHoldCommand): Promise<ConfirmHoldOutcome>;
  /**
   * Marks holds past their expiry `expired` and returns their seats, up to `maxEvents` events. Safe to run in
   * any number of processes at once: each hold's seats come back exactly once. Never needed for correctness
   * (reads and decisions count an expired hold as expired from its expiry on); it keeps the rows true, and is
   * where expiry notifications will hook in.
   */
  sweepExpiredHolds(maxEvents?: number): Promise<SweepOutcome>;
  /**
   * A hold's expiry, on time: once it is past, marks its event's expired holds `expired` (the sweep of that one
   * event), so that its expiry is recorded when it happens rather than at the next sweep.
   */
  expireHold(reservationId: string): Promise<ExpireHoldOutcome>;
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

    async reserveSeats({ eventId, partnerId, seats, holdSeconds, receipt }) {
      if (!isValidPartnerId(partnerId)) return { kind: 'invalid_partner_id' };
      if (holdSeconds !== undefined && !isValidHoldSeconds(holdSeconds)) return { kind: 'invalid_hold_seconds' };
      if (!isValidEventId(eventId)) return { kind: 'event_not_found' };
      if (!Number.isInteger(seats) || seats < MIN_SEATS_PER_RESERVATION) {
        // Rare (the HTTP schema rules it out): read the event only to name its limit.
        const event = await repository.findEvent(eventId);
        return event
          ? { kind: 'invalid_seats', maxSeatsPerReservation: event.maxSeatsPerReservation }
          : { kind: 'event_not_found' };
      }
      const createdAt = clock.now();
      const reservation: Reservation =
        holdSeconds === undefined
          ? { reservationId: ids.reservationId(), eventId, partnerId, seats, status: 'confirmed', createdAt }
          : {
              reservationId: ids.reservationId(),
              eventId,
              partnerId,
              seats,
              status: 'held',
              createdAt,
              expiresAt: new Date(createdAt.getTime() + holdSeconds * 1000),
            };
      const outcome = await coalescer.reserve(reservation, deadlineFromNow(), receipt);
      // Only what never changes is remembered: a hold's status does (confirmed, expired), so it is always read.
      if (outcome.kind === 'reserved' && reservation.status === 'confirmed') recent.remember(outcome.reservation);
      return outcome;
    },

    async cancelReservation({ reservationId, partnerId, eventId }) {
      const reservation = await findOwn(reservationId, partnerId, eventId);
      if (!reservation) return { kind: 'not_found' };
      // Only the facts that never change are remembered; whether it is still active is the commit's to check.
      recent.forget(reservationId);
      const status = statusAt(reservation, clock.now());
      if (status === 'cancelled') return { kind: 'already_cancelled' };
      if (status === 'expired') return { kind: 'hold_expired', reservation: { ...reservation, status } };
      const outcome = await coalescer.cancel(reservation, deadlineFromNow());
      if (outcome.kind !== 'already_cancelled' || reservation.status !== 'held') return outcome;
      // The hold stopped taking seats meanwhile: say whether it expired.
      const now = await repository.findReservation(reservationId);
      return now?.status === 'expired' ? { kind: 'hold_expired', reservation: now } : outcome;
    },

    async confirmHold({ reservationId, partnerId, receipt }) {
      // Read each time (never from the recent cache): the status is what matters here, and it changes.
      for (let attempt = 1; attempt <= 3; attempt += 1) {
        const found = isReservationId(reservationId) ? await repository.findReservation(reservationId) : undefined;
        if (found?.partnerId !== partnerId) return { kind: 'not_found' };
        const reservation = found;
        const status = statusAt(reservation, clock.now());
        if (status === 'confirmed') return { kind: 'confirmed', reservation, recorded: false };
        if (status === 'expired') return { kind: 'hold_expired', reservation: { ...reservation, status } };
        if (status === 'cancelled') return { kind: 'cancelled', reservation };
        const outcome = await coalescer.confirm(reservation, deadlineFromNow(), receipt);
        if (outcome.kind === 'confirmed') return { ...outcome, recorded: true };
        if (outcome.kind !== 'not_live') return outcome;
        // Confirmed, cancelled or expired since it was read: read it again and answer from that.
      }
      return { kind: 'contended' };
    },

    async sweepExpiredHolds(maxEvents = 100) {
      const eventIds = await repository.findEventsWithExpiredHolds(maxEvents);
      const expired: Reservation[] = [];
      for (const eventId of eventIds) {
        const outcome = await coalescer.sweep(eventId, deadlineFromNow());
        if (outcome.kind === 'swept') expired.push(...outcome.expired);
      }
      return { events: eventIds.length, expired };
    },

    async expireHold(reservationId) {
      const hold = isReservationId(reservationId) ? await repository.findReservation(reservationId) : undefined;
      if (!hold?.expiresAt) return { kind: 'not_held' };
      const status = statusAt(hold, clock.now());
      if (status === 'held') return { kind: 'not_yet', expiresAt: hold.expiresAt };
      if (status !== 'expired') return { kind: 'not_held' };
      const outcome = await coalescer.sweep(hold.eventId, deadlineFromNow());
      if (outcome.kind === 'swept') return outcome;
      return outcome.kind === 'contended' ? outcome : { kind: 'not_held' };
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
