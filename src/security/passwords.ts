import { hash, verify, type Algorithm } from '@node-rs/argon2';
import pLimit from 'p-limit';

const ARGON2ID = 2 as Algorithm; // Algorithm.Argon2id, a const enum that isolated modules cannot read

// OWASP Password Storage Cheat Sheet: argon2id, 19 MiB of memory, 2 iterations, 1 lane.
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/**
 * Hashes computed at once in this process; the others wait their turn. Each takes a core
 * for tens of milliseconds on libuv's thread pool (4 threads by default): unbounded, a
 * burst of logins would take every core from the event loop and stall every other request
 * (docs/performance.md). PASSWORD_HASH_CONCURRENCY sets it at start (`concurrency`).
 */
export const passwordHashing = pLimit(1);

/**
 * Hashes on libuv's thread pool, never on the event loop. The password is normalised (NFC)
 * first: keyboards send an accented letter precomposed or as a letter and a combining mark,
 * and a password must match however it was typed.
 */
export function hashPassword(password: string): Promise<string> {
  const normalised = password.normalize('NFC');
  return passwordHashing(() => hash(normalised, OPTIONS));
}

// Verified against when the account does not exist, so that both cases cost the same.
const unknownUserHash = hash('no account has this password', OPTIONS);

export interface PasswordCheck {
  valid: boolean;
  /** It matched only as typed: a hash made before passwords were normalised, to be made again. */
  outdated: boolean;
}

/** Checks a password against a stored hash, or spends the same time when there is none. */
export async function checkPassword(storedHash: string | undefined, password: string): Promise<PasswordCheck> {
  const target = storedHash ?? (await unknownUserHash);
  const matches = (candidate: string) => passwordHashing(() => verify(target, candidate)).catch(() => false);
  const normalised = password.normalize('NFC');
  if (await matches(normalised)) return { valid: storedHash !== undefined, outdated: false };
  const outdated = normalised !== password && (await matches(password)) && storedHash !== undefined;
  return { valid: outdated, outdated };
}

/** Whether a password matches a stored hash, or the same time spent when there is none. */
export async function verifyPassword(storedHash: string | undefined, password: string): Promise<boolean> {
  return (await checkPassword(storedHash, password)).valid;
}
