import { randomBytes, randomUUID } from 'node:crypto';
import type { StoredApiKey } from '@ticketboss/domain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresPartnerRepository } from './partner-repository.js';
import { createTestDatabase, type TestDatabase } from './testing/index.js';

let database: TestDatabase;
let partners: ReturnType<typeof createPostgresPartnerRepository>;

beforeAll(async () => {
  database = await createTestDatabase();
  partners = createPostgresPartnerRepository(database.db);
});
afterAll(() => database.drop());

const newPartnerId = () => `p-${randomUUID().slice(0, 8)}`;
const key = (partnerId: string): StoredApiKey => ({
  keyId: randomBytes(8).toString('hex'),
  partnerId,
  tokenHash: randomBytes(32),
  createdAt: new Date(),
  revokedAt: undefined,
});
const partner = (partnerId: string) => ({ partnerId, name: 'Acme', createdAt: new Date() });

describe('partners and their keys', () => {
  it('creates a partner with its first key once; a second create changes nothing', async () => {
    const id = newPartnerId();
    const first = key(id);
    expect(await partners.createPartner(partner(id), first)).toBe('created');
    expect(await partners.createPartner({ ...partner(id), name: 'Other' }, key(id))).toBe('already_exists');
    expect(await partners.findPartner(id)).toMatchObject({ partnerId: id, name: 'Acme' });
    const keys = await partners.listKeys(id);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ keyId: first.keyId, revokedAt: undefined });
    expect(Buffer.from(keys[0]!.tokenHash).equals(Buffer.from(first.tokenHash))).toBe(true);
  });

  it('adds keys to an existing partner only', async () => {
    const id = newPartnerId();
    await partners.createPartner(partner(id), key(id));
    expect(await partners.addKey(key(id))).toBe('added');
    expect(await partners.addKey(key('nobody'))).toBe('partner_not_found');
    expect(await partners.listKeys(id)).toHaveLength(2);
  });

  it("revokes a partner's own key, keeping the first revocation time; another partner's key is not found", async () => {
    const [a, b] = [newPartnerId(), newPartnerId()];
    const keyA = key(a);
    await partners.createPartner(partner(a), keyA);
    await partners.createPartner(partner(b), key(b));
    expect(await partners.revokeKey(b, keyA.keyId, new Date())).toBe('not_found');
    const at = new Date('2026-01-01T00:00:00Z');
    expect(await partners.revokeKey(a, keyA.keyId, at)).toBe('revoked');
    expect(await partners.revokeKey(a, keyA.keyId, new Date())).toBe('revoked');
    const [found] = await partners.findKeys([keyA.keyId, 'unknown']);
    expect(found?.revokedAt).toEqual(at);
    expect(await partners.findKeys([])).toEqual([]);
  });
});
