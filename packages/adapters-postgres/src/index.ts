export {
  createDatabase,
  isUnavailable,
  poolStats,
  type AvailabilityChange,
  type Database,
  type DatabaseHandle,
  type DatabaseOptions,
  type PoolStats,
} from './database.js';
export { createPostgresEventRepository, ensureEvent, type EventRepositoryOptions } from './event-repository.js';
export { createPostgresPartnerRepository } from './partner-repository.js';
export { findInvariantBreaches, readEventTotals, type EventTotals, type InvariantBreach } from './invariant.js';
export {
  DEFAULT_MIGRATIONS_DIR,
  findPendingMigrations,
  migrate,
  MigrationError,
  readMigrations,
  type MigrationFile,
  type MigrationSet,
  UnknownMigrationsError,
} from './migrate.js';
export {
  connectToRunningEmbeddedPostgres,
  startEmbeddedPostgres,
  type EmbeddedPostgres,
  type EmbeddedPostgresOptions,
} from './embedded-postgres.js';
export { createPostgresIdempotencyStore } from './idempotency-store.js';
export { createDatabaseClock, type DatabaseClock, type DatabaseClockOptions } from './database-clock.js';
export { createPostgresLease, type Lease, type LeaseOptions } from './lease.js';
export { createPostgresWebhookStore } from './webhooks/webhook-store.js';
export {
  HOLD_EXPIRY_TASK,
  JOB_QUEUE_APPLICATION_NAME,
  startJobQueue,
  WEBHOOK_DELIVER_TASK,
  webhookQueueDepth,
  type JobQueue,
  type JobQueueLogger,
  type JobQueueOptions,
} from './webhooks/job-queue.js';
export { generateJobQueueMigration, JOB_QUEUE_MIGRATION_FILE } from './job-queue-migration.js';
export { createConsoleStore } from './console-store.js';
