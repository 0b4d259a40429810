import { StoreUnavailable } from '@ticketboss/domain';
import {
  Kysely,
  PostgresDialect,
  type ColumnType,
  type Generated,
  type PostgresPool,
  type PostgresPoolClient,
} from 'kysely';
import pg from 'pg';

/** Row types, snake_case as in migrations/; mapped to domain types only in the repositories. */
export interface EventsTable {
  event_id: string;
  name: string;
  total_seats: number;
  available_seats: number;
  active_reservations: Generated<number>;
  max_seats_per_reservation: Generated<number>;
  /** bigint: node-postgres returns it as a string. */
  version: ColumnType<string, number | undefined, number>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** One of an event's seat pools (migration 0004). */
export interface EventSeatPoolsTable {
  event_id: string;
  pool: number;
  available_seats: number;
  /** bigint: node-postgres returns it as a string. */
  version: ColumnType<string, number | undefined, number>;
  active_reservations: Generated<number>;
  touched_at: Generated<Date>;
  granted_at: Generated<Date>;
  /** The pool's last sale (migration 0007); null if it never sold. */
  last_sale_at: Date | null;
}

export interface ReservationsTable {
  reservation_id: string;
  event_id: string;
  partner_id: string;
  seats: number;
  status: 'held' | 'confirmed' | 'cancelled' | 'expired';
  created_at: ColumnType<Date, Date | undefined, never>;
  cancelled_at: Date | null;
  expires_at: Date | null;
}

export interface IdempotencyKeysTable {
  partner_id: string;
  route: string;
  idem_key: string;
  fingerprint: string;
  claim_token: string;
  locked_until: Date;
  status_code: number | null;
  response_body: string | null;
  created_at: Date;
  completed_at: Date | null;
}

export interface PartnersTable {
  partner_id: string;
  name: string;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export interface ApiKeysTable {
  key_id: string;
  partner_id: string;
  token_hash: Uint8Array;
  created_at: ColumnType<Date, Date | undefined, never>;
  revoked_at: Date | null;
}

/** A partner's webhook endpoint (migration 0006). */
export interface WebhookEndpointsTable {
  webhook_id: string;
  partner_id: string;
  url: string;
  description: string | null;
  event_types: string[];
  enabled: Generated<boolean>;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: Date | null;
  failing_since: Date | null;
  disabled_reason: string | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: Generated<Date>;
}

/** One notification to one endpoint, recorded by the triggers on reservations or as a test. */
export interface WebhookDeliveriesTable {
  delivery_id: string;
  /** bigint: node-postgres returns it as a string. */
  seq: ColumnType<string, never, never>;
  webhook_id: string;
  type: string;
  reservation_id: string | null;
  occurred_at: Date;
  /** The reservations row as to_jsonb wrote it (timestamps as ISO strings). */
  reservation: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  state: Generated<'pending' | 'delivered' | 'failed'>;
  attempts: Generated<number>;
  first_attempt_at: Date | null;
  next_attempt_at: Date | null;
  delivered_at: Date | null;
}

export interface WebhookAttemptsTable {
  /** bigint: node-postgres returns it as a string. */
  attempt_id: ColumnType<string, never, never>;
  delivery_id: string;
  webhook_id: string;
  attempt: number;
  attempted_at: Date;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  next_attempt_at: Date | null;
}

/** Per event, second and seat pool, the changes applied (migration 0007); written by the statements that apply them. */
export interface EventActivityTable {
  event_id: string;
  second: Date;
  /** -1: an event's update. */
  pool: number;
  reservations: Generated<number>;
  reserved_seats: Generated<number>;
  holds: Generated<number>;
  held_seats: Generated<number>;
  confirmations: Generated<number>;
  confirmed_seats: Generated<number>;
  cancellations: Generated<number>;
  cancelled_seats: Generated<number>;
  expiries: Generated<number>;
  expired_seats: Generated<number>;
  capacity_change: Generated<number>;
}

/** Per partner and minute, what the API processes answered it (migration 0007); added by each process's flush. */
export interface PartnerActivityTable {
  partner_id: string;
  minute: Date;
  requests: Generated<number>;
  reservations: Generated<number>;
  seats: Generated<number>;
  refusals: Generated<number>;
  rate_limited: Generated<number>;
  last_request_at: Date;
}

export interface SchemaMigrationsTable {
  name: string;
  checksum: string;
  applied_at: Generated<Date>;
}

export interface Database {
  events: EventsTable;
  event_seat_pools: EventSeatPoolsTable;
  reservations: ReservationsTable;
  partners: PartnersTable;
  api_keys: ApiKeysTable;
  idempotency_keys: IdempotencyKeysTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  event_activity: EventActivityTable;
  partner_activity: PartnerActivityTable;
  schema_migrations: SchemaMigrationsTable;
}

export interface DatabaseOptions {
  readonly connectionString: string;
  readonly poolSize?: number;
  /**
   * How long a statement may wait for a row lock before failing (PostgreSQL's lock_timeout). Bounds how long a
   * commit can hang behind someone else's lock; the commit is then retried or answered "contended".
   */
  readonly lockTimeoutMs?: number;
  /** PostgreSQL's statement_timeout: the server cancels a statement that runs longer (nothing is applied). */
  readonly statementTimeoutMs?: number;
  /**
   * How long the client waits for any answer before giving the connection up (a dead network path); keep it
   * above the statement timeout, so that the server's own cancellation normally comes first.
   */
  readonly queryTimeoutMs?: number;
  /** How long to wait for a new connection (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Called with errors of idle pooled connections (for example the server restarting) so they can be logged. */
  readonly onIdleClientError?: (error: Error) => void;
  /**
   * Told when the database stops answering (the first failure to connect or to get an answer, with its error)
   * and when it answers again (a query succeeds OUTAGE_QUIET_MS or more after the last failure; the report
   * gives the time from the first failure to the last): once per outage, never per query, so a caller can log
   * an outage as one line.
   */
  readonly onAvailabilityChange?: (change: AvailabilityChange) => void;
}

export type AvailabilityChange =
  | { readonly available: false; readonly error: Error }
  | { readonly available: true; readonly unavailableForMs: number };

/** A pooled, typed handle on the TicketBoss database. */
export type DatabaseHandle = Kysely<Database>;

/**
 * A Kysely handle on a pg pool. Every failure that means "the database is not there" (refused, cut, timed out,
 * shutting down) reaches callers as the domain's StoreUnavailable, whatever the query, so the API can answer 503
 * with Retry-After rather than 500; every other error (a SQLSTATE) passes through as pg raised it.
 */
export function createDatabase(options: DatabaseOptions): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    keepAlive: true,
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
    options: [
      options.lockTimeoutMs ? `-c lock_timeout=${Math.round(options.lockTimeoutMs)}` : '',
      options.statementTimeoutMs ? `-c statement_timeout=${Math.round(options.statementTimeoutMs)}` : '',
    ]
      .filter(Boolean)
      .join(' '),
  });
  const availability = trackAvailability(options.onAvailabilityChange);
  // Without a listener, an idle client's error (server restart, network cut) would crash the process. A lost
  // idle connection is reported as the start of an outage too.
  pool.on('error', (error) => {
    if (isUnavailable(error)) availability.down(error);
    options.onIdleClientError?.(error);
  });
  // The pool listens to a client's errors only while it is idle. A connection cut while a query runs, or while
  // a transaction holds the client between statements, also emits 'error' on the client, and with no listener
  // that would crash the process. The query in flight is rejected anyway, and the pool drops a client that is
  // no longer queryable when it is released, so the event itself carries nothing more to act on.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: reportingUnavailability(pool, availability) }),
  });
  pools.set(db, pool);
  return db;
}

/** SQLSTATEs that mean the server or the connection is going away, not that the statement was wrong. */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** Node's socket errors on the way to the server. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** pg's own errors for a connection that ended, never came, or stopped answering. */
const DRIVER_MESSAGES =
  /Connection terminated|not queryable|timeout exceeded when trying to connect|Query read timeout|connection timeout/i;

/** Whether an error from pg means the database could not be reached (rather than a failed statement). */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof StoreUnavailable) return true;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^[0-9A-Z]{5}$/.test(code)) return code.startsWith('08') || UNAVAILABLE_STATES.has(code);
    if (NETWORK_CODES.has(code)) return true;
  }
  // A refused connection to a host with several addresses (localhost: ::1 and 127.0.0.1) is an AggregateError.
  if (error instanceof AggregateError) return error.errors.some(isUnavailable);
  return DRIVER_MESSAGES.test(error.message);
}

export interface AvailabilityTracker {
  down(error: Error): void;
  up(): void;
}

/**
 * How long queries must succeed with no failure before an outage counts as over. A server shutting down ends
 * its connections one by one, so a query on one not yet cut can still succeed between failures; without this,
 * one stop of the server would be reported as several outages.
 */
export const OUTAGE_QUIET_MS = 1000;

/** One report when an outage starts, one when it ends: a success at least OUTAGE_QUIET_MS after the last failure. */
export function trackAvailability(
  onChange: DatabaseOptions['onAvailabilityChange'],
  now: () => number = Date.now,
): AvailabilityTracker {
  let downSince: number | undefined;
  let lastFailure = 0;
  return {
    down(error) {
      lastFailure = now();
      if (downSince !== undefined) return;
      downSince = lastFailure;
      onChange?.({ available: false, error });
    },
    up() {
      if (downSince === undefined || now() - lastFailure < OUTAGE_QUIET_MS) return;
      const unavailableForMs = lastFailure - downSince;
      downSince = undefined;
      onChange?.({ available: true, unavailableForMs });
    },
  };
}

/** A statement that starts with this comment is prepared once per connection and its plan reused (see below). */
export const PREPARED = '/* ticketboss:prepared */';
const preparedNames = new Map<string, string>();

/**
 * Runs a statement marked PREPARED as a named prepared statement: parsed and analysed once per connection, and its
 * plan cached by PostgreSQL (a generic plan once it costs no more than the custom ones). For the hot statements
 * with many CTEs, whose planning would otherwise cost as much as their execution on every commit. Kysely passes
 * (text, values); anything else runs as given.
 */
function preparedQuery(client: pg.PoolClient, args: unknown[]): Promise<pg.QueryResult> | undefined {
  const [text, values] = args;
  if (typeof text !== 'string' || !text.startsWith(PREPARED) || !Array.isArray(values)) return undefined;
  let name = preparedNames.get(text);
  if (!name) {
    name = `ticketboss_${preparedNames.size + 1}`;
    preparedNames.set(text, name);
  }
  return client.query({ name, text, values });
}

/** The pool as Kysely sees it, with failures to reach the database turned into StoreUnavailable and reported. */
function reportingUnavailability(pool: pg.Pool, availability: AvailabilityTracker): PostgresPool {
  const failed = (error: unknown): never => {
    if (!isUnavailable(error) || error instanceof StoreUnavailable) throw error;
    availability.down(error as Error);
    throw new StoreUnavailable(`database unavailable: ${(error as Error).message}`, { cause: error });
  };
  const answered = (value: unknown) => {
    availability.up();
    return value;
  };
  const wrapped = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    let view = wrapped.get(client);
    if (!view) {
      // A connection that failed as unavailable is never handed out again: after a server-side termination the
      // error message can arrive before the socket closes, and the pool would otherwise take it back as healthy
      // and give it to the next query, which would fail too.
      let broken = false;
      view = {
        query: ((...args: Parameters<pg.PoolClient['query']>) => {
          const result = (preparedQuery(client, args) ?? client.query(...args)) as unknown;
          // A cursor (streaming) is returned as is; Kysely's plain queries return promises.
          if (!(result instanceof Promise)) return result;
          return result.then(answered, (error: unknown) => {
            broken ||= isUnavailable(error);
            return failed(error);
          });
        }) as PostgresPoolClient['query'],
        release: (destroy?: boolean) => client.release(destroy || broken),
      };
      wrapped.set(client, view);
    }
    return view;
  };
  return {
    connect: () => pool.connect().then(wrap, failed),
    end: () => pool.end(),
  };
}

const pools = new WeakMap<DatabaseHandle, pg.Pool>();

export interface PoolStats {
  /** Connections open, busy or idle. */
  readonly total: number;
  readonly idle: number;
  /** Queries waiting for a connection. */
  readonly waiting: number;
  readonly max: number;
}

/** How busy a handle's connection pool is (for metrics); undefined for a handle not made by createDatabase. */
export function poolStats(db: DatabaseHandle): PoolStats | undefined {
  const pool = pools.get(db);
  return pool && { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max };
}
