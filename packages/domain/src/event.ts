/** The state of an event's seat pool, as the version guard sees it. */
export interface Event {
  readonly eventId: string;
  readonly name: string;
  readonly totalSeats: number;
  readonly availableSeats: number;
  /** Counts accepted changes: +1 per reservation or cancellation applied. */
  readonly version: number;
}

export interface EventSummary extends Event {
  /** Seats held by active (confirmed) reservations. */
  readonly reservedSeats: number;
  /** Number of active (confirmed) reservations. */
  readonly reservationCount: number;
}

export interface EventDefinition {
  readonly eventId: string;
  readonly name: string;
  readonly totalSeats: number;
}

/** The event the seed's unversioned routes operate on; created at start if missing, never reset. */
export const DEFAULT_EVENT: EventDefinition = {
  eventId: 'node-meetup-2025',
  name: 'Node.js Meet-up',
  totalSeats: 500,
};
