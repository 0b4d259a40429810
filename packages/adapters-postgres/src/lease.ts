import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

/** Work that one process does at a time: whoever holds the lease does it, the others skip. */
export interface Lease {
  /**
   * Takes the lease, or renews it if this holder has it, for another TTL; false when another holder has it and it
   * has not run out.
   */
  acquire(): Promise<boolean>;
  /** Gives the lease up if this holder has it, so that another may take it at once rather than after the TTL. */
  release(): Promise<void>;
}

export interface LeaseOptions {
  /** The lease's row in `ticketboss_leases` (one per kind of work, e.g. `sweeper`). */
  readonly name: string;
  /** Who asks: unique per process (and per user of the lease in it). */
  readonly holder: string;
  /** How long a lease lasts past its last renewal: a holder that stops renewing is replaced after it. */
  readonly ttlMs: number;
}

/**
 * A lease in `ticketboss_leases` (migration 0004), one row per name. Taking it is one statement: insert the row,
 * or update it where this holder already has it or where it has run out; a row comes back only if the lease is
 * now this holder's. Expiry is on the database's time (`ticketboss_now()`), so hosts with skewed clocks agree on
 * when a lease has run out.
 */
export function createPostgresLease(db: Kysely<Database>, { name, holder, ttlMs }: LeaseOptions): Lease {
  return {
    async acquire() {
      const { rows } = await sql<{ holder: string }>`
        INSERT INTO ticketboss_leases AS l (name, holder, expires_at)
        VALUES (${name}, ${holder}, ticketboss_now() + ${ttlMs}::float8 * interval '1 millisecond')
        ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
          WHERE l.holder = excluded.holder OR l.expires_at < ticketboss_now()
        RETURNING l.holder`.execute(db);
      return rows.length === 1;
    },
    async release() {
      await sql`DELETE FROM ticketboss_leases WHERE name = ${name} AND holder = ${holder}`.execute(db);
    },
  };
}
