import { describe, expect, it } from 'vitest';
import { createLimiter } from '../src/security/limiter.js';
import { passwordHashing, verifyPassword, hashPassword } from '../src/security/passwords.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('createLimiter', () => {
  it('runs at most the limit at once, the rest in order of arrival, each as soon as a slot frees', async () => {
    const limiter = createLimiter(2);
    const gates = Array.from({ length: 5 }, deferred);
    const started: number[] = [];
    const done = gates.map((gate, i) =>
      limiter.run(async () => {
        started.push(i);
        await gate.promise;
        return i;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    expect([limiter.active, limiter.queued]).toEqual([2, 3]);
    gates[1]?.resolve();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    // A newcomer waits behind those already waiting.
    const late = limiter.run(async () => 'late');
    gates[0]?.resolve();
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);
    expect(limiter.queued).toBe(2);
    for (const gate of gates) gate.resolve();
    expect(await Promise.all(done)).toEqual([0, 1, 2, 3, 4]);
    expect(await late).toBe('late');
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });

  it('frees the slot when a task fails, and starts waiting tasks when the limit is raised', async () => {
    const limiter = createLimiter(1);
    const gate = deferred();
    const first = limiter.run(() => gate.promise.then(() => Promise.reject(new Error('boom'))));
    const second = limiter.run(async () => 'second');
    const third = limiter.run(async () => 'third');
    await tick();
    expect(limiter.queued).toBe(2);
    limiter.setLimit(3);
    expect(await second).toBe('second');
    expect(await third).toBe('third');
    gate.resolve();
    await expect(first).rejects.toThrow('boom');
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });
});

describe('password hashing', () => {
  it('goes through the limiter: with a limit of 1, concurrent checks queue and all answer right', async () => {
    const stored = await hashPassword('right password');
    passwordHashing.setLimit(1);
    const checks = ['right password', 'wrong', 'right password', 'wrong'].map((p) => verifyPassword(stored, p));
    expect([passwordHashing.active, passwordHashing.queued]).toEqual([1, 3]);
    expect(await Promise.all(checks)).toEqual([true, false, true, false]);
    expect([passwordHashing.active, passwordHashing.queued]).toEqual([0, 0]);
  });
});
