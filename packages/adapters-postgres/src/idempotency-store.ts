import { randomUUID } from 'node:crypto';
import type { ClaimOutcome, IdempotencyStore } from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';
import { transient } from './sql-errors.js';

interface ClaimRow {
  n: number;
  token: string;
  claimed: boolean;
  fingerprint: string | null;
  status_code: number | null;
  response_body: string | null;
  locked_until: Date | null;
}

/**
 * The `IdempotencyStore` port on PostgreSQL: one row per (partner, route, key). A claim is one statement that
 * inserts the row, or takes it over when its holder's lease ran out without an answer or when it is older than
 * the retention; anything else is read back, in the same statement, to say how the key stands. One statement
 * claims many keys. A claim's answer is recorded either here
 * or by the commit of the change it reports (see event-repository.ts), always only while the claim is held.
 */
export function createPostgresIdempotencyStore(db: Kysely<Database>): IdempotencyStore {
  return {
    async claimMany(requests, { now, leaseMs, retentionMs }) {
      const lockedUntil = new Date(now.getTime() + leaseMs);
      const retainedSince = new Date(now.getTime() - retentionMs);
      const outcomes = new Array<ClaimOutcome | undefined>(requests.length);
      // A key inserted by a statement that committed after ours began is waited for but not seen by our read of
      // it (nor is a key purged meanwhile): those are simply claimed again.
      for (let attempt = 1; attempt <= 4; attempt += 1) {
        const pending = requests.flatMap((request, index) => (outcomes[index] ? [] : [{ ...request, index }]));
        if (pending.length === 0) return outcomes as ClaimOutcome[];
        if (attempt === 4) break;
        const tokens = pending.map(() => randomUUID());
        const { rows } = await transient(() =>
          sql<ClaimRow>`
            WITH input AS (
              SELECT * FROM unnest(${pending.map((r) => r.scope.partnerId)}::text[],
                                   ${pending.map((r) => r.scope.route)}::text[],
                                   ${pending.map((r) => r.scope.key)}::text[],
                                   ${pending.map((r) => r.fingerprint)}::text[],
                                   ${tokens}::uuid[],
                                   ${pending.map((r) => r.index)}::integer[])
                       AS x(partner_id, route, idem_key, fingerprint, claim_token, n)
            ), claimed AS (
              -- In key order, so that two batches claiming overlapping keys lock them in the same order.
              INSERT INTO idempotency_keys AS k
                     (partner_id, route, idem_key, fingerprint, claim_token, locked_until, created_at)
              SELECT partner_id, route, idem_key, fingerprint, claim_token, ${lockedUntil}, ${now}
                FROM input
               ORDER BY partner_id, route, idem_key
              ON CONFLICT (partner_id, route, idem_key) DO UPDATE
                 SET fingerprint = excluded.fingerprint,
                     claim_token = excluded.claim_token,
                     locked_until = excluded.locked_until,
                     created_at = excluded.created_at,
                     status_code = NULL,
                     response_body = NULL,
                     completed_at = NULL
               WHERE k.created_at <= ${retainedSince}
                  OR (k.status_code IS NULL AND k.locked_until <= ${now})
              RETURNING partner_id, route, idem_key, claim_token
            )
            SELECT x.n, x.claim_token AS token, (c.claim_token IS NOT NULL) AS claimed,
                   e.fingerprint, e.status_code, e.response_body, e.locked_until
              FROM input x
              LEFT JOIN claimed c ON (c.partner_id, c.route, c.idem_key) = (x.partner_id, x.route, x.idem_key)
              LEFT JOIN idempotency_keys e
                ON c.claim_token IS NULL
               AND (e.partner_id, e.route, e.idem_key) = (x.partner_id, x.route, x.idem_key)
          `.execute(db),
        );
        for (const row of rows) {
          const request = requests[row.n]!;
          if (row.claimed) {
            outcomes[row.n] = { kind: 'claimed', claim: { scope: request.scope, token: row.token } };
          } else if (row.fingerprint !== null && row.status_code !== null && row.response_body !== null) {
            outcomes[row.n] = {
              kind: 'completed',
              fingerprint: row.fingerprint,
              response: { statusCode: row.status_code, body: row.response_body },
            };
          } else if (row.fingerprint !== null && row.locked_until !== null) {
            outcomes[row.n] = {
              kind: 'in_flight',
              fingerprint: row.fingerprint,
              lockedUntil: new Date(row.locked_until),
            };
          }
        }
      }
      throw new Error('idempotency keys kept changing while being claimed');
    },

    async complete({ scope, token }, { statusCode, body }, now) {
      const result = await transient(() =>
        db
          .updateTable('idempotency_keys')
          .set({ status_code: statusCode, response_body: body, completed_at: now })
          .where('partner_id', '=', scope.partnerId)
          .where('route', '=', scope.route)
          .where('idem_key', '=', scope.key)
          .where('claim_token', '=', token)
          .where('status_code', 'is', null)
          .executeTakeFirst(),
      );
      return result.numUpdatedRows > 0n;
    },

    async release({ scope, token }) {
      await transient(() =>
        db
          .deleteFrom('idempotency_keys')
          .where('partner_id', '=', scope.partnerId)
          .where('route', '=', scope.route)
          .where('idem_key', '=', scope.key)
          .where('claim_token', '=', token)
          .where('status_code', 'is', null)
          .execute(),
      );
    },

    async purge(before, limit) {
      const result = await transient(() =>
        sql`
          DELETE FROM idempotency_keys
           WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE created_at < ${before} LIMIT ${limit})
        `.execute(db),
      );
      return Number(result.numAffectedRows ?? 0n);
    },
  };
}
