/**
 * Builds a process's push channels: a worker's go through the master; the master's (and a
 * single process's) are in memory, or in Redis when `push_redis_url` is set.
 */
import cluster from 'node:cluster';
import type { MainConf } from '../../config/model';
import { pushModule, pushRedisUrlOf } from './module';
import type { Logger } from '../../types';
import type { PushBackend } from './backend';
import { ClusterBackend } from './cluster-backend';
import { Fanout } from './fanout';
import { MemoryBackend } from './memory-backend';
import { RedisBackend } from './redis-backend';

/** The backend that stores channels: Redis at `pushRedisUrl` (`push_redis_url`), else this process's memory. */
export function storeBackend(pushRedisUrl: string | null, log: Logger): PushBackend {
  return pushRedisUrl ? new RedisBackend(pushRedisUrl, log) : new MemoryBackend();
}

/** The push channels handlers and scripts of this process use. */
export function createPushChannels(conf: MainConf, log: Logger): Fanout {
  const backend = cluster.isWorker ? new ClusterBackend() : storeBackend(pushRedisUrlOf(conf.http.confs.get(pushModule)), log);
  return new Fanout(backend, log);
}
