import type { Event, EventChanges, EventDefinition, EventSummary } from './event.js';
import type { Partner, StoredApiKey } from './partner.js';
import type { Reservation, ReservationStatus } from './reservation.js';
import type { PoolChoice, SeatPool } from './seat-pool.js';

/**
 * The version one seat pool of an event had when a change was planned; the change applies, on that pool, only if
 * the pool still has it.
 */
export interface ExpectedVersion {
  readonly eventId: string;
  readonly pool: number;
  readonly version: number;
}

/** What one commit applies to an event: new reservations (or holds), cancellations, confirmations of holds. */
export interface SeatChanges {
  readonly reservations: readonly Reservation[];
  readonly cancellations: readonly Reservation[];
  /** Live holds to confirm: their seats stay taken. */
  readonly confirmations?: readonly Reservation[];
  /**
   * Idempotency-Key answers to record in the same transaction, one per change made under a key; the commit
   * applies only if each claim is still held (see IdempotencyStore).
   */
  readonly receipts?: readonly Receipt[];
}

export type CommitResult =
  /**
   * Applied, with every hold of the event that had expired by then marked `expired` and its seats returned to the
   * pool; `pool` is the pool after the commit.
   */
  | { readonly kind: 'committed'; readonly pool: SeatPool; readonly expired: readonly Reservation[] }
  /**
   * The pool changed since it was read (or its seats no longer fit): nothing was applied; re-plan. `current` is the
   * pool as the failed commit saw it, when known: a starting point for the next plan (itself guarded by the
   * version), never grounds to refuse anyone.
   */
  | { readonly kind: 'version_conflict'; readonly current?: SeatPool }
  /**
   * Some reservations to cancel or confirm were no longer live (cancelled, confirmed or expired meanwhile):
   * nothing was applied.
   */
  | { readonly kind: 'not_active'; readonly reservationIds: readonly string[] }
  /** The Idempotency-Key claims of these changes were taken over by another request: nothing was applied. */
  | { readonly kind: 'claim_lost'; readonly reservationIds: readonly string[] };

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
  /** The event as partners see it: its seats summed over its pools, its version over the event and its pools. */
  findEvent(eventId: string): Promise<Event | undefined>;
  /**
   * One of the event's seat pools with the seats of the event's holds past their expiry (and nothing summed over
   * its live holds): what a commit on it can give. `whole` is false.
   */
  findSeatPool(eventId: string, choice: PoolChoice): Promise<SeatPool | undefined>;
  /**
   * Locks the event and all its pools (in a fixed order) and moves seats between pools so that `pool` has
   * `wantedSeats` if the event has them, plus a share of the rest (see `spreadSeats`); or all of them if not, and
   * then `whole` says so. Seats it gives for a commit that will follow (all that is wanted, or all there is and
   * at least `smallestSeats`) are the pool's alone until that commit, or for a moment if it never comes. Changes
   * no version. Undefined if the event does not exist.
   */
  rebalanceSeats(
    eventId: string,
    pool: number,
    wantedSeats: number,
    smallestSeats: number,
  ): Promise<SeatPool | undefined>;
  getEventSummary(eventId: string): Promise<EventSummary | undefined>;
  /** Events in id order. */
  listEventSummaries(query: { readonly limit: number; readonly after?: PagePosition }): Promise<Page<EventSummary>>;
  createEvent(definition: EventDefinition): Promise<CreateEventResult>;
  /**
   * Renames the event or changes its total (available seats move by the same amount), as one change of its
   * version; only if it has `expectedVersion` when one is given.
   */
  updateEvent(eventId: string, changes: EventChanges, expectedVersion?: number): Promise<UpdateEventResult>;
  /** The reservation, its status as of now (a hold past its expiry reads `expired`). */
  findReservation(reservationId: string): Promise<Reservation | undefined>;
  /** Ids of events with holds past their expiry not yet marked, at most `limit`. */
  findEventsWithExpiredHolds(limit: number): Promise<string[]>;
  /**
   * One partner's reservations of one event, oldest first. Walking the pages sees every reservation that existed
   * when the walk began exactly once, whatever is added meanwhile. Throws `InvalidPagePosition` for a position it
   * did not make.
   */
  listReservations(query: ReservationQuery): Promise<Page<Reservation>>;
  /**
   * In one transaction, and only if the pool still has the expected version and the seats, every reservation to
   * cancel or confirm is still live and every receipt's claim is still held: records the new reservations, cancels
   * and confirms the others, expires the event's holds whose time has come, moves the seats (those returned go to
   * this pool), records the receipts, and grows the pool's version by one per change (expiries included).
   */
  commitChanges(expected: ExpectedVersion, changes: SeatChanges): Promise<CommitResult>;
}

export interface Clock {
  now(): Date;
}

/** One Idempotency-Key of one partner on one route. */
export interface IdempotencyScope {
  readonly partnerId: string;
  readonly route: string;
  readonly key: string;
}

/**
 * The answer a request under an Idempotency-Key was given, recorded so that a retry gets it again. The domain only
 * stores and returns it, never looks inside: the edge that answers makes it and replays it (http-api keeps the
 * status in `code` and the body in `text`, so a replay is byte for byte the first answer). Two plain parts, so that
 * a store can keep it as it is.
 */
export interface RecordedAnswer {
  readonly code: number;
  readonly text: string;
}

/** The right to decide a key's request, held until `lockedUntil` unless completed first. */
export interface IdempotencyClaim {
  readonly scope: IdempotencyScope;
  readonly token: string;
}

/** The answer to record for the change to `reservationId`, under the claim, in the change's own transaction. */
export interface Receipt {
  readonly reservationId: string;
  readonly claim: IdempotencyClaim;
  readonly answer: RecordedAnswer;
}

export type ClaimOutcome =
  | { readonly kind: 'claimed'; readonly claim: IdempotencyClaim }
  | { readonly kind: 'completed'; readonly fingerprint: string; readonly answer: RecordedAnswer }
  | { readonly kind: 'in_flight'; readonly fingerprint: string; readonly lockedUntil: Date };

/**
 * Where Idempotency-Key records live. A key is claimed before its request is decided; the claim lasts a lease,
 * after which another request may take it over (its holder died). A claim is completed with the answer, either
 * here or by the commit the answer reports (a Receipt), or released when nothing was decided.
 */
export interface IdempotencyStore {
  /** Claims the key, or says how it stands. A record older than `retentionMs` counts as absent. */
  claim(
    scope: IdempotencyScope,
    fingerprint: string,
    options: { readonly now: Date; readonly leaseMs: number; readonly retentionMs: number },
  ): Promise<ClaimOutcome>;
  /** Records the answer, if the claim is still held; false if it was taken over. */
  complete(claim: IdempotencyClaim, answer: RecordedAnswer, now: Date): Promise<boolean>;
  /** Gives the key back, if the claim is still held and nothing was recorded. */
  release(claim: IdempotencyClaim): Promise<void>;
  /** Deletes up to `limit` records created before `before`; returns how many. */
  purge(before: Date, limit: number): Promise<number>;
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

/**
 * The store could not be reached: the connection was refused, cut or timed out, or the server is shutting down.
 * A read changed nothing; a change whose answer was lost this way may or may not have been applied (adapters
 * find out when they can, and throw this only when they cannot). Retrying later, with the same Idempotency-Key
 * for a change, is safe.
 */
export class StoreUnavailable extends Error {
  override readonly name = 'StoreUnavailable';
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
