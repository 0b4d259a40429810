import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyIssuer } from '@ticketboss/domain';

const KEY_ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const TOKEN = /^tb_([a-z0-9]{16})_[A-Za-z0-9_-]{43}$/;

export const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

function newKeyId(): string {
  // 16 characters of 36: about 82 bits, so ids never collide in practice (the primary key would refuse one).
  return Array.from(randomBytes(16), (byte) => KEY_ID_ALPHABET[byte % KEY_ID_ALPHABET.length]).join('');
}

/** The part of a token that may be shown and logged: it names the key, not its secret. */
export const visiblePrefix = (keyId: string): string => `tb_${keyId}_`;

/**
 * Tokens look like `tb_<key id>_<43 characters of base64url>`: 256 random bits, so a plain SHA-256 is the right
 * hash (a slow password hash buys nothing against a secret that cannot be guessed), and the key id inside lets
 * the key be found by id and compared in constant time instead of looked up by its hash.
 */
export const apiKeyIssuer: ApiKeyIssuer = {
  issue(partnerId, createdAt) {
    const keyId = newKeyId();
    const token = `${visiblePrefix(keyId)}${randomBytes(32).toString('base64url')}`;
    return { token, key: { keyId, partnerId, tokenHash: sha256(token), createdAt, revokedAt: undefined } };
  },
  keyIdOf: (token) => TOKEN.exec(token)?.[1],
  matches: (token, key) => timingSafeEqual(sha256(token), key.tokenHash),
};

/** Compares a presented token with the admin token in constant time (hashing first evens out the lengths). */
export function isAdminToken(token: string, adminTokenHash: Buffer | undefined): boolean {
  return adminTokenHash !== undefined && timingSafeEqual(sha256(token), adminTokenHash);
}
