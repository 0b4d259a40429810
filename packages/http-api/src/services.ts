import { randomUUID } from 'node:crypto';
import {
  createPostgresEventRepository,
  createPostgresPartnerRepository,
  type DatabaseHandle,
} from '@ticketboss/adapters-postgres';
import {
  createEventService,
  createPartnerService,
  createReservationService,
  type Clock,
  type CommitObserver,
  type EventService,
  type PartnerService,
  type ReservationService,
  type Timers,
} from '@ticketboss/domain';
import { apiKeyIssuer } from './api-keys.js';

export interface Services {
  readonly reservations: ReservationService;
  readonly events: EventService;
  readonly partners: PartnerService;
}

const systemClock: Clock = { now: () => new Date() };

/** Timers that never keep the process alive on their own. */
export const unrefTimers: Timers = {
  after(ms, callback) {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** The use cases on PostgreSQL, wired the same way for the server, the command line and the tests. */
export function createServices(
  db: DatabaseHandle,
  options: { maxWaitMs: number; timers?: Timers; observer?: CommitObserver },
): Services {
  const repository = createPostgresEventRepository(db);
  return {
    reservations: createReservationService({
      repository,
      clock: systemClock,
      ids: { reservationId: randomUUID },
      maxWaitMs: options.maxWaitMs,
      timers: options.timers,
      observer: options.observer,
    }),
    events: createEventService({ events: repository, newEventId: randomUUID }),
    partners: createPartnerService({
      partners: createPostgresPartnerRepository(db),
      keys: apiKeyIssuer,
      clock: systemClock,
    }),
  };
}
