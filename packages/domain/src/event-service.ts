import {
  isValidEventId,
  isValidMaxSeatsPerReservation,
  isValidName,
  isValidTotalSeats,
  type EventChanges,
  type EventSummary,
} from './event.js';
import type { EventRepository, Page, PagePosition, UpdateEventResult } from './ports.js';

export interface CreateEventInput {
  /** Generated when absent. */
  readonly eventId?: string;
  readonly name: string;
  readonly totalSeats: number;
  readonly maxSeatsPerReservation: number;
}

export type EventField = 'eventId' | 'name' | 'totalSeats' | 'maxSeatsPerReservation';

export type CreateEventOutcome =
  | { readonly kind: 'created'; readonly event: EventSummary }
  | { readonly kind: 'already_exists' }
  | { readonly kind: 'invalid'; readonly field: EventField };

export type UpdateEventOutcome = UpdateEventResult | { readonly kind: 'invalid'; readonly field: EventField };

export interface EventService {
  createEvent(input: CreateEventInput): Promise<CreateEventOutcome>;
  updateEvent(eventId: string, changes: EventChanges, expectedVersion?: number): Promise<UpdateEventOutcome>;
  getEvent(eventId: string): Promise<EventSummary | undefined>;
  listEvents(query: { limit: number; after?: PagePosition }): Promise<Page<EventSummary>>;
}

/** Creating, changing and listing events (the seat changes themselves go through the reservation service). */
export function createEventService(deps: { events: EventRepository; newEventId: () => string }): EventService {
  const { events, newEventId } = deps;
  return {
    async createEvent(input) {
      const eventId = input.eventId ?? newEventId();
      if (!isValidEventId(eventId)) return { kind: 'invalid', field: 'eventId' };
      if (!isValidName(input.name)) return { kind: 'invalid', field: 'name' };
      if (!isValidTotalSeats(input.totalSeats)) return { kind: 'invalid', field: 'totalSeats' };
      if (!isValidMaxSeatsPerReservation(input.maxSeatsPerReservation)) {
        return { kind: 'invalid', field: 'maxSeatsPerReservation' };
      }
      return events.createEvent({ ...input, eventId });
    },

    async updateEvent(eventId, changes, expectedVersion) {
      if (changes.name !== undefined && !isValidName(changes.name)) return { kind: 'invalid', field: 'name' };
      if (changes.totalSeats !== undefined && !isValidTotalSeats(changes.totalSeats)) {
        return { kind: 'invalid', field: 'totalSeats' };
      }
      if (!isValidEventId(eventId)) return { kind: 'event_not_found' };
      return events.updateEvent(eventId, changes, expectedVersion);
    },

    getEvent: (eventId) => (isValidEventId(eventId) ? events.getEventSummary(eventId) : Promise.resolve(undefined)),

    listEvents: (query) => events.listEventSummaries(query),
  };
}
