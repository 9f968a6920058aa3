/**
 * The Redis client (ioredis), imported here only: push channels (`push_redis_url`) and shared
 * zones (`zone_redis_url`) take their connections from this module.
 */
export { Redis, type RedisOptions } from 'ioredis';

/** Where a Redis URL points, for messages: `host:port`. */
export function redisAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return url;
  }
}
