import type { Event, EventSummary } from './event.js';
import type { Reservation } from './reservation.js';

/** The version an event had when a change was planned; the change applies only if it still has it. */
export interface ExpectedVersion {
  readonly eventId: string;
  readonly version: number;
}

export type CommitResult =
  | { readonly kind: 'committed'; readonly event: Event }
  /** The event changed since it was read (or the seats no longer fit): re-read and re-plan. */
  | { readonly kind: 'version_conflict' };

export type CancellationCommitResult =
  | CommitResult
  /** The reservation was no longer active when the cancellation tried to apply. */
  | { readonly kind: 'already_cancelled' };

/**
 * Where events and their reservations live. Every change is applied atomically and only if the event still
 * has the expected version, so seats and reservations never disagree.
 */
export interface EventRepository {
  findEvent(eventId: string): Promise<Event | undefined>;
  getEventSummary(eventId: string): Promise<EventSummary | undefined>;
  findReservation(reservationId: string): Promise<Reservation | undefined>;
  /** Takes the reservation's seats and records it, in one transaction, under the version guard. */
  commitReservation(expected: ExpectedVersion, reservation: Reservation): Promise<CommitResult>;
  /** Marks an active reservation cancelled and returns its seats, in one transaction, under the version guard. */
  commitCancellation(expected: ExpectedVersion, reservation: Reservation): Promise<CancellationCommitResult>;
}

export interface Clock {
  now(): Date;
}

export interface IdGenerator {
  reservationId(): string;
}
