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

/**
 * Ready when the database answers within `timeoutMs`, every migration this build knows is applied (with the
 * checksum it has) and none it does not know is: the same conditions start-up insists on, checked again on every
 * probe, since a database can go away, or be migrated ahead of or behind this process, while it runs. Give it a connection of its own (a
 * pool of one, see main.ts): on the requests' pool, a pool busy with traffic would look like a dead database.
 * Probes that arrive while a check runs share it, so slow answers never pile up checks.
 */
export function createReadinessCheck(
  db: DatabaseHandle,
  files: readonly MigrationFile[],
  timeoutMs = 2000,
): ReadinessCheck {
  let running: Promise<ReadinessReport> | undefined;
  return () => {
    running ??= check(db, files, timeoutMs).finally(() => (running = undefined));
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
