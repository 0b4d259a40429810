import type { Event, EventDefinition } from '../event.js';
import type { EventRepository } from '../ports.js';
import type { Reservation } from '../reservation.js';

export interface InMemoryEventRepository extends EventRepository {
  /** Makes the next `count` commits for the event fail with a version conflict, as if another process won. */
  conflictNext(eventId: string, count: number): void;
  allReservations(): Reservation[];
}

/** An in-memory stand-in for the port, for use-case tests. Same semantics as the PostgreSQL adapter. */
export function createInMemoryEventRepository(definitions: readonly EventDefinition[]): InMemoryEventRepository {
  const events = new Map<string, Event & { activeReservations: number }>(
    definitions.map((d) => [d.eventId, { ...d, availableSeats: d.totalSeats, version: 0, activeReservations: 0 }]),
  );
  const reservations = new Map<string, Reservation>();
  const pendingConflicts = new Map<string, number>();

  const takeConflict = (eventId: string): boolean => {
    const left = pendingConflicts.get(eventId) ?? 0;
    if (left === 0) return false;
    pendingConflicts.set(eventId, left - 1);
    // Another process committed: the version moved on.
    const event = events.get(eventId);
    if (event) events.set(eventId, { ...event, version: event.version + 1 });
    return true;
  };
  const publicEvent = ({ activeReservations: _ignored, ...event }: Event & { activeReservations: number }) => event;
  const tick = () => Promise.resolve();

  return {
    async findEvent(eventId) {
      await tick();
      const event = events.get(eventId);
      return event && publicEvent(event);
    },
    async getEventSummary(eventId) {
      await tick();
      const event = events.get(eventId);
      if (!event) return undefined;
      return {
        ...publicEvent(event),
        reservedSeats: event.totalSeats - event.availableSeats,
        reservationCount: event.activeReservations,
      };
    },
    async findReservation(reservationId) {
      await tick();
      return reservations.get(reservationId);
    },
    async commitReservation(expected, reservation) {
      await tick();
      const event = events.get(expected.eventId);
      if (!event || takeConflict(expected.eventId)) return { kind: 'version_conflict' };
      if (event.version !== expected.version || event.availableSeats < reservation.seats) {
        return { kind: 'version_conflict' };
      }
      const next = {
        ...event,
        availableSeats: event.availableSeats - reservation.seats,
        activeReservations: event.activeReservations + 1,
        version: event.version + 1,
      };
      events.set(event.eventId, next);
      reservations.set(reservation.reservationId, reservation);
      return { kind: 'committed', event: publicEvent(next) };
    },
    async commitCancellation(expected, reservation) {
      await tick();
      const stored = reservations.get(reservation.reservationId);
      if (!stored || stored.status !== 'confirmed') return { kind: 'already_cancelled' };
      const event = events.get(expected.eventId);
      if (!event || takeConflict(expected.eventId) || event.version !== expected.version) {
        return { kind: 'version_conflict' };
      }
      const next = {
        ...event,
        availableSeats: event.availableSeats + stored.seats,
        activeReservations: event.activeReservations - 1,
        version: event.version + 1,
      };
      events.set(event.eventId, next);
      reservations.set(stored.reservationId, { ...stored, status: 'cancelled' });
      return { kind: 'committed', event: publicEvent(next) };
    },
    conflictNext(eventId, count) {
      pendingConflicts.set(eventId, count);
    },
    allReservations() {
      return [...reservations.values()];
    },
  };
}
