import { randomUUID } from 'node:crypto';
import type { ClaimOutcome, IdempotencyClaim, IdempotencyStore } from '@ticketboss/domain';
import { sql, type ExpressionBuilder, type Kysely } from 'kysely';
import type { Database } from './database.js';
import { transient } from './sql-errors.js';

/** The key's row, while this claim still holds it and nothing is recorded. */
function stillHeld({ scope, token }: IdempotencyClaim) {
  return (eb: ExpressionBuilder<Database, 'idempotency_keys'>) =>
    eb.and([
      eb('partner_id', '=', scope.partnerId),
      eb('route', '=', scope.route),
      eb('idem_key', '=', scope.key),
      eb('claim_token', '=', token),
      eb('status_code', 'is', null),
    ]);
}

/**
 * The `IdempotencyStore` port on PostgreSQL: one row per (partner, route, key). A claim is one statement that
 * inserts the row, or takes it over when its holder's lease ran out without an answer or when it is older than
 * the retention; anything else is read back to say how the key stands. A claim's answer is recorded either here
 * or by the commit of the change it reports (see commit-statement.ts), always only while the claim is held.
 *
 * The recorded answer is opaque here as in the domain: its `code` goes to `status_code` and its `text` to
 * `response_body` as they are (the columns are named for what http-api keeps in them: the HTTP status and body).
 */
export function createPostgresIdempotencyStore(db: Kysely<Database>): IdempotencyStore {
  return {
    async claim({ partnerId, route, key }, fingerprint, { now, leaseMs, retentionMs }) {
      const lockedUntil = new Date(now.getTime() + leaseMs);
      const retainedSince = new Date(now.getTime() - retentionMs);
      // The row may be purged between the two statements: then claim again.
      for (let attempt = 1; attempt <= 3; attempt += 1) {
        const token = randomUUID();
        const { rows: claimed } = await transient(() =>
          sql<{ claim_token: string }>`
            INSERT INTO idempotency_keys AS k
                   (partner_id, route, idem_key, fingerprint, claim_token, locked_until, created_at)
            VALUES (${partnerId}, ${route}, ${key}, ${fingerprint}, ${token}, ${lockedUntil}, ${now})
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
            RETURNING claim_token
          `.execute(db),
        );
        if (claimed[0]?.claim_token === token) {
          return { kind: 'claimed', claim: { scope: { partnerId, route, key }, token } };
        }
        const existing = await transient(() =>
          db
            .selectFrom('idempotency_keys')
            .select(['fingerprint', 'status_code', 'response_body', 'locked_until'])
            .where('partner_id', '=', partnerId)
            .where('route', '=', route)
            .where('idem_key', '=', key)
            .executeTakeFirst(),
        );
        if (!existing) continue;
        const outcome: ClaimOutcome =
          existing.status_code !== null && existing.response_body !== null
            ? {
                kind: 'completed',
                fingerprint: existing.fingerprint,
                answer: { code: existing.status_code, text: existing.response_body },
              }
            : { kind: 'in_flight', fingerprint: existing.fingerprint, lockedUntil: new Date(existing.locked_until) };
        return outcome;
      }
      throw new Error(`idempotency key ${key} kept disappearing while being claimed`);
    },

    async complete({ scope, token }, { code, text }, now) {
      const result = await transient(() =>
        db
          .updateTable('idempotency_keys')
          .set({ status_code: code, response_body: text, completed_at: now })
          .where(stillHeld({ scope, token }))
          .executeTakeFirst(),
      );
      return result.numUpdatedRows > 0n;
    },

    async release({ scope, token }) {
      await transient(() => db.deleteFrom('idempotency_keys').where(stillHeld({ scope, token })).execute());
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
