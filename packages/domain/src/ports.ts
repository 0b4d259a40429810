import type { Event, EventChanges, EventDefinition, EventSummary } from './event.js';
import type { Partner, StoredApiKey } from './partner.js';
import type { Reservation, ReservationStatus } from './reservation.js';

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

export type CreateEventResult =
  { readonly kind: 'created'; readonly event: EventSummary } | { readonly kind: 'already_exists' };

export type UpdateEventResult =
  | { readonly kind: 'updated'; readonly event: EventSummary }
  | { readonly kind: 'event_not_found' }
  /** The event's version is not the one the caller expected: nothing was changed. */
  | { readonly kind: 'version_mismatch'; readonly currentVersion: number }
  /** The new total is below the seats already reserved: nothing was changed. */
  | { readonly kind: 'below_reserved'; readonly reservedSeats: number };

/** Where a page of a listing starts: after this item. Opaque to callers; the adapter makes and reads it. */
export type PagePosition = string;

export interface Page<T> {
  readonly items: readonly T[];
  /** Where the next page starts; absent on the last page. */
  readonly next?: PagePosition;
}

export interface ReservationQuery {
  readonly partnerId: string;
  readonly eventId: string;
  readonly status?: ReservationStatus;
  readonly limit: number;
  readonly after?: PagePosition;
}

/**
 * Where events and their reservations live. Every change is applied atomically and only if the event still
 * has the expected version, so seats and reservations never disagree.
 */
export interface EventRepository {
  findEvent(eventId: string): Promise<Event | undefined>;
  getEventSummary(eventId: string): Promise<EventSummary | undefined>;
  /** Events in id order. */
  listEventSummaries(query: { readonly limit: number; readonly after?: PagePosition }): Promise<Page<EventSummary>>;
  createEvent(definition: EventDefinition): Promise<CreateEventResult>;
  /**
   * Renames the event or changes its total (available seats move by the same amount), as one change of its
   * version; only if it has `expectedVersion` when one is given.
   */
  updateEvent(eventId: string, changes: EventChanges, expectedVersion?: number): Promise<UpdateEventResult>;
  findReservation(reservationId: string): Promise<Reservation | undefined>;
  /**
   * One partner's reservations of one event, oldest first. Walking the pages sees every reservation that existed
   * when the walk began exactly once, whatever is added meanwhile. Throws `InvalidPagePosition` for a position it
   * did not make.
   */
  listReservations(query: ReservationQuery): Promise<Page<Reservation>>;
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

/** A page position that was not made by the adapter, or was tampered with. */
export class InvalidPagePosition extends Error {
  override readonly name = 'InvalidPagePosition';
}

export interface IdGenerator {
  reservationId(): string;
}

export type CreatePartnerResult = 'created' | 'already_exists';
export type AddKeyResult = 'added' | 'partner_not_found';
export type RevokeKeyResult = 'revoked' | 'not_found';

/** Where partners and the hashes of their API keys live. */
export interface PartnerRepository {
  /** Creates the partner together with its first key, atomically. */
  createPartner(partner: Partner, firstKey: StoredApiKey): Promise<CreatePartnerResult>;
  findPartner(partnerId: string): Promise<Partner | undefined>;
  listPartners(): Promise<Partner[]>;
  addKey(key: StoredApiKey): Promise<AddKeyResult>;
  /** Marks the partner's key revoked (once; revoking again changes nothing and still answers `revoked`). */
  revokeKey(partnerId: string, keyId: string, at: Date): Promise<RevokeKeyResult>;
  /** The keys with these ids, revoked or not; unknown ids are simply absent. */
  findKeys(keyIds: readonly string[]): Promise<StoredApiKey[]>;
  listKeys(partnerId: string): Promise<StoredApiKey[]>;
}

/**
 * Makes and checks API tokens. The token names its key (so the key is found by id), and only a hash of it is
 * ever stored; `matches` compares in constant time.
 */
export interface ApiKeyIssuer {
  issue(partnerId: string, createdAt: Date): { readonly key: StoredApiKey; readonly token: string };
  /** The key id a well-formed token names; undefined for anything else. */
  keyIdOf(token: string): string | undefined;
  matches(token: string, key: StoredApiKey): boolean;
}
