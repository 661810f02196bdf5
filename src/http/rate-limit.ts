import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { Request, RequestHandler, Response } from 'express';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RateLimitConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Redis } from '../redis.js';
import { HttpError } from './errors.js';

/** A named limit: `quota` points per window of `windowSeconds`, counted per key. */
interface Policy {
  name: string;
  quota: number;
  windowSeconds: number;
  limiter: RateLimiterAbstract;
}

/** The state of one policy after counting a request. */
type Reading = [Policy, RateLimiterRes];

/** One login attempt, counted as a failure until it is known to have succeeded. */
export interface LoginAttempt {
  succeeded(): Promise<void>;
}

export interface LoginLimits {
  /**
   * Counts an attempt against the account and the client's address before the password
   * is checked, so that concurrent guesses cannot outrun the count; throws a 429 when either
   * has no attempts left, whatever the password.
   */
  attempt(req: Request, login: string): Promise<LoginAttempt>;
}

export interface RateLimits {
  /** Counts every request per client address; a 429 past the limit. */
  requests: RequestHandler;
  logins: LoginLimits;
}

/**
 * The rate limits, counted in Redis when a client is given (shared by every instance), else
 * in this process's memory. When Redis fails, each limiter counts in memory until it is back:
 * limits then hold per instance, and no request fails because of Redis.
 */
export function createRateLimits(
  config: RateLimitConfig,
  { redis, logger, metrics }: { redis?: Redis; logger: Logger; metrics?: Metrics },
): RateLimits {
  const policy = (name: string, quota: number, windowSeconds: number): Policy | undefined => {
    if (quota === 0) return undefined;
    const options = { points: quota, duration: windowSeconds };
    const memory = new RateLimiterMemory({ ...options, keyPrefix: name });
    const limiter = redis
      ? new RateLimiterRedis({
          ...options,
          storeClient: redis,
          keyPrefix: `${config.redisPrefix}ratelimit:${name}`,
          rejectIfRedisNotReady: true,
          insuranceLimiter: memory,
        })
      : memory;
    metrics?.rateLimitDeclared(name);
    return { name, quota, windowSeconds, limiter };
  };
  const requests = policy('requests', config.requests, config.windowSeconds);
  const perAccount = policy('failed-logins-account', config.failedLoginsPerAccount, config.failedLoginsWindowSeconds);
  const perAddress = policy('failed-logins-address', config.failedLoginsPerAddress, config.failedLoginsWindowSeconds);

  /** A limiter that fails (not a refusal) lets the request through: better unlimited than down. */
  const failedOpen = (err: unknown, name: string) => logger.error({ err, limit: name }, 'rate limiter failed; request let through');
  /** Counted every time; logged once per key and window, at the first refusal. The address is the client's, under TRUST_PROXY. */
  const refused = (req: Request, policy: Policy, refusal: RateLimiterRes) => {
    metrics?.rateLimitRefused(policy.name);
    if (refusal.consumedPoints !== policy.quota + 1) return;
    logger.warn({ reqId: req.id, ip: req.ip, limit: policy.name, retryAfter: secondsUntil(refusal) }, 'rate limit reached');
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

    logins: {
      async attempt(req, login) {
        const counted: [Policy, string][] = [];
        const keys: [Policy | undefined, string, string][] = [
          [perAccount, accountKey(login), 'for this account'],
          [perAddress, clientAddress(req), 'from this address'],
        ];
        for (const [policy, key, whose] of keys) {
          if (!policy) continue;
          try {
            await policy.limiter.consume(key);
            counted.push([policy, key]);
          } catch (refusal) {
            if (!(refusal instanceof RateLimiterRes)) {
              failedOpen(refusal, policy.name);
              continue;
            }
            refused(req, policy, refusal);
            // A refused attempt checks no password: it is nobody's failure.
            await Promise.all(counted.map(([p, k]) => p.limiter.reward(k).catch((err: unknown) => failedOpen(err, p.name))));
            throw tooManyRequests(
              req.res as Response,
              [policy, refusal],
              `too many failed logins ${whose}; try again in ${secondsUntil(refusal)} seconds`,
            );
          }
        }
        return {
          // Success forgives the account's failures; the address keeps those made on other accounts.
          succeeded: async () => {
            await Promise.all(
              counted.map(([p, k]) =>
                (p === perAccount ? p.limiter.delete(k) : p.limiter.reward(k)).catch((err: unknown) => failedOpen(err, p.name)),
              ),
            );
          },
        };
      },
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

/** The account a login names, as sent (username or email, any case); hashed, so no address sits in Redis. */
function accountKey(login: string): string {
  return createHash('sha256').update(login.toLowerCase()).digest('base64url');
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
