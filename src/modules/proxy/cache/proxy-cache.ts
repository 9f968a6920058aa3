/**
 * A proxy location's cache, the flow of nginx's ngx_http_upstream_cache: which zone
 * (`proxy_cache`, variables allowed), whether the method is cached, the key, `proxy_cache_bypass`,
 * then the entry on disk: fresh (HIT), expired (EXPIRED: fetched again, revalidated with
 * If-Modified-Since / If-None-Match under `proxy_cache_revalidate`, a 304 making it
 * REVALIDATED; or served as it is while another request updates it, UPDATING, or in the
 * background), absent (MISS, one fetch per key under `proxy_cache_lock`), or served though old
 * when the upstream fails as `proxy_cache_use_stale` says (STALE). What comes back is stored
 * when nginx would store it (`validity.ts`, `proxy_no_cache`, `proxy_cache_min_uses`).
 * `$upstream_cache_status` says which. A fresh entry the worker keeps in memory (`memory.ts`)
 * is answered in the same turn, its header lines prepared once (`prepared-head.ts`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../../../errors';
import { compileValue, type CompiledValue } from '../../../http/variables';
import type { Logger, RequestContext } from '../../../types';
import { conditionOf } from '../balance';
import type { BodySink, ResponseTap } from '../exchange';
import type { HeaderLine } from '../headers';
import { headerOf, varyMatches, varyValues, type EntryMeta } from './entry';
import { keyHash } from './key';
import { preparedHeadOf, setPreparedHead } from './prepared-head';
import type { CachePathConf, CacheValid, ProxyCacheConf } from './module';
import type { CachedEntry } from './entry';
import type { EntryWriter } from './store';
import { validFor, validityOf } from './validity';
import { zoneOf, type CacheZone, type Update } from './zone';
import { detachedResponse } from './detached-response';
import { failsPrecondition, isNotModified, NOT_MODIFIED_DROPPED } from './not-modified';

/** A location's cache options, compiled at load. */
export interface CacheOptions {
  readonly zones: ReadonlyMap<string, CachePathConf>;
  readonly zone: CompiledValue;
  /** `proxy_cache_key`, or null: nginx's built-in key (CacheHost.defaultKey). */
  readonly key: CompiledValue | null;
  readonly valid: readonly CacheValid[];
  readonly methods: ReadonlySet<string>;
  readonly minUses: number;
  readonly bypass: readonly CompiledValue[];
  readonly noCache: readonly CompiledValue[];
  readonly useStale: ReadonlySet<string>;
  readonly backgroundUpdate: boolean;
  readonly lock: boolean;
  readonly lockTimeout: number;
  readonly lockAge: number;
  readonly revalidate: boolean;
  readonly convertHead: boolean;
  readonly ignored: readonly string[];
}

/** The request headers nginx blanks upstream when a location caches (ngx_http_proxy_cache_headers), besides its usual ones. */
export const CACHE_BLANKED_HEADERS = ['If-Modified-Since', 'If-Unmodified-Since', 'If-None-Match', 'If-Match', 'Range', 'If-Range'];

/** The options of a location whose `proxy_cache` is not `off`, else null. Throws on a value that does not compile. */
export function compileCacheOptions(conf: ProxyCacheConf, captureNames: ReadonlySet<string>): CacheOptions | null {
  if (conf.proxyCache === null) return null;
  const compile = (v: string) => compileValue(v, captureNames);
  return {
    zones: conf.cachePaths,
    zone: compile(conf.proxyCache),
    key: conf.proxyCacheKey === null ? null : compile(conf.proxyCacheKey),
    valid: conf.proxyCacheValid,
    methods: new Set(conf.proxyCacheMethods),
    minUses: conf.proxyCacheMinUses,
    bypass: conf.proxyCacheBypass.map(compile),
    noCache: conf.proxyNoCache.map(compile),
    useStale: new Set(conf.proxyCacheUseStale),
    backgroundUpdate: conf.proxyCacheBackgroundUpdate,
    lock: conf.proxyCacheLock,
    lockTimeout: conf.proxyCacheLockTimeout,
    lockAge: conf.proxyCacheLockAge,
    revalidate: conf.proxyCacheRevalidate,
    convertHead: conf.proxyCacheConvertHead,
    ignored: conf.proxyIgnoreHeaders,
  };
}

/** How one upstream fetch is made (by the proxy handler). */
export interface ForwardPlan {
  readonly res: ServerResponse;
  readonly tap: ResponseTap | null;
  /** The method sent upstream instead of the client's (HEAD fetched as GET), or null. */
  readonly method: string | null;
  /** Header lines sent upstream besides the location's (the validators of a revalidation). */
  readonly extraHeaders: readonly HeaderLine[];
  /** Read the response to its end even if the client leaves (a background update, or `proxy_ignore_client_abort`). */
  readonly detached: boolean;
}

/** What the proxy handler lends the cache: a fetch, and how an upstream header becomes the client's. */
export interface CacheHost {
  forward(plan: ForwardPlan): Promise<void>;
  /** The header lines the client gets of an upstream's before any per-request rewriting (the location's hidden ones dropped): the same for every request of the location. */
  visibleLines(raw: readonly string[]): readonly HeaderLine[];
  /** Those lines as this request rewrites them (`proxy_redirect`, `proxy_cookie_*`): `lines` itself when nothing changes. */
  rewriteLines(lines: readonly HeaderLine[]): readonly HeaderLine[];
  /** The names (lower case) of the lines `rewriteLines` may change, the same for every request of the location: lines without them need no rewriting. */
  readonly rewrittenNames: ReadonlySet<string>;
  /**
   * nginx's key where no `proxy_cache_key` is set (ngx_http_proxy_create_key): the upstream
   * URL, the `proxy_pass` scheme as written, `$proxy_host` and the URI sent upstream
   * (`http://backend/a?b`), not the documented `$scheme$proxy_host$request_uri`.
   */
  defaultKey(): string;
  /** Acts on a stored header's `X-Accel-Limit-Rate` and `X-Accel-Charset`, as nginx reads a cached header again on a hit. */
  applyAccel(raw: readonly string[]): void;
}

/** Whether any of `values` is set (not empty, not "0"): nginx's test of `proxy_cache_bypass` and `proxy_no_cache`. */
function anySet(values: readonly CompiledValue[], ctx: RequestContext): boolean {
  return values.some((v) => {
    const s = ctx.evaluate(v);
    return s !== '' && s !== '0';
  });
}

/** One location's cache. */
export class ProxyCache {
  constructor(
    private readonly options: CacheOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Serves one request through the cache, or straight through when it is not cached. A fresh
   * entry kept in memory, asked for without conditions, is answered in this turn (no promise);
   * everything else takes the flow below.
   */
  serve(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, host: CacheHost, ignoreClientAbort: boolean): void | Promise<void> {
    const o = this.options;
    const name = o.zone.constant ?? ctx.evaluate(o.zone);
    const conf = o.zones.get(name);
    if (!conf) {
      if (name === '') return host.forward({ res, tap: null, method: null, extraHeaders: [], detached: ignoreClientAbort });
      ctx.log.error(`cache "${name}" not found`);
      return Promise.reject(new HttpError(500, 'GW_CACHE_UNKNOWN', `cache "${name}" not found`));
    }
    if (!o.methods.has(req.method ?? 'GET')) return host.forward({ res, tap: null, method: null, extraHeaders: [], detached: ignoreClientAbort });
    const zone = zoneOf(conf, this.log);
    const key = o.key ? ctx.evaluate(o.key) : host.defaultKey();
    const hash = zone.hashOf(key);
    if (anySet(o.bypass, ctx)) return new CacheFlow(o, zone, key, hash, req, res, ctx, host, ignoreClientAbort).fetch('BYPASS', null, true, null);
    const now = Date.now();
    const kept = zone.store.readNow(hash, key, now);
    if (kept !== null && kept.meta.validUntil > now && this.answerNow(kept, zone, hash, req, res, ctx, host)) return;
    return this.lookup(new CacheFlow(o, zone, key, hash, req, res, ctx, host, ignoreClientAbort), zone, hash);
  }

  /**
   * Answers a HIT of `entry` (fresh, kept in memory, the key's own entry) in this turn, its
   * header lines prepared once for this location: true when it did; false when the request's
   * Vary values or conditions (a 304, a 412) leave it to the flow's `answer`.
   */
  private answerNow(entry: CachedEntry, zone: CacheZone, hash: string, req: IncomingMessage, res: ServerResponse, ctx: RequestContext, host: CacheHost): boolean {
    const { meta } = entry;
    const headers = req.headers;
    if ((meta.vary.length !== 0 && !varyMatches(meta, headers)) || failsPrecondition(meta.status, headers, meta.etag, meta.lastModified) || isNotModified(meta.status, headers, meta.etag, meta.lastModified)) return false;
    const head = preparedHeadOf(entry, this, () => host.visibleLines(meta.headers), host.rewrittenNames);
    if (head === null) return false;
    const lines = head.rewritable ? host.rewriteLines(head.lines) : head.lines;
    ctx.setVariable('upstream_cache_status', 'HIT');
    ctx.upstreamHeaders = meta.headers;
    zone.read(hash);
    host.applyAccel(meta.headers);
    if (head.server) res.removeHeader('server');
    if (lines === head.lines) setPreparedHead(res, head);
    else for (const [name, value] of lines) res.appendHeader(name, value);
    res.writeHead(meta.status, meta.reason || undefined);
    res.end(entry.body);
    return true;
  }

  /** The flow of a request not answered from memory: the entry on disk, fresh, expired or absent. */
  private async lookup(flow: CacheFlow, zone: CacheZone, hash: string): Promise<void> {
    const o = this.options;
    const res = flow.res;
    let entry = await flow.lookup();
    const now = Date.now();
    if (entry && entry.meta.validUntil > now) return flow.answer(entry, 'HIT');
    if (entry) {
      if (o.useStale.has('updating') && (await zone.updating(hash, o.lockAge))) return flow.answer(entry, 'UPDATING');
      const update = await zone.begin(hash, o.lockAge);
      if (!update && o.useStale.has('updating')) return flow.answer(entry, 'UPDATING');
      if (update && o.backgroundUpdate && o.useStale.has('updating')) {
        flow.background(entry, update);
        // nginx: the request that starts a background update is served the old entry as STALE.
        return flow.answer(entry, 'STALE');
      }
      return flow.fetch('EXPIRED', entry, true, update);
    }
    const mayStore = zone.use(hash) >= o.minUses;
    let update: Update | null = null;
    if (o.lock && mayStore) {
      const waitUntil = Date.now() + o.lockTimeout;
      for (;;) {
        update = await zone.begin(hash, o.lockAge);
        if (update) break;
        const local = zone.localUpdate(hash);
        const left = waitUntil - Date.now();
        if (left <= 0) break;
        await Promise.race([local?.done ?? Promise.resolve(), delay(Math.min(left, local ? left : 25))]);
        entry = await flow.lookup();
        if (entry && entry.meta.validUntil > Date.now()) return flow.answer(entry, 'HIT');
        if (res.destroyed) throw new HttpError(499, 'GW_CLIENT_CLOSED');
      }
      // nginx: past proxy_cache_lock_timeout the request goes to the upstream, its response not stored.
      if (!update) return flow.fetch('MISS', null, false, null);
      // The lock may have been let go by a fetch that just stored the entry.
      entry = await flow.lookup();
      if (entry && entry.meta.validUntil > Date.now()) {
        update.release();
        return flow.answer(entry, 'HIT');
      }
    } else if (mayStore) {
      update = await zone.begin(hash, o.lockAge);
    }
    return flow.fetch('MISS', null, mayStore, update);
  }
}

/** The secondary hash of a variant: the key's hash and the request values it varies on (nginx's c->variant). */
function variantHash(hash: string, vary: readonly (readonly [string, string])[]): string {
  return keyHash(`${hash}\n${vary.map(([name, value]) => `${name}:${value}\r\n`).join('')}`);
}

/** The same sink, its response answered 304 to the client (the body still read into the entry). */
function notModifiedSink(sink: EntryWriter): BodySink {
  return { write: (chunk) => sink.write(chunk), end: () => sink.end(), abort: () => sink.abort(), notModified: true };
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** One request's way through the cache. */
class CacheFlow {
  /**
   * The hash the entry is read and written under: the key's, or, once the key's entry varies
   * on other request values than this request's, the secondary one of its variant (nginx's
   * c->variant), so each variant has its own file.
   */
  private entryHash: string;
  /** Whether `entryHash` is the secondary (variant) one. */
  private secondary = false;

  constructor(
    private readonly o: CacheOptions,
    private readonly zone: CacheZone,
    private readonly key: string,
    private readonly hash: string,
    private readonly req: IncomingMessage,
    readonly res: ServerResponse,
    private readonly ctx: RequestContext,
    private readonly host: CacheHost,
    private readonly ignoreClientAbort: boolean,
  ) {
    this.entryHash = hash;
  }

  /**
   * The entry on disk for this key and this request's Vary values, or null: the key's own
   * entry, else (it varies on values this request does not have) its variant's.
   */
  async lookup(): Promise<CachedEntry | null> {
    this.entryHash = this.hash;
    this.secondary = false;
    const entry = await this.zone.store.read(this.hash, this.key);
    if (!entry) return null;
    if (varyMatches(entry.meta, this.req.headers)) return entry;
    this.entryHash = variantHash(this.hash, varyValues(entry.meta.vary.map(([n]) => n), this.req.headers));
    this.secondary = true;
    const variant = await this.zone.store.read(this.entryHash, this.key);
    return variant && varyMatches(variant.meta, this.req.headers) ? variant : null;
  }

  /** Fetches from the upstream, copying what may be stored; `entry` (expired) is revalidated or served stale as configured. */
  async fetch(status: string, entry: CachedEntry | null, mayStore: boolean, update: Update | null, res = this.res, detached = this.ignoreClientAbort): Promise<void> {
    const { o, ctx } = this;
    if (res === this.res) ctx.setVariable('upstream_cache_status', status);
    let diverted = null as 'revalidated' | 'stale' | 'precondition' | null;
    let revalidatedHeaders: readonly string[] = [];
    const validators: HeaderLine[] = [];
    let written: Promise<void> | null = null;
    if (entry && o.revalidate) {
      if (entry.meta.lastModified) validators.push(['If-Modified-Since', entry.meta.lastModified]);
      if (entry.meta.etag) validators.push(['If-None-Match', entry.meta.etag]);
    }
    const tap: ResponseTap = {
      onHeader: (code, raw, reason) => {
        if (entry && validators.length && code === 304) {
          diverted = 'revalidated';
          revalidatedHeaders = raw;
          return 'divert';
        }
        if (entry && o.useStale.has(`http_${code}`)) {
          diverted = 'stale';
          return 'divert';
        }
        if (!mayStore || anySet(o.noCache, ctx)) return null;
        const sink = this.sink(code, raw, reason);
        if (!sink) return null;
        // nginx's not-modified filter runs on a response being stored (u->cacheable), for the client only.
        const etag = headerOf(raw, 'etag');
        const lastModified = headerOf(raw, 'last-modified');
        if (failsPrecondition(code, this.req.headers, etag, lastModified)) {
          sink.abort();
          diverted = 'precondition';
          return 'divert';
        }
        written = sink.done;
        return isNotModified(code, this.req.headers, etag, lastModified) ? notModifiedSink(sink) : sink;
      },
    };
    const method = o.convertHead && this.req.method === 'HEAD' ? 'GET' : null;
    try {
      await this.host.forward({ res, tap, method, extraHeaders: validators, detached });
    } catch (err) {
      const condition = conditionOf(err);
      if (entry && condition && !condition.startsWith('http_') && o.useStale.has(condition) && res === this.res && !res.headersSent) diverted = 'stale';
      else throw err;
    } finally {
      // The other requests waiting for this key look again once the entry is in place.
      if (update) void Promise.resolve(written).then(() => update.release());
    }
    if (res !== this.res) return;
    if (diverted === 'revalidated') return this.revalidated(entry!, revalidatedHeaders);
    if (diverted === 'stale') return this.answer(entry!, 'STALE');
    if (diverted === 'precondition') throw new HttpError(412, 'GW_HTTP_412', 'precondition failed on a response being cached');
  }

  /** Updates an expired entry behind the response that serves it (`proxy_cache_background_update`). */
  background(entry: CachedEntry, update: Update): void {
    void this.fetch('UPDATING', entry, true, update, detachedResponse(), true).catch(() => {});
  }

  /** A 304 to a revalidation: the entry is fresh again (as the 304's headers or `proxy_cache_valid` say) and served. */
  private async revalidated(entry: CachedEntry, raw: readonly string[]): Promise<void> {
    const now = Date.now();
    const validity = validityOf(entry.meta.status, raw, this.o.valid, this.o.ignored, now);
    const ms = validFor(this.o.valid, entry.meta.status);
    const validUntil = validity.store ? validity.validUntil : ms ? now + ms : 0;
    if (validUntil) await this.zone.store.rewrite(this.entryHash, entry, { ...entry.meta, validUntil, storedAt: now });
    return this.answer(entry, 'REVALIDATED');
  }

  /** The copy of a response to store, or null when nginx would not store it. */
  private sink(status: number, raw: readonly string[], reason: string): EntryWriter | null {
    const now = Date.now();
    const validity = validityOf(status, raw, this.o.valid, this.o.ignored, now);
    if (!validity.store) return null;
    const meta: EntryMeta = {
      key: this.key,
      status,
      reason,
      headers: raw,
      validUntil: validity.validUntil,
      storedAt: now,
      lastModified: headerOf(raw, 'last-modified'),
      etag: headerOf(raw, 'etag'),
      vary: varyValues(validity.vary, this.req.headers),
    };
    this.zone.stored(this.hash);
    // nginx (ngx_http_file_cache_update_variant): a response stored after a secondary lookup
    // stays under the variant's hash only if it varies as that variant does; else the key's.
    const own = variantHash(this.hash, meta.vary);
    const where = this.secondary && meta.vary.length && own === this.entryHash ? this.entryHash : this.hash;
    return this.zone.store.writer(where, meta);
  }

  /** Serves an entry from the cache. */
  async answer(entry: CachedEntry, status: string): Promise<void> {
    const { res, ctx } = this;
    ctx.setVariable('upstream_cache_status', status);
    ctx.upstreamHeaders = entry.meta.headers;
    this.zone.read(this.entryHash);
    this.host.applyAccel(entry.meta.headers);
    if (failsPrecondition(entry.meta.status, this.req.headers, entry.meta.etag, entry.meta.lastModified)) throw new HttpError(412, 'GW_HTTP_412', 'precondition failed on a cached response');
    const lines = this.host.rewriteLines(this.host.visibleLines(entry.meta.headers));
    if (lines.some(([name]) => name.toLowerCase() === 'server')) res.removeHeader('server');
    if (isNotModified(entry.meta.status, this.req.headers, entry.meta.etag, entry.meta.lastModified)) {
      for (const [name, value] of lines) if (!NOT_MODIFIED_DROPPED.has(name.toLowerCase())) res.appendHeader(name, value);
      res.writeHead(304);
      await new Promise<void>((resolve) => res.end(() => resolve()));
      return;
    }
    for (const [name, value] of lines) res.appendHeader(name, value);
    res.writeHead(entry.meta.status, entry.meta.reason || undefined);
    if (entry.body) {
      await new Promise<void>((resolve) => res.end(entry.body, () => resolve()));
      return;
    }
    await new Promise<void>((resolve) => {
      const stream = entry.stream();
      const done = () => resolve();
      stream.on('error', () => {
        res.destroy();
        done();
      });
      res.once('close', () => {
        stream.destroy();
        done();
      });
      res.once('finish', done);
      stream.pipe(res);
    });
  }
}
