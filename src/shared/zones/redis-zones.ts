/**
 * Zones kept in Redis (`zone_redis_url`), so several gateways share one limit: each check is
 * one Lua script (`redis-scripts.ts`). The zone's declared size bounds nothing there (buckets
 * expire once drained, counters once empty). When Redis cannot be reached, this gateway limits
 * on its own, in its own memory (`MemoryZones`), with one error line; once Redis answers again
 * (ioredis reconnects, every 2 s at most) checks go back to it, with a notice line. A slot taken
 * in either place is given back where it was taken.
 */
import { randomBytes } from 'node:crypto';
import { Redis, redisAddress, type RedisOptions } from '../redis';
import type { Logger } from '../../types';
import { MemoryZones } from './memory-zones';
import { INSTANCE_PREFIX, LUA_ACQUIRE_CONN, LUA_LIMIT_REQ, LUA_RELEASE_CONN, ZONE_PREFIX } from './redis-scripts';
import type { ConnLimit, ConnOutcome, ConnSlot, ReqLimit, ReqOutcome, ZoneBackend, ZoneSpec } from './zone-types';

/** An instance's heartbeat lives this long after each refresh, refreshed this often. */
const HEARTBEAT_TTL_MS = 15_000;
const HEARTBEAT_INTERVAL_MS = 5000;
/** How long a check may take before this gateway limits on its own. */
const COMMAND_TIMEOUT_MS = 1000;

interface ZoneCommands {
  gatewayZoneReq(...args: (string | Buffer | number)[]): Promise<[number, number, number, number]>;
  gatewayZoneConn(...args: (string | Buffer | number)[]): Promise<[number, number]>;
  gatewayZoneRelease(...args: (string | Buffer | number)[]): Promise<number>;
}

const bucketKey = (zone: string, key: string) => Buffer.concat([Buffer.from(`${ZONE_PREFIX}${zone}:r:`), Buffer.from(key, 'latin1')]);
const counterKey = (zone: string, key: string) => Buffer.concat([Buffer.from(`${ZONE_PREFIX}${zone}:c:`), Buffer.from(key, 'latin1')]);

export class RedisZones implements ZoneBackend {
  readonly instance = randomBytes(8).toString('hex');
  readonly address: string;
  private readonly redis: Redis & ZoneCommands;
  /** Where this gateway limits while Redis is away. */
  readonly local = new MemoryZones();
  private readonly rates = new Map<string, number>();
  private readonly heartbeat: NodeJS.Timeout;
  private started = false;
  /** The outage was logged and the recovery is not yet. */
  private down = false;

  constructor(
    url: string,
    private readonly log: Logger,
  ) {
    this.address = redisAddress(url);
    const options: RedisOptions = {
      lazyConnect: true,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: 2000,
      commandTimeout: COMMAND_TIMEOUT_MS,
      disableClientInfo: true,
      connectionName: `gateway-zones-${this.instance}`,
    };
    this.redis = new Redis(url, options) as Redis & ZoneCommands;
    this.redis.defineCommand('gatewayZoneReq', { lua: LUA_LIMIT_REQ });
    this.redis.defineCommand('gatewayZoneConn', { lua: LUA_ACQUIRE_CONN });
    this.redis.defineCommand('gatewayZoneRelease', { lua: LUA_RELEASE_CONN });
    this.redis.on('error', (err: Error) => this.unreachable(err.message));
    this.redis.on('close', () => this.unreachable('connection closed'));
    this.redis.on('ready', () => {
      void this.beat();
      if (!this.down) return;
      this.down = false;
      this.log.notice(`zones: Redis at ${this.address} is reachable again; limits are shared again`);
    });
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_INTERVAL_MS).unref();
  }

  /** Declares the zones, connecting on the first declaration; resolves once Redis answers or is found away. */
  async declare(specs: readonly ZoneSpec[]): Promise<void> {
    this.local.declare(specs);
    for (const spec of specs) if (spec.kind === 'limit_req') this.rates.set(spec.name, spec.rate);
    this.start();
    await this.whenSettled();
  }

  async limitReq(limits: readonly ReqLimit[]): Promise<ReqOutcome> {
    if (!this.ready()) return this.local.limitReq(limits);
    const keys: Buffer[] = [];
    const args: (string | number)[] = [];
    for (const limit of limits) {
      const rate = this.rates.get(limit.zone);
      const skip = limit.key === '' || rate === undefined;
      keys.push(skip ? Buffer.from(`${ZONE_PREFIX}-`) : bucketKey(limit.zone, limit.key));
      args.push(rate ?? 1, limit.burst, Math.min(limit.delay, Number.MAX_SAFE_INTEGER), skip ? 1 : 0);
    }
    try {
      const [kind, excess, index, delay] = await this.redis.gatewayZoneReq(keys.length, ...keys, ...args);
      const zone = limits[index]?.zone ?? '';
      if (kind === 0) return { kind: 'declined' };
      if (kind === 1) return { kind: 'passed' };
      if (kind === 2) return { kind: 'busy', excess, zone };
      return { kind: 'delayed', delayMs: delay, excess, zone };
    } catch (err) {
      this.failed(err);
      return this.local.limitReq(limits);
    }
  }

  async acquireConn(limits: readonly ConnLimit[]): Promise<ConnOutcome> {
    if (!this.ready()) return this.local.acquireConn(limits);
    const keys: Buffer[] = [];
    const args: (string | number)[] = [this.instance];
    const slots: ConnSlot[] = [];
    for (const limit of limits) {
      const skip = limit.key === '';
      keys.push(skip ? Buffer.from(`${ZONE_PREFIX}-`) : counterKey(limit.zone, limit.key));
      args.push(limit.conn, skip ? 1 : 0);
      if (!skip) slots.push({ zone: limit.zone, key: limit.key, where: 'redis' });
    }
    try {
      const [kind, index] = await this.redis.gatewayZoneConn(keys.length, ...keys, ...args);
      if (kind === 2) return { kind: 'busy', zone: limits[index].zone };
      return { kind: 'passed', slots, counted: slots.length > 0 };
    } catch (err) {
      this.failed(err);
      return this.local.acquireConn(limits);
    }
  }

  releaseConn(slots: readonly ConnSlot[]): void {
    const local = slots.filter((s) => s.where === 'local');
    if (local.length) this.local.releaseConn(local);
    const shared = slots.filter((s) => s.where === 'redis');
    if (shared.length === 0 || !this.ready()) return;
    const keys = shared.map((s) => counterKey(s.zone, s.key));
    this.redis.gatewayZoneRelease(keys.length, ...keys, this.instance).catch((err) => this.failed(err));
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.redis.disconnect();
  }

  /** Connects on the first declaration (not when a configuration is only checked). */
  private start(): void {
    if (this.started) return;
    this.started = true;
    this.redis.connect().catch(() => {
      // Reported through 'error'; ioredis goes on reconnecting.
    });
  }

  /** Resolves once the connection is ready, or has failed (closed), or after the connect timeout. */
  private whenSettled(): Promise<void> {
    if (this.redis.status === 'ready' || this.down) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.redis.off('ready', done);
        this.redis.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, 2000);
      this.redis.on('ready', done);
      this.redis.on('close', done);
    });
  }

  private ready(): boolean {
    return this.redis.status === 'ready';
  }

  private async beat(): Promise<void> {
    if (!this.ready()) return;
    await this.redis.set(INSTANCE_PREFIX + this.instance, '1', 'PX', HEARTBEAT_TTL_MS).catch(() => {});
  }

  private failed(err: unknown): void {
    if ((err as Error)?.name === 'ReplyError') {
      this.log.error(`zones: Redis at ${this.address} refused a check: ${(err as Error).message}`);
      return;
    }
    this.unreachable((err as Error)?.message ?? String(err));
  }

  /** The outage, said once until Redis is back. */
  private unreachable(reason: string): void {
    if (this.down || !this.started) return;
    this.down = true;
    this.log.error(`zones: Redis at ${this.address} unreachable (${reason}); limiting in this gateway only`);
  }
}
