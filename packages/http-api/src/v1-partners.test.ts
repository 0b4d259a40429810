import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAppWithDatabase } from './testing/app-with-database.js';
import { admin, bearer, expectError, keyIdOf, uniqueId, useApiKeyApp, v1Calls } from './testing/v1-api.js';

const t = useApiKeyApp();
const { call } = v1Calls(t);

describe('POST /v1/partners and keys', () => {
  it('creates a partner and answers its key once; the key works; the id cannot be taken twice', async () => {
    const partnerId = uniqueId('acme');
    const response = await call('POST', '/v1/partners', admin, { partnerId, name: 'Acme Tickets' });
    expect(response.statusCode).toBe(201);
    const body = response.json<{ apiKey: { id: string; token: string; prefix: string } }>();
    expect(body).toEqual({
      partnerId,
      name: 'Acme Tickets',
      apiKey: {
        id: expect.stringMatching(/^[a-z0-9]{16}$/),
        partnerId,
        prefix: `tb_${body.apiKey.id}_`,
        token: expect.stringMatching(/^tb_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/),
        createdAt: expect.any(String),
      },
    });
    expect(body.apiKey.token.startsWith(body.apiKey.prefix)).toBe(true);
    expect((await call('GET', '/v1/events', bearer(body.apiKey.token))).statusCode).toBe(200);
    expectError(await call('POST', '/v1/partners', admin, { partnerId, name: 'Again' }), 409, 'PARTNER_ALREADY_EXISTS');
  });

  it('stores only a hash of the token', async () => {
    const partnerId = uniqueId('hash');
    const token = await t.createPartner(partnerId);
    const rows = await t.database.db.selectFrom('api_keys').selectAll().where('partner_id', '=', partnerId).execute();
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(Buffer.from(row!.token_hash).equals(createHash('sha256').update(token).digest())).toBe(true);
    expect(row!.key_id).toBe(keyIdOf(token));
    // No column holds the token's secret part in any form.
    const secret = token.slice(token.lastIndexOf('_') + 1);
    for (const value of Object.values(row!)) expect(String(value)).not.toContain(secret);
  });

  it.each([
    [{ partnerId: 'has space', name: 'X' }, /^partnerId must be/],
    [{ partnerId: '', name: 'X' }, /^partnerId must be/],
    [{ partnerId: 'a'.repeat(65), name: 'X' }, /^partnerId must be/],
    [{ name: 'X' }, 'partnerId is required'],
    [{ partnerId: 'ok-id', name: '' }, /^name must be/],
    [{ partnerId: 'ok-id', name: '   ' }, /^name must be/],
    [{ partnerId: 'ok-id' }, 'name is required'],
  ])('refuses %j with 400 naming the field', async (payload, message) => {
    expectError(await call('POST', '/v1/partners', admin, payload), 400, 'VALIDATION_ERROR', message);
  });

  it('rotates: a new key works alongside the old until the old is revoked, which stops it at once', async () => {
    const partnerId = uniqueId('rot');
    const oldToken = await t.createPartner(partnerId);
    const issued = await call('POST', `/v1/partners/${partnerId}/keys`, admin);
    expect(issued.statusCode).toBe(201);
    const { id: newId, token: newToken } = issued.json<{ id: string; token: string }>();
    expect(newToken).not.toBe(oldToken);
    for (const token of [oldToken, newToken])
      expect((await call('GET', '/v1/events', bearer(token))).statusCode).toBe(200);

    const oldId = keyIdOf(oldToken);
    const revoked = await call('DELETE', `/v1/partners/${partnerId}/keys/${oldId}`, admin);
    expect(revoked.statusCode).toBe(204);
    expect(revoked.body).toBe('');
    expectError(await call('GET', '/v1/events', bearer(oldToken)), 401, 'UNAUTHORIZED');
    expect((await call('GET', '/v1/events', bearer(newToken))).statusCode).toBe(200);
    // Revoking again changes nothing and says so the same way.
    expect((await call('DELETE', `/v1/partners/${partnerId}/keys/${oldId}`, admin)).statusCode).toBe(204);
    expect(newId).not.toBe(oldId);
  });

  it('a revocation holds at once in another instance with its own pool (another process)', async () => {
    const other = await createAppWithDatabase({ database: t.database });
    try {
      const partnerId = uniqueId('two');
      const token = await t.createPartner(partnerId);
      expect((await call('GET', '/v1/events', bearer(token), undefined, other.app)).statusCode).toBe(200);
      const keyId = keyIdOf(token);
      expect((await call('DELETE', `/v1/partners/${partnerId}/keys/${keyId}`, admin)).statusCode).toBe(204);
      expectError(await call('GET', '/v1/events', bearer(token), undefined, other.app), 401, 'UNAUTHORIZED');
    } finally {
      await other.close();
    }
  });

  it("answers 404 for an unknown partner's keys, an unknown key, or another partner's key", async () => {
    const [a, b] = [uniqueId('a'), uniqueId('b')];
    const tokenA = await t.createPartner(a);
    await t.createPartner(b);
    const keyA = keyIdOf(tokenA);
    expectError(await call('POST', '/v1/partners/nobody-here/keys', admin), 404, 'PARTNER_NOT_FOUND');
    expectError(await call('DELETE', `/v1/partners/${a}/keys/unknownkey000000`, admin), 404, 'API_KEY_NOT_FOUND');
    expectError(await call('DELETE', `/v1/partners/${b}/keys/${keyA}`, admin), 404, 'API_KEY_NOT_FOUND');
    expectError(await call('DELETE', `/v1/partners/%00/keys/${keyA}`, admin), 404, 'API_KEY_NOT_FOUND');
    expectError(await call('DELETE', `/v1/partners/${a}/keys/%00`, admin), 404, 'API_KEY_NOT_FOUND');
    expectError(await call('POST', '/v1/partners/%00/keys', admin), 404, 'PARTNER_NOT_FOUND');
    expect((await call('GET', '/v1/events', bearer(tokenA))).statusCode).toBe(200);
  });
});
