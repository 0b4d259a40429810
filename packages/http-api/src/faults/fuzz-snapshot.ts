import type { DatabaseHandle } from '@ticketboss/adapters-postgres';
import { sql } from 'kysely';
import type { FuzzRequest } from './fuzz-requests.js';
import type { Outcome, Result } from './fuzz-send.js';

/**
 * Fault scenario 5's state check (fuzz.test.ts): the database before and after the generated requests, and the
 * changed rows that no 2xx answer to a write explains.
 */

type Row = Record<string, unknown>;
export type Snapshot = Record<string, Map<string, Row>>;

/** Every row of the tables a request could change, by key. */
export async function snapshot(db: DatabaseHandle): Promise<Snapshot> {
  const keyed = async (table: string, key: (row: Row) => string) => {
    const { rows } = await sql<Row>`SELECT * FROM ${sql.table(table)}`.execute(db);
    return new Map(rows.map((row) => [key(row), row]));
  };
  return {
    events: await keyed('events', (r) => String(r.event_id)),
    reservations: await keyed('reservations', (r) => String(r.reservation_id)),
    partners: await keyed('partners', (r) => String(r.partner_id)),
    api_keys: await keyed('api_keys', (r) => String(r.key_id)),
    idempotency_keys: await keyed(
      'idempotency_keys',
      (r) => `${String(r.partner_id)} ${String(r.route)} ${String(r.idem_key)}`,
    ),
  };
}

function changedRows(before: Snapshot, after: Snapshot): Array<{ table: string; key: string; row: Row | undefined }> {
  return Object.keys(after).flatMap((table) => {
    const [was, now] = [before[table]!, after[table]!];
    const keys = new Set([...was.keys(), ...now.keys()]);
    return [...keys]
      .filter((key) => JSON.stringify(was.get(key)) !== JSON.stringify(now.get(key)))
      .map((key) => ({ table, key, row: now.get(key) ?? was.get(key) }));
  });
}

export const is2xx = (outcome: Outcome) => outcome.kind === 'answer' && outcome.status >= 200 && outcome.status < 300;
export const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const decoded = (text: string) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(stringsIn);
  return [];
}

/**
 * The Idempotency-Key a request carried as the API may have read it: Node trims each value and joins a header
 * sent twice with ", "; a value sent as raw UTF-8 bytes is read back as latin-1.
 */
function idempotencyKeysOf(request: FuzzRequest): string[] {
  const values = request.headers.filter(([name]) => name.toLowerCase() === 'idempotency-key').map(([, v]) => v);
  if (values.length === 0) return [];
  const asLatin1 = (v: string) => Buffer.from(v, 'utf8').toString('latin1');
  return [values, values.map(asLatin1)].map((vs) => {
    const raw = vs.map((v) => v.replace(/^[ \t]+|[ \t]+$/g, '')).join(', ');
    return raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  });
}

/** The changed rows that no 2xx answer explains (see fuzz.test.ts). */
export function unexplained(before: Snapshot, after: Snapshot, results: readonly Result[]): string[] {
  const named = new Set<string>();
  for (const { request, outcome } of results) {
    if (!is2xx(outcome) || !WRITES.has(request.method) || request.route === 'unknown' || outcome.kind !== 'answer') {
      continue;
    }
    for (const param of request.params) named.add(decoded(param));
    try {
      for (const text of stringsIn(JSON.parse(outcome.body))) named.add(text);
    } catch {
      // 204: no body
    }
  }
  const eventsOfNamedReservations = new Set(
    [...after.reservations!.values()].filter((r) => named.has(String(r.reservation_id))).map((r) => String(r.event_id)),
  );
  const answeredKeys = new Set(
    results.flatMap(({ request, outcome }) => {
      if (outcome.kind !== 'answer') return [];
      return idempotencyKeysOf(request).map((key) => `${key} ${outcome.status}`);
    }),
  );
  return changedRows(before, after)
    .filter(({ table, key, row }) => {
      switch (table) {
        case 'events':
          return !named.has(key) && !eventsOfNamedReservations.has(key);
        case 'idempotency_keys':
          return !answeredKeys.has(`${String(row?.idem_key)} ${String(row?.status_code)}`);
        default:
          return !named.has(key);
      }
    })
    .map(({ table, key, row }) => `${table} ${key}: ${JSON.stringify(row).slice(0, 300)}`);
}
