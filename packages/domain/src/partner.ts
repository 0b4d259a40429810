import { isValidName } from './event.js';

/** A partner registered by an operator; it acts through its API keys. */
export interface Partner {
  readonly partnerId: string;
  readonly name: string;
  readonly createdAt: Date;
}

/** An API key as stored: the token itself is shown once when issued and never kept, only its hash. */
export interface StoredApiKey {
  readonly keyId: string;
  readonly partnerId: string;
  /** SHA-256 of the whole token. */
  readonly tokenHash: Uint8Array;
  readonly createdAt: Date;
  readonly revokedAt: Date | undefined;
}

/** A freshly issued key: the only time its token exists outside the partner's hands. */
export interface IssuedApiKey {
  readonly key: StoredApiKey;
  readonly token: string;
}

export const PARTNER_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
/** Key ids are made by the API (see ApiKeyIssuer) and checked by the schema. */
export const KEY_ID_PATTERN = '^[a-z0-9]{16}$';
export const MAX_PARTNER_NAME_LENGTH = 200;

const partnerIdPattern = new RegExp(PARTNER_ID_PATTERN);
const keyIdPattern = new RegExp(KEY_ID_PATTERN);

export function isKeyId(keyId: string): boolean {
  return keyIdPattern.test(keyId);
}

/** Registered partner ids: letters, digits, `.`, `_`, `-`, starting with a letter or digit, at most 64. */
export function isValidRegisteredPartnerId(partnerId: string): boolean {
  return partnerIdPattern.test(partnerId);
}

export function isValidPartnerName(name: string): boolean {
  return isValidName(name, MAX_PARTNER_NAME_LENGTH);
}
