import { Redis } from 'ioredis';
import type { Logger } from './logger.js';

export type { Redis };

/**
 * A Redis client for the shared rate limits. While Redis is unreachable, commands fail at
 * once instead of queueing, so the limiters fall back to counting in memory (per instance)
 * and requests never wait on it; the client reconnects by itself.
 */
export function openRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    commandTimeout: 1_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    logger.warn({ err }, 'Redis is unavailable: rate limits are counted per instance until it is back');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info('Redis is back: rate limits are shared again');
  });
  return redis;
}
