import type { Event, EventDefinition } from '../event.js';
import type { EventRepository } from '../ports.js';
import type { Reservation } from '../reservation.js';

export interface InMemoryEventRepository extends EventRepository {
  /** Makes the next `count` commits for the event fail with a version conflict, as if another process won. */
  conflictNext(eventId: string, count: number): void;
  cancelElsewhere(reservationId: string): void;
  /** Size of every commit attempted, in order. */
  commitCalls(): { reservations: number; cancellations: number }[];
  allReservations(): Reservation[];
}

/** An in-memory stand-in for the port, for use-case tests. Same semantics as the PostgreSQL adapter. */
export function createInMemoryEventRepository(definitions: readonly EventDefinition[]): InMemoryEventRepository {
  const events = new Map<string, Event & { activeReservations: number }>(
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
    async commitChanges(expected, { reservations: created, cancellations }) {
      commitCalls.push({ reservations: created.length, cancellations: cancellations.length });
      await tick();
      const gone = cancellations
        .filter((r) => reservations.get(r.reservationId)?.status !== 'confirmed')
        .map((r) => r.reservationId);
      if (gone.length > 0) return { kind: 'not_active', reservationIds: gone };
      const event = events.get(expected.eventId);
      if (!event || takeConflict(expected.eventId) || event.version !== expected.version) {
        return { kind: 'version_conflict' };
      }
      const taken = created.reduce((sum, r) => sum + r.seats, 0);
      const returned = cancellations.reduce((sum, r) => sum + r.seats, 0);
      if (event.availableSeats - taken + returned < 0) return { kind: 'version_conflict' };
      const next = {
        ...event,
        availableSeats: event.availableSeats - taken + returned,
        activeReservations: event.activeReservations + created.length - cancellations.length,
        version: event.version + created.length + cancellations.length,
      };
      events.set(event.eventId, next);
      for (const r of created) reservations.set(r.reservationId, r);
      for (const r of cancellations) reservations.set(r.reservationId, { ...r, status: 'cancelled' });
      return { kind: 'committed', event: publicEvent(next) };
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
