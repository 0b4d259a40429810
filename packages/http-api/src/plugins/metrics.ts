import type { PoolStats } from '@ticketboss/adapters-postgres';
import type { CommitObserver, EventSummary, Page, PagePosition, ReservationService } from '@ticketboss/domain';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DeliveryObserver } from '../webhooks/deliver.js';

export interface MetricsSources {
  /** The API's database pool. */
  readonly pool?: () => PoolStats | undefined;
  /** Events, page by page, for their available seats (read when scraped). */
  readonly events?: (query: { limit: number; after?: PagePosition }) => Promise<Page<EventSummary>>;
  /** Jobs of the webhook tasks not yet done (read when scraped). */
  readonly webhookQueueDepth?: () => Promise<number>;
}

/** Where a scrape reports a failed read (a request's logger). */
export interface ScrapeLog {
  warn(details: object, message: string): void;
}

export interface Metrics {
  readonly registry: Registry;
  /**
   * The registry's text. A failed read of the events is logged on `log`, once per streak of failing scrapes
   * (a scrape every few seconds through an outage would otherwise drown the log).
   */
  scrape(log: ScrapeLog): Promise<string>;
  /** For the reservation service: the size of each coalesced commit and each version conflict. */
  readonly commits: CommitObserver;
  /** The same service, counting what it decides. */
  instrument(reservations: ReservationService): ReservationService;
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** For the webhook worker: each attempt's outcome and duration. */
  readonly webhooks: DeliveryObserver;
}

/** At most this many events get a seats gauge; a scrape reads them in pages of 100. */
const MAX_EVENTS_SCRAPED = 1000;

/**
 * Prometheus metrics of one API process: requests by route and status, reservation and cancellation outcomes,
 * coalesced batch sizes and version conflicts, pool usage, available seats per event, and Node's own.
 */
export function createMetrics(sources: MetricsSources = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'ticketboss_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'ticketboss_http_request_duration_seconds',
    help: 'Time from request to response, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const reservations = new Counter({
    name: 'ticketboss_reservations_total',
    help: 'Reservation requests decided, by outcome (reserved, insufficient_seats, contended, invalid_seats, ...)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const cancellations = new Counter({
    name: 'ticketboss_cancellations_total',
    help: 'Cancellation requests decided, by outcome (cancelled, already_cancelled, not_found, contended)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const confirmations = new Counter({
    name: 'ticketboss_confirmations_total',
    help: 'Hold confirmations decided, by outcome (confirmed, hold_expired, cancelled, not_found, contended)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const swept = new Counter({
    name: 'ticketboss_holds_expired_total',
    help: 'Holds past their expiry that the sweeper (or their expiry job) marked expired, returning their seats',
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: 'ticketboss_commit_batch_size',
    help: 'Changes (reservations and cancellations) applied by one coalesced commit',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [registry],
  });
  const conflicts = new Counter({
    name: 'ticketboss_version_conflicts_total',
    help: 'Commits that found their seat pool changed (another process wrote, or a rebalance took seats) and were planned again',
    registers: [registry],
  });
  const rebalances = new Counter({
    name: 'ticketboss_seat_pool_rebalances_total',
    help: "Rebalances of an event's seat pools, asked for when this process's pool could not cover a reservation",
    registers: [registry],
  });
  new Gauge({
    name: 'ticketboss_db_pool_connections',
    help: 'Database pool of this process: open, idle and max connections, and queries waiting for one',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const stats = sources.pool?.();
      if (!stats) return;
      this.set({ state: 'open' }, stats.total);
      this.set({ state: 'idle' }, stats.idle);
      this.set({ state: 'waiting' }, stats.waiting);
      this.set({ state: 'max' }, stats.max);
    },
  });
  /** The events read's failure in the scrape under way, for `scrape` to log; and whether the last one failed. */
  let readFailure: { error: unknown } | undefined;
  let failing = false;
  const collectErrors = new Counter({
    name: 'ticketboss_metrics_collect_errors_total',
    help: 'Scrapes whose read of the events failed; the seats gauge then keeps its last values',
    // Registered after the gauge below, so that a scrape shows the failure of its own read.
    registers: [],
  });
  new Gauge({
    name: 'ticketboss_event_available_seats',
    help: 'Seats available per event, read when scraped (the last values when that read fails)',
    labelNames: ['event_id'] as const,
    registers: [registry],
    async collect() {
      if (!sources.events) return;
      // Read everything first, then replace the series at once: a failed read keeps the last values and never
      // fails the scrape (the other metrics matter most when the database is in trouble).
      const read = new Map<string, number>();
      try {
        let after: PagePosition | undefined;
        while (read.size < MAX_EVENTS_SCRAPED) {
          const page = await sources.events({ limit: 100, after });
          for (const event of page.items) read.set(event.eventId, event.availableSeats);
          if (!page.next) break;
          after = page.next;
        }
      } catch (error) {
        collectErrors.inc();
        readFailure = { error };
        return;
      }
      failing = false;
      this.reset();
      for (const [eventId, seats] of read) this.set({ event_id: eventId }, seats);
    },
  });
  registry.registerMetric(collectErrors);
  const webhooks = webhookMetrics(registry, sources);

  return {
    registry,
    async scrape(log) {
      const text = await registry.metrics();
      const failure = readFailure;
      readFailure = undefined;
      if (failure && !failing) {
        failing = true;
        log.warn(
          { err: failure.error },
          'metrics: reading the events failed; the seats gauge keeps its last values until a read succeeds',
        );
      }
      return text;
    },
    commits: {
      committed: (changes) => batchSize.observe(changes),
      conflicted: () => conflicts.inc(),
      rebalanced: () => rebalances.inc(),
    },
    instrument(service) {
      return {
        ...service,
        async reserveSeats(command) {
          const outcome = await service.reserveSeats(command);
          reservations.inc({ outcome: outcome.kind });
          return outcome;
        },
        async cancelReservation(command) {
          const outcome = await service.cancelReservation(command);
          cancellations.inc({ outcome: outcome.kind });
          return outcome;
        },
        async confirmHold(command) {
          const outcome = await service.confirmHold(command);
          confirmations.inc({ outcome: outcome.kind });
          return outcome;
        },
        async sweepExpiredHolds(maxEvents) {
          const outcome = await service.sweepExpiredHolds(maxEvents);
          swept.inc(outcome.expired.length);
          return outcome;
        },
        async expireHold(reservationId) {
          const outcome = await service.expireHold(reservationId);
          if (outcome.kind === 'swept') swept.inc(outcome.expired.length);
          return outcome;
        },
      };
    },
    webhooks,
    observeRequest(method, route, status, seconds) {
      const labels = { method, route, status: String(status) };
      requests.inc(labels);
      duration.observe(labels, seconds);
    },
  };
}

/** Webhook deliveries by outcome, their duration, and the queue's depth read from the database when scraped. */
function webhookMetrics(registry: Registry, sources: MetricsSources): DeliveryObserver {
  const deliveries = new Counter({
    name: 'ticketboss_webhook_deliveries_total',
    help: 'Webhook attempts by outcome: delivered (2xx), failed (retried later), given_up (the delivery failed for good)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'ticketboss_webhook_delivery_duration_seconds',
    help: "Time from a webhook POST to the endpoint's answer (or to the failure)",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  new Gauge({
    name: 'ticketboss_webhook_queue_depth',
    help: 'Jobs of the webhook tasks not yet done (deliveries and hold expiries waiting, due or running), read when scraped',
    registers: [registry],
    async collect() {
      if (!sources.webhookQueueDepth) return;
      try {
        this.set(await sources.webhookQueueDepth());
      } catch {
        // Keeps its last value: the database's trouble shows in the other metrics and /ready.
      }
    },
  });
  return {
    attempted(outcome, seconds) {
      deliveries.inc({ outcome });
      duration.observe(seconds);
    },
  };
}
