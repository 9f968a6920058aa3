/**
 * Builds a process's push channels: a worker's go through the master; the master's (and a
 * single process's) are in memory, or in Redis when `push_redis_url` is set.
 */
import cluster from 'node:cluster';
import type { MainConf } from '../../config/model';
import type { Logger } from '../../types';
import type { PushBackend } from './backend';
import { ClusterBackend } from './cluster-backend';
import { Fanout } from './fanout';
import { MemoryBackend } from './memory-backend';
import { RedisBackend } from './redis-backend';

/** The backend that stores channels: Redis when configured, else this process's memory (the master passes its part of the configuration). */
export function storeBackend(conf: { readonly http: Pick<MainConf['http'], 'pushRedisUrl'> }, log: Logger): PushBackend {
  return conf.http.pushRedisUrl ? new RedisBackend(conf.http.pushRedisUrl, log) : new MemoryBackend();
}

/** The push channels handlers and scripts of this process use. */
export function createPushChannels(conf: MainConf, log: Logger): Fanout {
  const backend = cluster.isWorker ? new ClusterBackend() : storeBackend(conf, log);
  return new Fanout(backend, log);
}
