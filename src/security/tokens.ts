import { createHash, randomBytes } from 'node:crypto';

/** A new opaque token of 256 random bits and the hash that is stored in its place. */
export function newToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

/** Tokens carry 256 bits of entropy, so a fast hash is enough to make a stolen table useless. */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
