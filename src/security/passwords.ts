import { hash, verify, type Algorithm } from '@node-rs/argon2';

const ARGON2ID = 2 as Algorithm; // Algorithm.Argon2id, a const enum that isolated modules cannot read

// OWASP Password Storage Cheat Sheet: argon2id, 19 MiB of memory, 2 iterations, 1 lane.
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Hashes on libuv's thread pool, never on the event loop. */
export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

// Verified against when the account does not exist, so that both cases cost the same.
const unknownUserHash = hashPassword('no account has this password');

/** Checks a password against a stored hash, or spends the same time when there is none. */
export async function verifyPassword(storedHash: string | undefined, password: string): Promise<boolean> {
  const target = storedHash ?? (await unknownUserHash);
  const ok = await verify(target, password).catch(() => false);
  return ok && storedHash !== undefined;
}
