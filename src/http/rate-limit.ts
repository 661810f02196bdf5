import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { Request, RequestHandler, Response } from 'express';
import {
  RateLimiterCluster,
  RateLimiterClusterMaster,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import type { RateLimitConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Redis } from '../redis.js';
import { HttpError } from './http-error.js';

/** A named limit: `quota` points per window of `windowSeconds`, counted per key. */
interface Policy {
  name: string;
  quota: number;
  windowSeconds: number;
  limiter: RateLimiterAbstract;
}

/** The state of one policy after counting a request. */
type Reading = [Policy, RateLimiterRes];

/** A limit on failed logins, and the password checks under way that may yet fail. */
interface LoginPolicy {
  policy: Policy;
  underWay: RateLimiterAbstract;
  /** Whose failures the 429 names. */
  whose: string;
}

export interface LoginLimits {
  /**
   * Runs `verify`, the check of a password, as one login attempt on `account` (the login as
   * the database compares it, the same for every spelling of one account) from the client's
   * address, and returns its verdict. Only a failed check counts, but checks under way count
   * until they end, so that concurrent guesses cannot outrun the limit; an attempt that finds
   * what is left held by them waits for them to end, so logins with the right password are
   * never refused for being many at once. Throws a 429 when the account or the address has
   * no failures left, whatever the password.
   */
  check(req: Request, account: string, verify: () => Promise<boolean>): Promise<boolean>;
}

export interface PasswordResetLimits {
  /**
   * Counts a request for a password reset mail to `email` (folded to lower case, hashed)
   * and from the client's address; throws a 429 past either limit. Nothing is looked up:
   * the answer is the same whether or not the address belongs to a user.
   */
  check(req: Request, email: string): Promise<void>;
}

export interface MessageLimits {
  /** Counts a private message sent by `senderId`; throws a 429 past the limit. */
  check(req: Request, senderId: number): Promise<void>;
}

export interface RateLimits {
  /** Counts every request per client address; a 429 past the limit. */
  requests: RequestHandler;
  logins: LoginLimits;
  passwordResets: PasswordResetLimits;
  messages: MessageLimits;
}

/**
 * A worker waits this long for the primary's count before the request goes through
 * uncounted: the primary is a local process, so only a stuck one takes this long.
 */
const CLUSTER_TIMEOUT_MS = 1000;

/**
 * In the primary of a cluster, before it forks: keeps the counts of the limits of every
 * worker, which then share one count per client, as RateLimit-Policy states it.
 */
export function countRateLimitsForWorkers(): void {
  new RateLimiterClusterMaster();
}

export interface RateLimitStores {
  /** Where every instance counts; unset, each machine counts apart. */
  redis?: Redis;
  /** This process is a worker of a cluster whose primary counts (countRateLimitsForWorkers). */
  clusterWorker?: boolean;
  logger: Logger;
  /** Where refusals are counted, for Prometheus. */
  metrics?: Metrics;
}

/**
 * The rate limits, counted in Redis when a client is given (shared by every instance), else
 * in this machine's memory: the process's own, or the cluster primary's for its workers.
 * When Redis fails, each limiter counts in the machine's memory until it is back: limits
 * then hold per instance, and no request fails because of Redis.
 */
export function createRateLimits(config: RateLimitConfig, { redis, clusterWorker = false, logger, metrics }: RateLimitStores): RateLimits {
  const policy = (name: string, quota: number, windowSeconds: number): Policy | undefined => {
    if (quota === 0) return undefined;
    const options = { points: quota, duration: windowSeconds, keyPrefix: name };
    const machine = clusterWorker ? new RateLimiterCluster({ ...options, timeoutMs: CLUSTER_TIMEOUT_MS }) : new RateLimiterMemory(options);
    const limiter = redis
      ? new RateLimiterRedis({
          ...options,
          storeClient: redis,
          keyPrefix: `${config.redisPrefix}ratelimit:${name}`,
          rejectIfRedisNotReady: true,
          insuranceLimiter: machine,
        })
      : machine;
    metrics?.rateLimitDeclared(name);
    return { name, quota, windowSeconds, limiter };
  };
  const requests = policy('requests', config.requests, config.windowSeconds);
  const loginPolicy = (name: string, quota: number, whose: string): LoginPolicy | undefined => {
    const limit = policy(name, quota, config.failedLoginsWindowSeconds);
    return (
      limit && {
        policy: limit,
        underWay: underWayCounter(`${name}-under-way`, { redis, clusterWorker }, config.redisPrefix),
        whose,
      }
    );
  };
  const perAccountLogins = loginPolicy(
    'failed-logins-account',
    config.failedLoginsPerAccount,
    'for this account',
  );
  const perAddressLogins = loginPolicy(
    'failed-logins-address',
    config.failedLoginsPerAddress,
    'from this address',
  );
  const perEmailResets = policy('password-resets-email', config.passwordResetsPerEmail, config.passwordResetsWindowSeconds);
  const perAddressResets = policy('password-resets-address', config.passwordResetsPerAddress, config.passwordResetsWindowSeconds);
  const perSenderMessages = policy('messages', config.messages, config.messagesWindowSeconds);
  const endings = createEndings();

  /** A limiter that fails (not a refusal) lets the request through: better unlimited than down. */
  const failedOpen = (err: unknown, name: string) => logger.error({ err, limit: name }, 'rate limiter failed; request let through');
  /** Counted every time; logged once per key and window, at the first refusal. The address is the client's, under TRUST_PROXY. */
  const refused = (req: Request, policy: Policy, refusal: RateLimiterRes) => {
    metrics?.rateLimitRefused(policy.name);
    if (refusal.consumedPoints === policy.quota + 1) reachedLog(req, policy, refusal);
  };
  /** Logged once per key and window: the failure that used the last of the quota. */
  const reached = (req: Request, policy: Policy, state: RateLimiterRes) => {
    if (state.consumedPoints === policy.quota) reachedLog(req, policy, state);
  };
  const reachedLog = (req: Request, policy: Policy, state: RateLimiterRes) =>
    logger.warn(
      { reqId: req.id, ip: req.ip, limit: policy.name, retryAfter: secondsUntil(state) },
      'rate limit reached',
    );

  /**
   * Counts a password check under way on `key`, once the failures and the checks already
   * under way leave room for it; waits while checks under way (which may yet succeed) hold
   * the room left. Throws a 429 when the failures alone fill the quota. False when the
   * limiter failed, and the check goes on uncounted.
   */
  const enter = async (req: Request, login: LoginPolicy, key: string): Promise<boolean> => {
    const { policy, underWay, whose } = login;
    const watch = endings.watch(`${policy.name}:${key}`);
    const giveUpAt = Date.now() + LOGIN_WAIT_MS;
    try {
      for (;;) {
        // Before counting itself in, so that no check that ends in between goes unnoticed.
        const mark = watch.mark();
        let position: number;
        let failures: RateLimiterRes | null;
        try {
          position = (await underWay.penalty(key)).consumedPoints;
        } catch (err) {
          failedOpen(err, policy.name);
          return false;
        }
        try {
          failures = await policy.limiter.get(key);
        } catch (err) {
          failedOpen(err, policy.name);
          await leave(login, key, false);
          return false;
        }
        const failed = failures?.consumedPoints ?? 0;
        if (failures && failed >= policy.quota) {
          await leave(login, key, false);
          metrics?.rateLimitRefused(policy.name);
          throw tooManyRequests(
            req.res as Response,
            [policy, failures],
            `too many failed logins ${whose}; try again in ${secondsUntil(failures)} seconds`,
          );
        }
        if (failed + position <= policy.quota) return true;
        // Checks under way hold the rest: count again once one has ended (here, or in
        // another instance, which only counting again can tell).
        await leave(login, key, false);
        if (Date.now() >= giveUpAt) {
          metrics?.rateLimitRefused(policy.name);
          throw tooManyRequests(
            req.res as Response,
            [policy, new RateLimiterRes(0, 1000, policy.quota + 1)],
            `too many logins at once ${whose}; try again in a second`,
          );
        }
        await watch.after(mark, RECOUNT_MS);
      }
    } finally {
      watch.close();
    }
  };
  /**
   * Stops counting a check as under way. Only the end of a check wakes those waiting: an
   * attempt that steps back never made room, and waking on it would let waiting attempts
   * wake each other forever.
   */
  const leave = async (
    { policy, underWay }: LoginPolicy,
    key: string,
    checked: boolean,
  ): Promise<void> => {
    await underWay.reward(key).catch((err: unknown) => failedOpen(err, policy.name));
    if (checked) endings.signal(`${policy.name}:${key}`);
  };

  return {
    requests: async (req, res, next) => {
      if (!requests) return next();
      try {
        const state = await requests.limiter.consume(clientAddress(req));
        setRateLimitHeaders(res, [[requests, state]]);
      } catch (refusal) {
        if (!(refusal instanceof RateLimiterRes)) {
          failedOpen(refusal, requests.name);
          return next();
        }
        refused(req, requests, refusal);
        throw tooManyRequests(res, [requests, refusal], `too many requests; try again in ${secondsUntil(refusal)} seconds`);
      }
      next();
    },

    passwordResets: {
      async check(req, email) {
        const limits = [
          [perEmailResets, accountKey(email.toLowerCase()), 'for this email address'],
          [perAddressResets, clientAddress(req), 'from this address'],
        ] as const;
        for (const [policy, key, whose] of limits) {
          if (!policy) continue;
          try {
            await policy.limiter.consume(key);
          } catch (refusal) {
            if (!(refusal instanceof RateLimiterRes)) {
              failedOpen(refusal, policy.name);
              continue;
            }
            refused(req, policy, refusal);
            throw tooManyRequests(
              req.res as Response,
              [policy, refusal],
              `too many password reset requests ${whose}; try again in ${secondsUntil(refusal)} seconds`,
            );
          }
        }
      },
    },

    messages: {
      async check(req, senderId) {
        if (!perSenderMessages) return;
        try {
          await perSenderMessages.limiter.consume(String(senderId));
        } catch (refusal) {
          if (!(refusal instanceof RateLimiterRes)) {
            failedOpen(refusal, perSenderMessages.name);
            return;
          }
          refused(req, perSenderMessages, refusal);
          throw tooManyRequests(req.res as Response, [perSenderMessages, refusal], `too many messages sent; try again in ${secondsUntil(refusal)} seconds`);
        }
      },
    },

    logins: {
      async check(req, account, verify) {
        const held: [LoginPolicy, string][] = [];
        const end = async (outcome: 'succeeded' | 'failed' | 'abandoned') => {
          for (const [login, key] of held) {
            const { policy } = login;
            // The failure is counted before the check stops counting as under way: whoever
            // counts in between sees one or the other.
            if (outcome === 'failed')
              await policy.limiter.penalty(key).then(
                (state) => reached(req, policy, state),
                (err: unknown) => failedOpen(err, policy.name),
              );
            // Success forgives the account's failures; the address keeps those made on other accounts.
            if (outcome === 'succeeded' && login === perAccountLogins)
              await policy.limiter
                .delete(key)
                .catch((err: unknown) => failedOpen(err, policy.name));
            await leave(login, key, true);
          }
        };
        try {
          // Always the account first, then the address: an attempt waits on the second while
          // holding the first, and one order means no two attempts wait on each other.
          for (const [login, key] of [
            [perAccountLogins, accountKey(account)],
            [perAddressLogins, clientAddress(req)],
          ] as const) {
            if (login && (await enter(req, login, key))) held.push([login, key]);
          }
        } catch (refusal) {
          // A refused attempt checks no password: it is nobody's failure.
          await end('abandoned');
          throw refusal;
        }
        let ok: boolean;
        try {
          ok = await verify();
        } catch (err) {
          await end('abandoned');
          throw err;
        }
        await end(ok ? 'succeeded' : 'failed');
        return ok;
      },
    },
  };
}

/** How often an attempt waiting for checks under way looks again, for those in other instances. */
const RECOUNT_MS = 100;
/** How long an attempt waits for checks under way to make room before it is refused. */
const LOGIN_WAIT_MS = 5000;

/**
 * How long the count of checks under way for a key lives from its first check: far longer
 * than a check takes, and the longest a check counted by an instance that died with it
 * holds anyone up.
 */
const UNDER_WAY_SECONDS = 60;

/** Limiters with no limit of their own: counts of password checks under way, per key. */
/**
 * Where checks under way are counted: with the failures they are weighed against (Redis,
 * the cluster's primary, or this process), or workers would each admit the quota.
 */
function underWayCounter(
  name: string,
  { redis, clusterWorker }: Pick<RateLimitStores, 'redis' | 'clusterWorker'>,
  redisPrefix: string,
): RateLimiterAbstract {
  const options = { points: Number.MAX_SAFE_INTEGER, duration: UNDER_WAY_SECONDS, keyPrefix: name };
  const memory = clusterWorker ? new RateLimiterCluster({ ...options, timeoutMs: CLUSTER_TIMEOUT_MS }) : new RateLimiterMemory(options);
  if (!redis) return memory;
  return new RateLimiterRedis({
    ...options,
    storeClient: redis,
    keyPrefix: `${redisPrefix}ratelimit:${name}`,
    rejectIfRedisNotReady: true,
    insuranceLimiter: memory,
  });
}

/** Watches the password checks of this process end, per key, for attempts waiting to start one. */
function createEndings() {
  const keys = new Map<
    string,
    { ended: number; watchers: number; next: Promise<void>; wake: () => void }
  >();
  const fresh = (ended: number, watchers: number) => {
    let wake = () => {};
    const next = new Promise<void>((resolve) => (wake = resolve));
    return { ended, watchers, next, wake };
  };
  return {
    /** A check on `key` has ended: wake whoever waits for one. */
    signal(key: string): void {
      const entry = keys.get(key);
      if (!entry) return;
      entry.wake();
      keys.set(key, fresh(entry.ended + 1, entry.watchers));
    },
    /** Follows the checks ending on `key` until closed. */
    watch(key: string) {
      const entry = keys.get(key) ?? fresh(0, 0);
      entry.watchers++;
      keys.set(key, entry);
      const current = () => keys.get(key) as NonNullable<ReturnType<typeof keys.get>>;
      return {
        /** How many have ended so far. */
        mark: () => current().ended,
        /** Resolves once one has ended since `mark`, at once if one has, or after `ms` at most. */
        async after(mark: number, ms: number): Promise<void> {
          if (current().ended > mark) return;
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            current().next,
            new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
          ]);
          clearTimeout(timer);
        },
        close(): void {
          if (--current().watchers === 0) keys.delete(key);
        },
      };
    },
  };
}

/**
 * The client as the limits count it: its address as Express reports it (behind TRUST_PROXY,
 * from X-Forwarded-For), IPv4-mapped IPv6 as IPv4, and IPv6 by its /64, which one
 * subscriber usually holds whole and could otherwise walk through.
 */
function clientAddress(req: Request): string {
  const ip = (req.ip ?? req.socket.remoteAddress ?? 'unknown').replace(/%.*$/, '');
  if (ip.toLowerCase().startsWith('::ffff:') && isIPv4(ip.slice(7))) return ip.slice(7);
  if (isIPv6(ip)) return `${ipv6Groups(ip).slice(0, 4).join(':')}::/64`;
  return ip;
}

/** The eight 16-bit groups of an IPv6 address, in lower-case hex without leading zeros. */
function ipv6Groups(ip: string): string[] {
  const split = (part: string) => (part ? part.split(':') : []).flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const [head = '', tail] = ip.split('::');
  const front = split(head);
  const back = tail === undefined ? [] : split(tail);
  const groups = [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  return groups.map((g) => parseInt(g, 16).toString(16));
}

/** The account's (or email address's) key: hashed, so no username or email address sits in Redis. */
function accountKey(account: string): string {
  return createHash('sha256').update(account).digest('base64url');
}

function secondsUntil(state: RateLimiterRes): number {
  return Math.max(1, Math.ceil(state.msBeforeNext / 1000));
}

/** RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers), one list member per policy. */
function setRateLimitHeaders(res: Response, readings: Reading[]): void {
  res.setHeader('RateLimit-Policy', readings.map(([p]) => policyItem(p)).join(', '));
  res.setHeader('RateLimit', readings.map(([p, state]) => `"${p.name}";r=${state.remainingPoints};t=${secondsUntil(state)}`).join(', '));
}

const policyItem = (p: Policy) => `"${p.name}";q=${p.quota};w=${p.windowSeconds}`;

/** A 429 naming the limit reached next to those already reported on this response. */
function tooManyRequests(res: Response, [policy, refusal]: Reading, message: string): HttpError {
  const joined = (name: string, added: string) => [res.get(name), added].filter(Boolean).join(', ');
  return new HttpError(429, message, {
    'Retry-After': String(secondsUntil(refusal)),
    'RateLimit-Policy': joined('RateLimit-Policy', policyItem(policy)),
    RateLimit: joined('RateLimit', `"${policy.name}";r=0;t=${secondsUntil(refusal)}`),
  });
}
