import { sql, type Kysely } from 'kysely';
import type { Database } from '../database.js';

/**
 * Moves the database's time, as every API process sees it, by `offsetMs` from the server's real clock (0 puts it
 * back): replaces `ticketboss_now()` (migration 0004) with `clock_timestamp()` plus the offset. A database clock
 * follows at its next sample; statements that call `ticketboss_now()` (the sweeper's lease) at once.
 */
export async function setDatabaseClockOffset(db: Kysely<Database>, offsetMs: number): Promise<void> {
  if (!Number.isFinite(offsetMs)) throw new Error(`not an offset: ${offsetMs}`);
  // DDL takes no parameters: the offset is written into the function's body as a number literal.
  await sql`
    CREATE OR REPLACE FUNCTION ticketboss_now() RETURNS timestamptz LANGUAGE sql VOLATILE
    AS $$ SELECT clock_timestamp() + ${sql.raw(String(offsetMs))} * interval '1 millisecond' $$`.execute(db);
}

/** The database's time now, as `ticketboss_now()` gives it. */
export async function databaseNow(db: Kysely<Database>): Promise<Date> {
  const { rows } = await sql<{ now: Date }>`SELECT ticketboss_now() AS now`.execute(db);
  return rows[0]!.now;
}
