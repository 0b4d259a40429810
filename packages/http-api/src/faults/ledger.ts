/**
 * The fault suite's end check: what the load's clients were told (load.ts), held against the database.
 */
import { findInvariantBreaches, type DatabaseHandle } from '@ticketboss/adapters-postgres';
import type { Load } from './load.js';

/** The route every reservation of the load is made on, as the Idempotency-Key rows name it. */
const RESERVE_ROUTE = 'POST /v1/events/:eventId/reservations';

export interface LedgerProblem {
  readonly kind: 'lost' | 'doubled' | 'unexplained';
  readonly what: string;
  readonly detail: unknown;
}

export interface Ledger {
  /** Reservations in the database. */
  readonly reservations: number;
  /** Reservations some client was answered 201 for. */
  readonly answered: number;
  /** Reservations made for a key the client gave up on (every attempt died on the network, or ended 503). */
  readonly madeUnanswered: number;
  readonly problems: readonly LedgerProblem[];
  readonly lost: number;
  readonly doubled: number;
  readonly invariantBreaches: readonly unknown[];
}

/**
 * The end check. Every reservation a client was answered 201 for exists with its event, partner and seats, in
 * the state the client left it (or one a change it gave up on could have left). Every reservation in the database
 * was answered 201 to a client, or was made for a key whose every attempt died on the network or ended 503 (the
 * client cannot know). Each key maps to one reservation, in the database as the client saw it; and the invariant.
 */
export async function checkLedger(db: DatabaseHandle, load: Load): Promise<Ledger> {
  const problems: LedgerProblem[] = [];
  const problem = (kind: LedgerProblem['kind'], what: string, detail: unknown) => problems.push({ kind, what, detail });
  const rows = await db
    .selectFrom('reservations')
    .select(['reservation_id', 'event_id', 'partner_id', 'seats', 'status', 'expires_at'])
    .execute();
  const keyRows = await db
    .selectFrom('idempotency_keys')
    .select(['partner_id', 'idem_key', 'status_code', 'response_body'])
    .where('route', '=', RESERVE_ROUTE)
    .execute();
  const byId = new Map(rows.map((row) => [row.reservation_id, row]));

  // What the clients were told, against the database.
  for (const t of load.tracked.values()) {
    const row = byId.get(t.reservationId);
    if (!row) {
      problem('lost', 'answered 201 but not in the database', t);
      continue;
    }
    if (row.event_id !== t.eventId || row.partner_id !== t.partnerId || row.seats !== t.seats) {
      problem('lost', 'not the reservation the client was answered', { t, row });
    }
    const allowed = new Set<string>([t.status, ...t.maybe]);
    const expiredHold = t.status === 'held' && row.status === 'expired';
    if (!allowed.has(row.status) && !expiredHold) {
      problem('lost', `the client left it ${[...allowed].join(' or ')}, the database says ${row.status}`, t);
    }
  }

  // Idempotency-Keys: one reservation each, the one the client saw.
  const keyOf = new Map<string, string>();
  for (const row of keyRows) {
    const record = load.keys.get(row.idem_key);
    if (row.status_code === null) {
      // Claimed, never completed: the request was not decided, so it may have made nothing.
      continue;
    }
    const answer = JSON.parse(row.response_body ?? 'null') as { reservationId?: string } | null;
    const id = answer?.reservationId;
    if (!record) {
      problem('unexplained', 'a key no client sent', row);
      continue;
    }
    if (row.status_code !== 201 || !id) continue; // a refusal was stored: it made nothing
    if (keyOf.has(id))
      problem('doubled', 'two keys map to one reservation', { id, keys: [keyOf.get(id), row.idem_key] });
    keyOf.set(id, row.idem_key);
    if (record.reservationIds.size > 0 && !record.reservationIds.has(id)) {
      problem('doubled', 'the key stores another reservation than its 201 said', { key: row.idem_key, id, record });
    }
  }
  for (const [key, record] of load.keys) {
    if (record.reservationIds.size > 1) {
      problem('doubled', 'one key was answered two reservations', { key, ids: [...record.reservationIds] });
    }
  }

  // Every reservation in the database: answered, or made for a key nobody heard the answer of.
  let madeUnanswered = 0;
  for (const row of rows) {
    const key = keyOf.get(row.reservation_id);
    if (!key) {
      // Every reservation here is made with a key: without one, a retry could have made it a second time.
      problem('doubled', 'a reservation no Idempotency-Key maps to', row);
      continue;
    }
    if (load.tracked.has(row.reservation_id)) continue;
    const record = load.keys.get(key)!;
    if (record.decided) problem('unexplained', 'a reservation made for a request answered otherwise', { row, record });
    else madeUnanswered += 1;
  }

  const invariantBreaches = await findInvariantBreaches(db);
  return {
    reservations: rows.length,
    answered: load.tracked.size,
    madeUnanswered,
    problems,
    lost: problems.filter((p) => p.kind === 'lost').length,
    doubled: problems.filter((p) => p.kind === 'doubled').length,
    invariantBreaches,
  };
}
