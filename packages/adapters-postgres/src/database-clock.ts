import type { Clock } from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

/**
 * The `Clock` port on the database's time: every API process reads `ticketboss_now()` (migration 0004) and keeps
 * it with its own monotonic clock, so that processes on hosts whose wall clocks differ agree on every instant
 * that decides something (a hold's createdAt and expiresAt, expiries, Idempotency leases, keys' createdAt).
 */
export interface DatabaseClock extends Clock {
  /** Takes the first samples; `now()` is defined from then on. Rejects when the database cannot be read. */
  start(): Promise<void>;
  /** Stops resampling and waits for a sample in flight; `now()` goes on from the last sample. */
  stop(): Promise<void>;
  /** Takes one sample now (the timer does it every `resampleMs`); a failed one keeps the last. */
  sample(): Promise<void>;
}

export interface DatabaseClockOptions {
  /** How often the database's time is read again (default 5 s). */
  readonly resampleMs?: number;
  /** The monotonic clock the database's time is carried on between samples (tests replace it). */
  readonly monotonic?: () => number;
}

/** One reading: the database's time (epoch ms) at `midpoint` (monotonic ms), read within `roundTripMs`. */
interface Sample {
  readonly databaseMs: number;
  readonly midpoint: number;
  readonly roundTripMs: number;
}

const DEFAULT_RESAMPLE_MS = 5000;
/** Samples taken at start, the one with the shortest round trip kept (the first may include a cold path). */
const START_SAMPLES = 3;
/**
 * How fast a sample's error may grow with its age, as a share of the time elapsed: real oscillators drift by
 * tens of parts per million; this bound is generous so that a sample is not kept for longer than it deserves.
 */
const DRIFT_PER_MS = 500e-6;
/** Slack for rounding: the database's time comes in microseconds, the monotonic clock in fractions of a ms. */
const TOLERANCE_MS = 1;

/**
 * A clock that reads the database's time with `SELECT ticketboss_now()`, measures the round trip with the
 * monotonic clock (`performance.now()`), and from then on answers the database's time at the sample's midpoint
 * plus the monotonic time elapsed since: the process's wall clock (`Date.now()`) is never read. It resamples
 * every `resampleMs` on an unref'd timer, keeping the sample with the smaller error bound (half its round trip,
 * grown with its age), unless the new one shows that the database's time has moved (a step of its clock, or a
 * test's offset): then the new one is taken whatever its round trip. A failed sample keeps the last one and
 * logs nothing (an outage is reported where the database handle reports it).
 */
export function createDatabaseClock(db: Kysely<Database>, options: DatabaseClockOptions = {}): DatabaseClock {
  const resampleMs = options.resampleMs ?? DEFAULT_RESAMPLE_MS;
  const monotonic = options.monotonic ?? (() => performance.now());
  let current: Sample | undefined;
  let inFlight: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const read = () =>
    db.connection().execute(async (connection) => {
      const sent = monotonic();
      const { rows } = await sql<{ ms: number }>`
        SELECT (extract(epoch FROM ticketboss_now()) * 1000)::float8 AS ms`.execute(connection);
      const received = monotonic();
      const databaseMs = rows[0]?.ms;
      if (typeof databaseMs !== 'number') throw new Error('ticketboss_now() returned no time');
      return { databaseMs, midpoint: (sent + received) / 2, roundTripMs: received - sent } satisfies Sample;
    });

  /** The current sample's error bound at monotonic time `at`. */
  const errorBound = (sample: Sample, at: number) => sample.roundTripMs / 2 + (at - sample.midpoint) * DRIFT_PER_MS;

  function keep(candidate: Sample): void {
    if (!current) {
      current = candidate;
      return;
    }
    const predicted = current.databaseMs + (candidate.midpoint - current.midpoint);
    const disagreement = Math.abs(candidate.databaseMs - predicted);
    const moved = disagreement > candidate.roundTripMs / 2 + errorBound(current, candidate.midpoint) + TOLERANCE_MS;
    if (moved || candidate.roundTripMs / 2 <= errorBound(current, candidate.midpoint)) current = candidate;
  }

  function sample(): Promise<void> {
    inFlight ??= read()
      .then(keep, () => undefined)
      .finally(() => (inFlight = undefined));
    return inFlight;
  }

  return {
    now() {
      if (!current) throw new Error('the database clock was read before start()');
      return new Date(current.databaseMs + (monotonic() - current.midpoint));
    },
    async start() {
      const samples: Sample[] = [];
      for (let i = 0; i < START_SAMPLES; i++) samples.push(await read());
      current = samples.reduce((best, s) => (s.roundTripMs < best.roundTripMs ? s : best));
      if (timer || resampleMs <= 0) return;
      timer = setInterval(() => void sample(), resampleMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await inFlight;
    },
    sample,
  };
}
