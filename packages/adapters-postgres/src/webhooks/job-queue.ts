import { Logger, run, type LogLevel, type TaskList } from 'graphile-worker';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { isUnavailable, type Database } from '../database.js';

/** The job that posts a delivery; payload `{ deliveryId }` (queued by migrations/0006_webhooks.sql and the store). */
export const WEBHOOK_DELIVER_TASK = 'ticketboss_webhook_deliver';
/** The job that expires a hold on time; payload `{ eventId, reservationId }`, run at the hold's expiry. */
export const HOLD_EXPIRY_TASK = 'ticketboss_hold_expiry';

/** The job queue's connections, as pg_stat_activity names them. */
export const JOB_QUEUE_APPLICATION_NAME = 'ticketboss-job-queue';

/** The logger calls the job queue makes (pino's shape). */
export interface JobQueueLogger {
  debug(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface JobQueueOptions {
  readonly connectionString: string;
  /** graphile-worker tasks by name (WEBHOOK_DELIVER_TASK, HOLD_EXPIRY_TASK). */
  readonly tasks: TaskList;
  /** Jobs run at once by this process (default 8). */
  readonly concurrency?: number;
  /** How often to look for jobs whose time has come (default 500 ms); new jobs are announced at once. */
  readonly pollIntervalMs?: number;
  /** A job locked longer than this is taken to belong to a dead process, and unlocked (default 60 s). */
  readonly lockTimeoutMs?: number;
  /** How often to look for such jobs (default: a quarter of the lock timeout, at most 5 s). */
  readonly rescueIntervalMs?: number;
  /** Connections of the queue's own pool (default 4). */
  readonly poolSize?: number;
  readonly logger: JobQueueLogger;
}

export interface JobQueue {
  /** Stops taking jobs, waits for those running, and closes the queue's connections. */
  stop(): Promise<void>;
}

/** graphile-worker's log lines: its routine ones (info: a job completed, the worker connected) at debug. */
function toGraphileLogger(logger: JobQueueLogger): Logger {
  return new Logger((scope) => (level: LogLevel, message: string, meta?: object) => {
    const details = { component: 'job-queue', ...scope, ...meta };
    // An unreachable database is an outage, which the API's pool reports once (warn), not a job queue error.
    const outage = isUnavailable((meta as { error?: unknown } | undefined)?.error);
    if (level === ('error' as LogLevel) && !outage) logger.error(details, message);
    else if (level === ('error' as LogLevel)) logger.warn(details, message);
    else if (level === ('warning' as LogLevel)) logger.warn(details, message);
    else logger.debug(details, message);
  });
}

/**
 * Runs graphile-worker on its own small pool. graphile-worker leaves a job locked by a process that died for
 * 4 hours; so every few seconds this unlocks the jobs of any worker holding one locked longer than
 * `lockTimeoutMs`, and another process (or this one) runs them again.
 */
export async function startJobQueue({
  connectionString,
  tasks,
  concurrency = 8,
  pollIntervalMs = 500,
  lockTimeoutMs = 60_000,
  rescueIntervalMs = Math.min(5_000, Math.max(50, Math.floor(lockTimeoutMs / 4))),
  poolSize = 4,
  logger,
}: JobQueueOptions): Promise<JobQueue> {
  const pool = new pg.Pool({ connectionString, max: poolSize, application_name: JOB_QUEUE_APPLICATION_NAME });
  // A connection the server terminated (a restart, a failover) must not take the process down: pg reports it on
  // the pool for idle connections and on the client for checked-out ones; each then fails and is replaced.
  // Each of the pool's connections reports it: at debug (the API's pool says once that the database is down).
  const connectionFailed = (error: Error) => logger.debug({ err: error }, 'job queue: a database connection failed');
  pool.on('error', connectionFailed);
  pool.on('connect', (client) => client.on('error', connectionFailed));
  let runner;
  try {
    runner = await run({
      pgPool: pool,
      taskList: tasks,
      concurrency,
      pollInterval: pollIntervalMs,
      noHandleSignals: true,
      logger: toGraphileLogger(logger),
    });
  } catch (error) {
    await pool.end();
    throw error;
  }
  let stopped = false;
  // The worker stopping by itself (since 0.17 graphile-worker resolves rather than rejects when its pool gave up)
  // leaves webhooks undelivered while the API serves: an error, for the operator's alerting.
  runner.promise.then(
    () => {
      if (!stopped) logger.error({}, 'job queue: the worker stopped by itself; webhooks wait for a restart');
    },
    (error: unknown) => logger.error({ err: error }, 'job queue: the worker stopped'),
  );
  let timer: NodeJS.Timeout | undefined;
  let rescuing: Promise<void> = Promise.resolve();
  const scheduleRescue = () => {
    timer = setTimeout(() => {
      rescuing = rescueLockedJobs(pool, lockTimeoutMs)
        .then((workers) => {
          if (workers.length > 0) {
            logger.warn({ workers, lockTimeoutMs }, 'job queue: unlocked the jobs of workers that stopped answering');
          }
        })
        .catch((error: unknown) => {
          const details = { err: error };
          const message = 'job queue: could not look for abandoned jobs';
          if (isUnavailable(error)) logger.debug(details, message);
          else logger.warn(details, message);
        })
        .finally(() => {
          if (!stopped) scheduleRescue();
        });
    }, rescueIntervalMs);
  };
  scheduleRescue();

  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        stopped = true;
        clearTimeout(timer);
        await rescuing;
        try {
          await runner.stop();
        } finally {
          await pool.end();
        }
      })();
      return stopping;
    },
  };
}

/** Unlocks every job (and queue) of the workers holding a job locked longer than `lockTimeoutMs`; returns them. */
async function rescueLockedJobs(pool: pg.Pool, lockTimeoutMs: number): Promise<string[]> {
  const { rows } = await pool.query<{ workers: string[] | null }>(
    `WITH stale AS (
       SELECT array_agg(DISTINCT locked_by) AS workers FROM graphile_worker.jobs
        WHERE locked_at < now() - $1 * interval '1 millisecond'
     )
     SELECT workers, (SELECT graphile_worker.force_unlock_workers(workers) WHERE workers IS NOT NULL) AS done
       FROM stale`,
    [lockTimeoutMs],
  );
  return rows[0]?.workers ?? [];
}

/** Jobs of the webhook tasks not yet done (waiting, due, or running), for the queue depth gauge. */
export async function webhookQueueDepth(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ depth: number }>`
    SELECT count(*)::integer AS depth FROM graphile_worker.jobs
     WHERE task_identifier IN (${WEBHOOK_DELIVER_TASK}, ${HOLD_EXPIRY_TASK}) AND attempts < max_attempts`.execute(db);
  return rows[0]?.depth ?? 0;
}
