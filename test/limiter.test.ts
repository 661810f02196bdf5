import { describe, expect, it } from 'vitest';
import { passwordHashing, verifyPassword, hashPassword } from '../src/security/passwords.js';

describe('password hashing', () => {
  it('goes through the limiter: with a limit of 1, concurrent checks queue and all answer right', async () => {
    const stored = await hashPassword('right password');
    passwordHashing.concurrency = 1;
    const checks = ['right password', 'wrong', 'right password', 'wrong'].map((p) => verifyPassword(stored, p));
    expect([passwordHashing.activeCount, passwordHashing.pendingCount]).toEqual([1, 3]);
    expect(await Promise.all(checks)).toEqual([true, false, true, false]);
    expect([passwordHashing.activeCount, passwordHashing.pendingCount]).toEqual([0, 0]);
  });
});
