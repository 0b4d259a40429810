import type { Event, EventDefinition, EventSummary } from '../event.js';
import { InvalidPagePosition, type Clock, type EventRepository } from '../ports.js';
import { statusAt, type Reservation } from '../reservation.js';

export interface InMemoryEventRepository extends EventRepository {
  /** Makes the next `count` commits for the event fail with a version conflict, as if another process won. */
  conflictNext(eventId: string, count: number): void;
  cancelElsewhere(reservationId: string): void;
  /** Size of every commit attempted, in order. */
  commitCalls(): { reservations: number; cancellations: number }[];
  allReservations(): Reservation[];
}

/** An in-memory stand-in for the port, for use-case tests. Same semantics as the PostgreSQL adapter. */
export function createInMemoryEventRepository(
  definitions: readonly EventDefinition[],
  clock: Clock = { now: () => new Date() },
): InMemoryEventRepository {
  type Stored = Omit<Event, 'expiredHolds'> & { activeReservations: number };
  const events = new Map<string, Stored>(
    definitions.map((d) => [d.eventId, { ...d, availableSeats: d.totalSeats, version: 0, activeReservations: 0 }]),
  );
  const reservations = new Map<string, Reservation>();
  const pendingConflicts = new Map<string, number>();
  const commitCalls: { reservations: number; cancellations: number }[] = [];

  const takeConflict = (eventId: string): boolean => {
    const left = pendingConflicts.get(eventId) ?? 0;
    if (left === 0) return false;
    pendingConflicts.set(eventId, left - 1);
    // Another process committed: the version moved on.
    const event = events.get(eventId);
    if (event) events.set(eventId, { ...event, version: event.version + 1 });
    return true;
  };
  const holdsOf = (eventId: string) => {
    const now = clock.now();
    const held = [...reservations.values()].filter((r) => r.eventId === eventId && r.status === 'held');
    const expired = held.filter((r) => statusAt(r, now) === 'expired');
    const seats = (list: Reservation[]) => list.reduce((sum, r) => sum + r.seats, 0);
    return { held, expired, heldSeats: seats(held), expiredSeats: seats(expired) };
  };
  const publicEvent = ({ activeReservations: _ignored, ...event }: Stored): Event => {
    const holds = holdsOf(event.eventId);
    return { ...event, availableSeats: event.availableSeats + holds.expiredSeats, expiredHolds: holds.expired.length };
  };
  const summaryOf = (event: Stored): EventSummary => {
    const holds = holdsOf(event.eventId);
    return {
      ...publicEvent(event),
      reservedSeats: event.totalSeats - event.availableSeats - holds.heldSeats,
      heldSeats: holds.heldSeats - holds.expiredSeats,
      reservationCount: event.activeReservations - holds.held.length,
    };
  };
  const tick = () => Promise.resolve();
  /** Marks the event's expired holds and returns their seats: `next` is the event's new state before that. */
  const expireHolds = (eventId: string, next: Stored): Reservation[] => {
    const { expired, expiredSeats } = holdsOf(eventId);
    for (const r of expired) reservations.set(r.reservationId, { ...r, status: 'expired' });
    events.set(eventId, {
      ...next,
      availableSeats: next.availableSeats + expiredSeats,
      activeReservations: next.activeReservations - expired.length,
      version: next.version + expired.length,
    });
    return expired.map((r) => ({ ...r, status: 'expired' as const }));
  };

  return {
    async findEvent(eventId) {
      await tick();
      const event = events.get(eventId);
      return event && publicEvent(event);
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
      const event = { ...definition, availableSeats: definition.totalSeats, version: 0, activeReservations: 0 };
      events.set(definition.eventId, event);
      return { kind: 'created', event: summaryOf(event) };
    },
    async updateEvent(eventId, changes, expectedVersion) {
      await tick();
      const event = events.get(eventId);
      if (!event) return { kind: 'event_not_found' };
      if (expectedVersion !== undefined && expectedVersion !== event.version) {
        return { kind: 'version_mismatch', currentVersion: event.version };
      }
      const { expiredSeats } = holdsOf(eventId);
      // Seats taken by confirmed reservations and live holds.
      const reservedSeats = event.totalSeats - event.availableSeats - expiredSeats;
      const totalSeats = changes.totalSeats ?? event.totalSeats;
      if (totalSeats < reservedSeats) return { kind: 'below_reserved', reservedSeats };
      expireHolds(eventId, {
        ...event,
        name: changes.name ?? event.name,
        totalSeats,
        availableSeats: totalSeats - reservedSeats - expiredSeats,
        version: event.version + 1,
      });
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
      if (!event || takeConflict(expected.eventId) || event.version !== expected.version) {
        return { kind: 'version_conflict' };
      }
      const taken = created.reduce((sum, r) => sum + r.seats, 0);
      const returned = cancellations.reduce((sum, r) => sum + r.seats, 0);
      const reclaimed = holdsOf(event.eventId).expiredSeats;
      if (event.availableSeats + reclaimed - taken + returned < 0) return { kind: 'version_conflict' };
      const next = {
        ...event,
        availableSeats: event.availableSeats - taken + returned,
        activeReservations: event.activeReservations + created.length - cancellations.length,
        version: event.version + created.length + cancellations.length + confirmations.length,
      };
      const expired = expireHolds(event.eventId, next);
      for (const r of created) reservations.set(r.reservationId, r);
      for (const r of cancellations) reservations.set(r.reservationId, { ...r, status: 'cancelled' });
      for (const r of confirmations) reservations.set(r.reservationId, { ...r, status: 'confirmed' });
      return { kind: 'committed', event: publicEvent(events.get(event.eventId)!), expired };
    },
    /** Cancels a reservation behind the service's back, as another process would. */
    cancelElsewhere(reservationId) {
      const stored = reservations.get(reservationId);
      const event = stored && events.get(stored.eventId);
      if (!stored || !event || stored.status !== 'confirmed') return;
      reservations.set(reservationId, { ...stored, status: 'cancelled' });
      events.set(event.eventId, {
        ...event,
        availableSeats: event.availableSeats + stored.seats,
        activeReservations: event.activeReservations - 1,
        version: event.version + 1,
      });
    },
    commitCalls: () => [...commitCalls],
    conflictNext(eventId, count) {
      pendingConflicts.set(eventId, count);
    },
    allReservations() {
      return [...reservations.values()];
    },
  };
}
