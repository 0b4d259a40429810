import type { Partner, PartnerRepository, StoredApiKey } from '@ticketboss/domain';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { ApiKeysTable, Database, PartnersTable } from './database.js';
import { transient } from './sql-errors.js';

function toPartner(row: Selectable<PartnersTable>): Partner {
  return { partnerId: row.partner_id, name: row.name, createdAt: row.created_at };
}

function toKey(row: Selectable<ApiKeysTable>): StoredApiKey {
  return {
    keyId: row.key_id,
    partnerId: row.partner_id,
    tokenHash: row.token_hash,
    createdAt: row.created_at,
    revokedAt: row.revoked_at ?? undefined,
  };
}

function keyValues(key: StoredApiKey) {
  return {
    key_id: key.keyId,
    partner_id: key.partnerId,
    token_hash: Buffer.from(key.tokenHash),
    created_at: key.createdAt,
  };
}

/**
 * The `PartnerRepository` port on PostgreSQL. Every statement is atomic, so one that gives up on a lock or
 * statement timeout changed nothing: it is reported as the domain's TransientFailure (503, retry).
 */
export function createPostgresPartnerRepository(db: Kysely<Database>): PartnerRepository {
  return {
    async createPartner(partner, firstKey) {
      // One statement: the key is inserted only if the partner was, so a partner never exists without its key.
      const { rows } = await transient(() =>
        sql<{ key_id: string }>`
        WITH created AS (
          INSERT INTO partners (partner_id, name, created_at)
          VALUES (${partner.partnerId}, ${partner.name}, ${partner.createdAt})
          ON CONFLICT (partner_id) DO NOTHING
          RETURNING partner_id
        )
        INSERT INTO api_keys (key_id, partner_id, token_hash, created_at)
        SELECT ${firstKey.keyId}, partner_id, ${Buffer.from(firstKey.tokenHash)}, ${firstKey.createdAt} FROM created
        RETURNING key_id
      `.execute(db),
      );
      return rows.length > 0 ? 'created' : 'already_exists';
    },

    async findPartner(partnerId) {
      const row = await transient(() =>
        db.selectFrom('partners').selectAll().where('partner_id', '=', partnerId).executeTakeFirst(),
      );
      return row && toPartner(row);
    },

    async listPartners() {
      return (await transient(() => db.selectFrom('partners').selectAll().orderBy('partner_id').execute())).map(
        toPartner,
      );
    },

    async addKey(key) {
      const values = keyValues(key);
      const row = await transient(() =>
        db
          .insertInto('api_keys')
          .columns(['key_id', 'partner_id', 'token_hash', 'created_at'])
          .expression((eb) =>
            eb
              .selectFrom('partners')
              .select([
                eb.val(values.key_id).as('key_id'),
                'partner_id',
                eb.val(values.token_hash).as('token_hash'),
                eb.val(values.created_at).as('created_at'),
              ])
              .where('partner_id', '=', key.partnerId),
          )
          .returning('key_id')
          .executeTakeFirst(),
      );
      return row ? 'added' : 'partner_not_found';
    },

    async revokeKey(partnerId, keyId, at) {
      const row = await transient(() =>
        db
          .updateTable('api_keys')
          .set({ revoked_at: sql<Date>`coalesce(revoked_at, ${at})` })
          .where('key_id', '=', keyId)
          .where('partner_id', '=', partnerId)
          .returning('key_id')
          .executeTakeFirst(),
      );
      return row ? 'revoked' : 'not_found';
    },

    async findKeys(keyIds) {
      if (keyIds.length === 0) return [];
      const rows = await transient(() => db.selectFrom('api_keys').selectAll().where('key_id', 'in', keyIds).execute());
      return rows.map(toKey);
    },

    async listKeys(partnerId) {
      const rows = await transient(() =>
        db
          .selectFrom('api_keys')
          .selectAll()
          .where('partner_id', '=', partnerId)
          .orderBy('created_at')
          .orderBy('key_id')
          .execute(),
      );
      return rows.map(toKey);
    },
  };
}
