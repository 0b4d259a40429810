import { randomUUID } from 'node:crypto';
import {
  createConsoleStore,
  createDatabaseClock,
  createPostgresEventRepository,
  createPostgresIdempotencyStore,
  createPostgresPartnerRepository,
  createPostgresWebhookStore,
  type DatabaseHandle,
} from '@ticketboss/adapters-postgres';
import {
  createEventService,
  createIdempotency,
  createPartnerService,
  createReservationService,
  type Clock,
  type CommitObserver,
  type ConsoleStore,
  type EventService,
  type Idempotency,
  type PartnerService,
  type ReservationService,
  type Timers,
  type WebhookStore,
} from '@ticketboss/domain';
import { apiKeyIssuer } from './api-keys.js';

export interface Services {
  readonly reservations: ReservationService;
  readonly events: EventService;
  readonly partners: PartnerService;
  readonly idempotency: Idempotency;
  /** Partners' webhook endpoints, and the deliveries the database records for them. */
  readonly webhooks: WebhookStore;
  /** What the operator console reads, and where the API processes add their partners' activity. */
  readonly console: ConsoleStore;
  /** Whose time the services go by: the database's unless the caller gave a clock. */
  readonly clock: Clock;
  /** Stops the database clock that createServices started, if it did (a clock given to it is the caller's). */
  close(): Promise<void>;
}

/** How long an Idempotency-Key stays claimed by a request before another may take it over. */
export const idempotencyLeaseMs = (maxWaitMs: number) => Math.ceil(maxWaitMs * 1.5) + 2000;

/** How long Idempotency-Key answers are kept by default: 24 hours. */
export const DEFAULT_IDEMPOTENCY_RETENTION_SECONDS = 24 * 60 * 60;

/** Timers that never keep the process alive on their own. */
export const unrefTimers: Timers = {
  after(ms, callback) {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/**
 * The use cases on PostgreSQL, wired the same way for the server, the command line and the tests. Time is the
 * database's (see database-clock.ts in adapters-postgres): the clock is started here, from its first samples,
 * before anything can read it, and `close()` stops it.
 */
export async function createServices(
  db: DatabaseHandle,
  options: {
    maxWaitMs: number;
    timers?: Timers;
    observer?: CommitObserver;
    /** How long Idempotency-Key answers are kept (default 24 h). */
    idempotencyRetentionSeconds?: number;
    /** Whose time decides expiries (tests move it); the database's by default. */
    clock?: Clock;
    /** How many seat pools a new event gets (default 8). */
    seatPools?: number;
  },
): Promise<Services> {
  const { clock, close } = await startClock(db, options.clock);
  const repository = createPostgresEventRepository(db, { clock, seatPools: options.seatPools });
  return {
    reservations: createReservationService({
      repository,
      clock,
      ids: { reservationId: randomUUID },
      maxWaitMs: options.maxWaitMs,
      timers: options.timers,
      observer: options.observer,
    }),
    events: createEventService({ events: repository, newEventId: randomUUID }),
    partners: createPartnerService({
      partners: createPostgresPartnerRepository(db),
      keys: apiKeyIssuer,
      clock,
    }),
    idempotency: createIdempotency({
      store: createPostgresIdempotencyStore(db),
      clock,
      // A request is answered within about 1.5 x maxWaitMs (docs/design.md, "Bounded waiting"): past that and a
      // margin its holder is taken to be gone. One that was only slow changes nothing: its change applies only while
      // its claim holds.
      leaseMs: idempotencyLeaseMs(options.maxWaitMs),
      retentionMs: (options.idempotencyRetentionSeconds ?? DEFAULT_IDEMPOTENCY_RETENTION_SECONDS) * 1000,
    }),
    webhooks: createPostgresWebhookStore(db),
    console: createConsoleStore(db, clock),
    clock,
    close,
  };
}

/** The clock given, or the database's, started; `close` stops the latter. */
async function startClock(
  db: DatabaseHandle,
  given: Clock | undefined,
): Promise<{ clock: Clock; close: () => Promise<void> }> {
  if (given) return { clock: given, close: async () => undefined };
  const clock = createDatabaseClock(db);
  await clock.start();
  return { clock, close: () => clock.stop() };
}
