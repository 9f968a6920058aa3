/**
 * The zones of this process: a worker's go through the master (`ClusterZones`); the master's,
 * and a single process's (`master_process off`), are in memory, or in Redis with
 * `zone_redis_url`. Made on first use, so that checking a configuration (`-t`, `-T`) opens
 * nothing.
 */
import cluster from 'node:cluster';
import type { Logger } from '../../types';
import { ClusterZones } from './cluster-zones';
import { LocalZones } from './local-zones';
import { RedisZones } from './redis-zones';
import type { ZoneBackend, ZoneSpec } from './zone-types';

/** The store of zones: Redis at `redisUrl`, else this process's memory. */
export function storeZones(redisUrl: string | null, log: Logger): ZoneBackend {
  return redisUrl ? new RedisZones(redisUrl, log) : new LocalZones();
}

let current: ZoneBackend | null = null;
const declared = new WeakMap<object, Promise<void>>();

/** This process's zones. */
export function processZones(redisUrl: string | null, log: Logger): ZoneBackend {
  return (current ??= cluster.isWorker ? new ClusterZones() : storeZones(redisUrl, log));
}

/**
 * Declares the zones of `table` (one object per configuration) once in this process: resolves
 * when the store has them. A check sent after this is served after it (the channel keeps order).
 */
export function declareOnce(backend: ZoneBackend, table: object, specs: readonly ZoneSpec[]): Promise<void> {
  let done = declared.get(table);
  if (!done) declared.set(table, (done = backend.declare(specs)));
  return done;
}
