/**
 * The Redis client (ioredis), imported here only: push channels (`push_redis_url`) and shared
 * zones (`zone_redis_url`) take their connections from this module.
 */
export { Redis, type RedisOptions } from 'ioredis';
