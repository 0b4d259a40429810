import type { Event, EventDefinition, EventSummary } from '../event.js';
import { InvalidPagePosition, type Clock, type EventRepository } from '../ports.js';
import { statusAt, type Reservation } from '../reservation.js';
import { spreadSeats, type SeatPool } from '../seat-pool.js';

export interface InMemoryEventRepository extends EventRepository {
  /** Makes the next `count` commits for the event fail with a version conflict, as if another process won. */
  conflictNext(eventId: string, count: number): void;
  cancelElsewhere(reservationId: string): void;
  /** Size of every commit attempted, in order. */
  commitCalls(): { reservations: number; cancellations: number }[];
  allReservations(): Reservation[];
  /** Seats of each pool of the event, in pool order. */
  poolSeats(eventId: string): number[];
}

/** An in-memory stand-in for the port, for use-case tests. Same semantics as the PostgreSQL adapter. */
export function createInMemoryEventRepository(
  definitions: readonly EventDefinition[],
  clock: Clock = { now: () => new Date() },
  { pools = 1 }: { readonly pools?: number } = {},
): InMemoryEventRepository {
  interface Pool {
    available: number;
    version: number;
    touchedAt: number;
  }
  /** `availableSeats` and `version` are the event row's own: seats in no pool, and the event's own edits. */
  type Stored = { -readonly [K in keyof Omit<Event, 'expiredHolds'>]: Event[K] } & {
    activeReservations: number;
    pools: Pool[];
  };
  const newStored = (d: EventDefinition): Stored => ({
    ...d,
    availableSeats: 0,
    version: 0,
    activeReservations: 0,
    pools: spreadSeats(
      d.totalSeats,
      0,
      Array.from({ length: pools }, (_, pool) => ({ pool, active: true })),
      0,
    ).map((available) => ({ available, version: 0, touchedAt: Number.NEGATIVE_INFINITY })),
  });
  const events = new Map<string, Stored>(definitions.map((d) => [d.eventId, newStored(d)]));
  const reservations = new Map<string, Reservation>();
  const pendingConflicts = new Map<string, number>();
  const commitCalls: { reservations: number; cancellations: number }[] = [];
  const pooled = (event: Stored) => event.pools.reduce((sum, p) => sum + p.available, 0);

  const takeConflict = (eventId: string, pool: number): boolean => {
    const left = pendingConflicts.get(eventId) ?? 0;
    if (left === 0) return false;
    pendingConflicts.set(eventId, left - 1);
    // Another process committed on the pool: its version moved on.
    const stored = events.get(eventId)?.pools[pool];
    if (stored) stored.version += 1;
    return true;
  };
  const holdsOf = (eventId: string) => {
    const now = clock.now();
    const held = [...reservations.values()].filter((r) => r.eventId === eventId && r.status === 'held');
    const expired = held.filter((r) => statusAt(r, now) === 'expired');
    const seats = (list: Reservation[]) => list.reduce((sum, r) => sum + r.seats, 0);
    return { held, expired, heldSeats: seats(held), expiredSeats: seats(expired) };
  };
  const publicEvent = ({ activeReservations: _ignored, pools: _pools, ...event }: Stored): Event => {
    const holds = holdsOf(event.eventId);
    const stored = events.get(event.eventId)!;
    return {
      ...event,
      availableSeats: event.availableSeats + pooled(stored) + holds.expiredSeats,
      expiredHolds: holds.expired.length,
      version: event.version + stored.pools.reduce((sum, p) => sum + p.version, 0),
    };
  };
  const summaryOf = (event: Stored): EventSummary => {
    const holds = holdsOf(event.eventId);
    return {
      ...publicEvent(event),
      reservedSeats: event.totalSeats - event.availableSeats - pooled(event) - holds.heldSeats,
      heldSeats: holds.heldSeats - holds.expiredSeats,
      reservationCount: event.activeReservations - holds.held.length,
    };
  };
  const poolState = (eventId: string, pool: number, whole = false): SeatPool => {
    const event = events.get(eventId)!;
    const holds = holdsOf(eventId);
    return {
      eventId,
      pool,
      version: event.pools[pool]!.version,
      availableSeats: event.pools[pool]!.available + holds.expiredSeats,
      expiredHolds: holds.expired.length,
      maxSeatsPerReservation: event.maxSeatsPerReservation,
      whole,
    };
  };
  const tick = () => Promise.resolve();
  /** Marks the event's expired holds and returns their seats to `pool` (to the event row's seats if none). */
  const expireHolds = (eventId: string, pool: number | undefined): Reservation[] => {
    const { expired, expiredSeats } = holdsOf(eventId);
    const event = events.get(eventId)!;
    for (const r of expired) reservations.set(r.reservationId, { ...r, status: 'expired' });
    event.activeReservations -= expired.length;
    if (pool === undefined) {
      event.availableSeats += expiredSeats;
      event.version += expired.length;
    } else {
      event.pools[pool]!.available += expiredSeats;
      event.pools[pool]!.version += expired.length;
    }
    return expired.map((r) => ({ ...r, status: 'expired' as const }));
  };

  return {
    async findEvent(eventId) {
      await tick();
      const event = events.get(eventId);
      return event && publicEvent(event);
    },
    async findSeatPool(eventId, choice) {
      await tick();
      const event = events.get(eventId);
      if (!event) return undefined;
      const pool =
        'pool' in choice
          ? choice.pool
          : event.pools
              .map((p, index) => ({ index, touchedAt: p.touchedAt }))
              .filter(({ index }) => index !== choice.avoid || event.pools.length === 1)
              .sort((a, b) => a.touchedAt - b.touchedAt)[0]!.index;
      return poolState(eventId, pool);
    },
    async rebalanceSeats(eventId, pool, wantedSeats, _smallestSeats) {
      await tick();
      const event = events.get(eventId);
      if (!event) return undefined;
      const now = clock.now().getTime();
      const total = event.availableSeats + pooled(event);
      const spread = spreadSeats(
        total,
        wantedSeats,
        event.pools.map((p, index) => ({ pool: index, active: now - p.touchedAt < 5000 })),
        pool,
      );
      event.availableSeats = 0;
      spread.forEach((seats, index) => (event.pools[index]!.available = seats));
      return poolState(eventId, pool, spread[pool] === total);
    },
    async getEventSummary(eventId) {
      await tick();
      const event = events.get(eventId);
      return event && summaryOf(event);
    },
    async listEventSummaries({ limit, after }) {
      await tick();
      const ids = [...events.keys()].sort().filter((id) => after === undefined || id > after);
      const items = ids.slice(0, limit).map((id) => summaryOf(events.get(id)!));
      return ids.length > limit ? { items, next: items.at(-1)!.eventId } : { items };
    },
    async createEvent(definition) {
      await tick();
      if (events.has(definition.eventId)) return { kind: 'already_exists' };
      const event = newStored(definition);
      events.set(definition.eventId, event);
      return { kind: 'created', event: summaryOf(event) };
    },
    async updateEvent(eventId, changes, expectedVersion) {
      await tick();
      const event = events.get(eventId);
      if (!event) return { kind: 'event_not_found' };
      const version = publicEvent(event).version;
      if (expectedVersion !== undefined && expectedVersion !== version) {
        return { kind: 'version_mismatch', currentVersion: version };
      }
      const { expiredSeats } = holdsOf(eventId);
      const available = event.availableSeats + pooled(event);
      // Seats taken by confirmed reservations and live holds.
      const reservedSeats = event.totalSeats - available - expiredSeats;
      const totalSeats = changes.totalSeats ?? event.totalSeats;
      if (totalSeats < reservedSeats) return { kind: 'below_reserved', reservedSeats };
      // Every pool's seats go to the event row's, which takes the change of total; rebalances spread them again.
      for (const p of event.pools) p.available = 0;
      Object.assign(event, {
        name: changes.name ?? event.name,
        totalSeats,
        availableSeats: totalSeats - reservedSeats - expiredSeats,
        version: event.version + 1,
      });
      expireHolds(eventId, undefined);
      return { kind: 'updated', event: summaryOf(events.get(eventId)!) };
    },
    async listReservations({ partnerId, eventId, status, limit, after }) {
      await tick();
      // Insertion order stands in for creation order.
      const all = [...reservations.values()]
        .filter(
          (r) =>
            r.partnerId === partnerId &&
            r.eventId === eventId &&
            (status === undefined || statusAt(r, clock.now()) === status),
        )
        .map((r) => ({ ...r, status: statusAt(r, clock.now()) }));
      const index = after === undefined ? -1 : all.findIndex((r) => r.reservationId === after);
      if (after !== undefined && index < 0) throw new InvalidPagePosition('not a reservation position');
      const start = index + 1;
      const items = all.slice(start, start + limit);
      return start + limit < all.length ? { items, next: items.at(-1)!.reservationId } : { items };
    },
    async findReservation(reservationId) {
      await tick();
      const found = reservations.get(reservationId);
      return found && { ...found, status: statusAt(found, clock.now()) };
    },
    async findEventsWithExpiredHolds(limit) {
      await tick();
      return [...events.keys()].filter((id) => holdsOf(id).expired.length > 0).slice(0, limit);
    },
    async commitChanges(expected, { reservations: created, cancellations, confirmations = [] }) {
      commitCalls.push({ reservations: created.length, cancellations: cancellations.length });
      await tick();
      const now = clock.now();
      const liveStatus = (id: string) => {
        const stored = reservations.get(id);
        return stored && statusAt(stored, now);
      };
      const gone = [
        ...cancellations.filter((r) => !['confirmed', 'held'].includes(liveStatus(r.reservationId) ?? '')),
        ...confirmations.filter((r) => liveStatus(r.reservationId) !== 'held'),
      ].map((r) => r.reservationId);
      if (gone.length > 0) return { kind: 'not_active', reservationIds: gone };
      const event = events.get(expected.eventId);
      const pool = event?.pools[expected.pool];
      if (!event || !pool || takeConflict(expected.eventId, expected.pool) || pool.version !== expected.version) {
        return {
          kind: 'version_conflict',
          ...(event && pool ? { current: poolState(expected.eventId, expected.pool) } : {}),
        };
      }
      const taken = created.reduce((sum, r) => sum + r.seats, 0);
      const returned = cancellations.reduce((sum, r) => sum + r.seats, 0);
      const reclaimed = holdsOf(event.eventId).expiredSeats;
      if (pool.available + reclaimed - taken + returned < 0) {
        return { kind: 'version_conflict', current: poolState(expected.eventId, expected.pool) };
      }
      pool.available += returned - taken;
      pool.version += created.length + cancellations.length + confirmations.length;
      pool.touchedAt = now.getTime();
      event.activeReservations += created.length - cancellations.length;
      const expired = expireHolds(event.eventId, expected.pool);
      for (const r of created) reservations.set(r.reservationId, r);
      for (const r of cancellations) reservations.set(r.reservationId, { ...r, status: 'cancelled' });
      for (const r of confirmations) reservations.set(r.reservationId, { ...r, status: 'confirmed' });
      return { kind: 'committed', pool: poolState(expected.eventId, expected.pool), expired };
    },
    /** Cancels a reservation behind the service's back, as another process would. */
    cancelElsewhere(reservationId) {
      const stored = reservations.get(reservationId);
      const event = stored && events.get(stored.eventId);
      if (!stored || !event || stored.status !== 'confirmed') return;
      reservations.set(reservationId, { ...stored, status: 'cancelled' });
      event.pools[0]!.available += stored.seats;
      event.pools[0]!.version += 1;
      event.activeReservations -= 1;
    },
    commitCalls: () => [...commitCalls],
    conflictNext(eventId, count) {
      pendingConflicts.set(eventId, count);
    },
    poolSeats(eventId) {
      return events.get(eventId)?.pools.map((p) => p.available) ?? [];
    },
    allReservations() {
      return [...reservations.values()];
    },
  };
}
