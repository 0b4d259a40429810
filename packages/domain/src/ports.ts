import type { Event, EventSummary } from './event.js';
import type { Reservation } from './reservation.js';

/** The version an event had when a change was planned; the change applies only if it still has it. */
export interface ExpectedVersion {
  readonly eventId: string;
  readonly version: number;
}

/** What one commit applies to an event: new reservations to record and active ones to cancel. */
export interface SeatChanges {
  readonly reservations: readonly Reservation[];
  readonly cancellations: readonly Reservation[];
}

export type CommitResult =
  | { readonly kind: 'committed'; readonly event: Event }
  /**
   * The event changed since it was read (or the seats no longer fit): nothing was applied; re-plan. `current`
   * is the event as the failed commit saw it, when known: a starting point for the next plan (itself guarded by
   * the version), never grounds to refuse anyone.
   */
  | { readonly kind: 'version_conflict'; readonly current?: Event }
  /** Some reservations to cancel were no longer active (cancelled meanwhile): nothing was applied. */
  | { readonly kind: 'not_active'; readonly reservationIds: readonly string[] };

/**
 * Where events and their reservations live. Every change is applied atomically and only if the event still
 * has the expected version, so seats and reservations never disagree.
 */
export interface EventRepository {
  findEvent(eventId: string): Promise<Event | undefined>;
  getEventSummary(eventId: string): Promise<EventSummary | undefined>;
  findReservation(reservationId: string): Promise<Reservation | undefined>;
  /**
   * In one transaction, and only if the event still has the expected version and every reservation to cancel
   * is still active: records the new reservations, cancels the others, moves the seats, and grows the version
   * by one per change.
   */
  commitChanges(expected: ExpectedVersion, changes: SeatChanges): Promise<CommitResult>;
}

export interface Clock {
  now(): Date;
}

/** Wakes a callback after a delay; returns a function that cancels it. */
export interface Timers {
  after(ms: number, callback: () => void): () => void;
}

/**
 * A failure after which nothing was changed and the same operation may simply be tried again (a lock or
 * statement timeout, a deadlock). Adapters throw it from reads; commits report it as a version conflict.
 */
export class TransientFailure extends Error {
  override readonly name = 'TransientFailure';
}

export interface IdGenerator {
  reservationId(): string;
}
