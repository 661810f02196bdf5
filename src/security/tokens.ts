import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/** A new opaque token of 256 random bits and the hash that is stored in its place. */
export function newToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

/** Tokens carry 256 bits of entropy, so a fast hash is enough to make a stolen table useless. */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

const SEAL_INFO = 'microblog refresh token successor v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

// The stored hash is SHA-256 of the token, and the key HKDF of it: knowing the hash (a stolen
// table) gives no key, only the token itself does.
function keyOf(token: string): Buffer {
  return Buffer.from(hkdfSync('sha256', token, Buffer.alloc(0), SEAL_INFO, 32));
}

/** `value` encrypted (AES-256-GCM) so that only the holder of `token` can read it back. */
export function seal(token: string, value: unknown): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyOf(token), iv);
  const sealed = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]);
}

/** What `seal` sealed under `token`; throws when the token or the bytes are not those. */
export function unseal<T>(token: string, sealed: Buffer): T {
  const iv = sealed.subarray(0, IV_BYTES);
  const tag = sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', keyOf(token), iv);
  decipher.setAuthTag(tag);
  const text = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  return JSON.parse(text) as T;
}
