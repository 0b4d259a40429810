import { Kysely, PostgresDialect, type ColumnType, type Generated } from 'kysely';
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

export interface SchemaMigrationsTable {
  name: string;
  checksum: string;
  applied_at: Generated<Date>;
}

export interface Database {
  events: EventsTable;
  reservations: ReservationsTable;
  partners: PartnersTable;
  api_keys: ApiKeysTable;
  idempotency_keys: IdempotencyKeysTable;
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
}

/** A pooled, typed handle on the TicketBoss database. */
export type DatabaseHandle = Kysely<Database>;

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
  // Without a listener, an idle client's error (server restart, network cut) would crash the process.
  pool.on('error', options.onIdleClientError ?? (() => undefined));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
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
