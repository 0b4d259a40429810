import { createBatchedLookup } from './batched-lookup.js';
import { isKeyId, isValidPartnerName, isValidRegisteredPartnerId, type Partner, type StoredApiKey } from './partner.js';
import type { ApiKeyIssuer, Clock, PartnerRepository } from './ports.js';

export type CreatePartnerOutcome =
  | { readonly kind: 'created'; readonly partner: Partner; readonly key: StoredApiKey; readonly token: string }
  | { readonly kind: 'already_exists' }
  | { readonly kind: 'invalid'; readonly field: 'partnerId' | 'name' };

export type IssueKeyOutcome =
  | { readonly kind: 'issued'; readonly key: StoredApiKey; readonly token: string }
  | { readonly kind: 'partner_not_found' };

export type RevokeKeyOutcome = { readonly kind: 'revoked' } | { readonly kind: 'key_not_found' };

/** Who a valid partner token speaks for. */
export interface PartnerPrincipal {
  readonly partnerId: string;
  readonly keyId: string;
}

export interface PartnerService {
  createPartner(input: { partnerId: string; name: string }): Promise<CreatePartnerOutcome>;
  /** A new key for the partner (rotation): its other keys keep working until revoked. */
  issueKey(partnerId: string): Promise<IssueKeyOutcome>;
  revokeKey(partnerId: string, keyId: string): Promise<RevokeKeyOutcome>;
  listPartners(): Promise<Partner[]>;
  listKeys(partnerId: string): Promise<StoredApiKey[] | undefined>;
  /**
   * The partner a token belongs to, if it is one of its unrevoked keys. Read from the database on every call
   * (concurrent calls share one query), so a revocation holds in every process from the moment it is answered.
   */
  authenticate(token: string): Promise<PartnerPrincipal | undefined>;
}

export function createPartnerService(deps: {
  partners: PartnerRepository;
  keys: ApiKeyIssuer;
  clock: Clock;
}): PartnerService {
  const { partners, keys, clock } = deps;
  const findKey = createBatchedLookup<string, StoredApiKey>(
    async (keyIds) => new Map((await partners.findKeys(keyIds)).map((key) => [key.keyId, key])),
  );

  return {
    async createPartner({ partnerId, name }) {
      if (!isValidRegisteredPartnerId(partnerId)) return { kind: 'invalid', field: 'partnerId' };
      if (!isValidPartnerName(name)) return { kind: 'invalid', field: 'name' };
      const now = clock.now();
      const partner: Partner = { partnerId, name, createdAt: now };
      const { key, token } = keys.issue(partnerId, now);
      const result = await partners.createPartner(partner, key);
      return result === 'created' ? { kind: 'created', partner, key, token } : { kind: 'already_exists' };
    },

    async issueKey(partnerId) {
      if (!isValidRegisteredPartnerId(partnerId)) return { kind: 'partner_not_found' };
      const { key, token } = keys.issue(partnerId, clock.now());
      const result = await partners.addKey(key);
      return result === 'added' ? { kind: 'issued', key, token } : { kind: 'partner_not_found' };
    },

    async revokeKey(partnerId, keyId) {
      if (!isValidRegisteredPartnerId(partnerId) || !isKeyId(keyId)) return { kind: 'key_not_found' };
      const result = await partners.revokeKey(partnerId, keyId, clock.now());
      return result === 'revoked' ? { kind: 'revoked' } : { kind: 'key_not_found' };
    },

    listPartners: () => partners.listPartners(),

    async listKeys(partnerId) {
      if (!isValidRegisteredPartnerId(partnerId) || !(await partners.findPartner(partnerId))) return undefined;
      return partners.listKeys(partnerId);
    },

    async authenticate(token) {
      const keyId = keys.keyIdOf(token);
      if (!keyId) return undefined;
      const key = await findKey(keyId);
      if (!key || key.revokedAt || !keys.matches(token, key)) return undefined;
      return { partnerId: key.partnerId, keyId };
    },
  };
}
