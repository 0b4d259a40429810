import {
  findPendingMigrations,
  MigrationError,
  UnknownMigrationsError,
  type DatabaseHandle,
} from '@ticketboss/adapters-postgres';
import type { MigrationFile } from '@ticketboss/adapters-postgres';

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: {
    readonly database: 'ok' | 'unreachable';
    /**
     * `ok`, or what is wrong: pending files by name, files the database has and this build does not (a newer
     * build migrated it), a changed checksum, or `unknown` without a database.
     */
    readonly migrations: string;
  };
}

export type ReadinessCheck = () => Promise<ReadinessReport>;

/** How long a readiness report answers further probes: the most a flood of /ready costs is a check this often. */
export const READINESS_REUSE_MS = 1000;

export interface ReadinessReuse {
  /** Default READINESS_REUSE_MS; 0 checks on every probe that does not find one running. */
  readonly reuseMs?: number;
  /** Milliseconds, monotonic; tests move it by hand. */
  readonly now?: () => number;
}

/**
 * Ready when the database answers within `timeoutMs`, every migration this build knows is applied (with the
 * checksum it has) and none it does not know is: the same conditions start-up insists on, checked again on probes,
 * since a database can go away, or be migrated ahead of or behind this process, while it runs. Give it a
 * connection of its own (a pool of one, see start.ts): on the requests' pool, a pool busy with traffic would look
 * like a dead database. Probes that arrive while a check runs share it, and a report answers the probes of the
 * next `reuseMs` after its check began: /ready is open to anyone, and a flood of it must not become a flood of
 * database checks (nor be refused: a load balancer probing from behind the same address as the flood would take
 * the process out).
 */
export function createReadinessCheck(
  db: DatabaseHandle,
  files: readonly MigrationFile[],
  timeoutMs = 2000,
  { reuseMs = READINESS_REUSE_MS, now = () => performance.now() }: ReadinessReuse = {},
): ReadinessCheck {
  let running: Promise<ReadinessReport> | undefined;
  let last: { readonly report: ReadinessReport; readonly began: number } | undefined;
  return () => {
    if (last && now() - last.began < reuseMs) return Promise.resolve(last.report);
    if (!running) {
      const began = now();
      running = check(db, files, timeoutMs)
        .then((report) => {
          last = { report, began };
          return report;
        })
        .finally(() => (running = undefined));
    }
    return running;
  };
}

async function check(db: DatabaseHandle, files: readonly MigrationFile[], timeoutMs: number): Promise<ReadinessReport> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const pending = await Promise.race([findPendingMigrations(db, files), timeout]);
    if (pending === 'timeout') return { ready: false, checks: { database: 'unreachable', migrations: 'unknown' } };
    if (pending.length === 0) return { ready: true, checks: { database: 'ok', migrations: 'ok' } };
    const names = pending.map((file) => file.name).join(', ');
    return { ready: false, checks: { database: 'ok', migrations: `pending: ${names}` } };
  } catch (error) {
    if (error instanceof UnknownMigrationsError) {
      return {
        ready: false,
        checks: { database: 'ok', migrations: `unknown to this build: ${error.unknown.join(', ')}` },
      };
    }
    if (error instanceof MigrationError) {
      return { ready: false, checks: { database: 'ok', migrations: error.message } };
    }
    // The server answered with an error (a SQLSTATE): it is there, but the ledger could not be read.
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
      return {
        ready: false,
        checks: { database: 'ok', migrations: `unknown: the ledger could not be read (${code})` },
      };
    }
    return { ready: false, checks: { database: 'unreachable', migrations: 'unknown' } };
  } finally {
    clearTimeout(timer);
  }
}
