/**
 * nginx's proxy cache directives (ngx_http_proxy_module's `proxy_cache*` and
 * ngx_http_file_cache's `proxy_cache_path`), read and checked as nginx reads them. The zones
 * `proxy_cache_path` declares are the http block's; everything else inherits downwards.
 */
import path from 'node:path';
import { argsOf, flag, integer, occurrences, one, timerTime, type ParseContext } from '../../../config/args';
import type { ConfNode } from '../../../config/load';
import { INHERITED, row, type ConfModule } from '../../../config/module';
import { parseSize, parseTime } from '../../../config/values';
import { compileValue } from '../../../http/variables';
import { parseZoneArg } from '../../../shared/zones/zone-args';

/** One `proxy_cache_path`: where a zone's entries live and how the manager keeps it. */
export interface CachePathConf {
  readonly name: string;
  /** The directory (absolute). */
  readonly dir: string;
  /** `levels=1:2`: the lengths of the subdirectory names, taken from the end of the md5. */
  readonly levels: readonly number[];
  /** `keys_zone=name:size`: the size, in bytes (nginx: about 8000 keys per megabyte). */
  readonly zoneSize: number;
  /** `inactive`, ms: an entry not read that long is removed (nginx's default 10m). */
  readonly inactive: number;
  /** `max_size`, bytes (0: no limit): past it the least recently used entries go. */
  readonly maxSize: number;
  /** `use_temp_path` (a file is always written beside its entry here, then renamed). */
  readonly useTempPath: boolean;
  /** `manager_sleep`, ms: the pause between the manager's passes. */
  readonly managerSleep: number;
}

/** `proxy_cache_valid`: a validity per status (`any` is status 0). */
export interface CacheValid {
  readonly statuses: readonly number[];
  readonly ms: number;
}

/** What `proxy_cache_use_stale` may name. */
export const USE_STALE = ['error', 'timeout', 'invalid_header', 'updating', 'http_500', 'http_502', 'http_503', 'http_504', 'http_403', 'http_404', 'http_429'] as const;
export type UseStale = (typeof USE_STALE)[number];

/** What `proxy_ignore_headers` may name. */
export const IGNORABLE = ['X-Accel-Redirect', 'X-Accel-Expires', 'X-Accel-Limit-Rate', 'X-Accel-Buffering', 'X-Accel-Charset', 'Expires', 'Cache-Control', 'Set-Cookie', 'Vary'] as const;

/** The cache module's conf of a block. */
export interface ProxyCacheConf {
  /** `proxy_cache_path` zones by name (http). */
  readonly cachePaths: ReadonlyMap<string, CachePathConf>;
  /** `proxy_cache`: a zone's name (may hold variables), or null for `off`. */
  readonly proxyCache: string | null;
  /** `proxy_cache_key`, or null where none is set: nginx's built-in key then, the upstream URL (see CacheHost.defaultKey). */
  readonly proxyCacheKey: string | null;
  readonly proxyCacheValid: readonly CacheValid[];
  /** `proxy_cache_methods` (GET and HEAD always). */
  readonly proxyCacheMethods: readonly string[];
  readonly proxyCacheMinUses: number;
  /** `proxy_cache_bypass` values: any not empty and not "0" bypasses. */
  readonly proxyCacheBypass: readonly string[];
  /** `proxy_no_cache` values: any not empty and not "0" keeps the response out of the cache. */
  readonly proxyNoCache: readonly string[];
  readonly proxyCacheUseStale: readonly UseStale[];
  readonly proxyCacheBackgroundUpdate: boolean;
  readonly proxyCacheLock: boolean;
  readonly proxyCacheLockTimeout: number;
  readonly proxyCacheLockAge: number;
  readonly proxyCacheRevalidate: boolean;
  readonly proxyCacheConvertHead: boolean;
  /** `proxy_ignore_headers`, lower case. */
  readonly proxyIgnoreHeaders: readonly string[];
}

/** `proxy_cache_path path [levels=] keys_zone=name:size [inactive=] [max_size=] ...`, nginx's checks and words. */
function cachePath(node: ConfNode, cx: ParseContext, name: string): Map<string, CachePathConf> {
  const zones = new Map<string, CachePathConf>();
  for (const n of occurrences(node)) {
    const args = argsOf(n, cx, true);
    if (args.length < 2) cx.fail(`invalid number of arguments in "${name}" directive`, n);
    const conf = { name: '', dir: path.resolve(cx.prefix, args[0]), levels: [] as number[], zoneSize: 0, inactive: 600_000, maxSize: 0, useTempPath: true, managerSleep: 50 };
    for (const arg of args.slice(1)) {
      const eq = arg.indexOf('=');
      const key = eq < 0 ? arg : arg.slice(0, eq);
      const value = arg.slice(eq + 1);
      const bad = (): never => cx.fail(`invalid ${key} value "${arg}"`, n);
      switch (key) {
        case 'levels': {
          const parts = value.split(':');
          if (parts.length > 3 || parts.some((p) => p !== '1' && p !== '2')) cx.fail(`invalid "levels" "${arg}"`, n);
          conf.levels = parts.map(Number);
          break;
        }
        case 'use_temp_path':
          if (value !== 'on' && value !== 'off') cx.fail(`invalid use_temp_path value "${arg}", it must be "on" or "off"`, n);
          conf.useTempPath = value === 'on';
          break;
        case 'keys_zone':
          try {
            const zone = parseZoneArg(`zone=${value}`);
            conf.name = zone.name;
            conf.zoneSize = zone.size;
          } catch {
            cx.fail(`invalid keys zone size "${arg}"`, n);
          }
          if (!conf.name) cx.fail(`invalid keys zone size "${arg}"`, n);
          break;
        case 'inactive':
          conf.inactive = sizeOrTime(() => parseTime(value), bad);
          break;
        case 'max_size':
          conf.maxSize = sizeOrTime(() => parseSize(value), bad);
          break;
        case 'manager_sleep':
          conf.managerSleep = sizeOrTime(() => parseTime(value), bad);
          break;
        case 'min_free':
        case 'loader_files':
        case 'manager_files':
        case 'loader_sleep':
        case 'loader_threshold':
        case 'manager_threshold':
          if (eq < 0 || !value) bad();
          break;
        default:
          cx.fail(`invalid parameter "${arg}"`, n);
      }
    }
    if (!conf.name) cx.fail(`"${name}" must have "keys_zone" parameter`, n);
    if (zones.has(conf.name)) cx.fail(`duplicate zone "${conf.name}"`, n);
    zones.set(conf.name, conf);
  }
  return zones;
}

function sizeOrTime(parse: () => number, bad: () => never): number {
  try {
    return parse();
  } catch {
    return bad();
  }
}

/** `proxy_cache zone|off`; the zone may hold variables. */
function proxyCache(node: ConfNode, cx: ParseContext, name: string): string | null {
  const value = one(node, cx, name, true);
  if (value === 'off') return null;
  checkValue(value, node, cx);
  return value;
}

function checkValue(value: string, node: ConfNode, cx: ParseContext): void {
  try {
    compileValue(value, cx.captureNames);
  } catch (err) {
    cx.fail((err as Error).message, node);
  }
}

/** `proxy_cache_valid [code ...] time` (codes default to 200 301 302; `any`). */
function cacheValid(node: ConfNode, cx: ParseContext, name: string): CacheValid[] {
  return occurrences(node).map((n) => {
    const args = argsOf(n, cx);
    if (args.length < 1) cx.fail(`invalid number of arguments in "${name}" directive`, n);
    let ms: number;
    try {
      ms = parseTime(args[args.length - 1]);
    } catch {
      return cx.fail(`invalid time value "${args[args.length - 1]}"`, n);
    }
    const codes = args.slice(0, -1);
    if (codes.length === 0) return { statuses: [200, 301, 302], ms };
    const statuses = codes.map((c) => {
      if (c === 'any') return 0;
      const code = /^\d+$/.test(c) ? Number(c) : -1;
      if (code < 100 || code > 599) cx.fail(`invalid status "${c}"`, n);
      return code;
    });
    return { statuses, ms };
  });
}

/** A list of words, each one of `allowed`, or `off` alone (an empty list). */
function words<T extends string>(allowed: readonly T[], lower = true) {
  return (node: ConfNode, cx: ParseContext, name: string): T[] => {
    const args = argsOf(node, cx, true);
    if (args.length === 0) cx.fail(`invalid number of arguments in "${name}" directive`, node);
    if (args.length === 1 && args[0] === 'off') return [];
    return args.map((a) => {
      const found = allowed.find((w) => (lower ? w.toLowerCase() === a.toLowerCase() : w === a));
      if (!found) cx.fail(`invalid value "${a}" in "${name}" directive`, node);
      return found;
    });
  };
}

/** Values with variables, all occurrences together (`proxy_cache_bypass`, `proxy_no_cache`). */
function conditions(node: ConfNode, cx: ParseContext): string[] {
  return occurrences(node).flatMap((n) => {
    const args = argsOf(n, cx);
    for (const arg of args) checkValue(arg, n, cx);
    return args;
  });
}

const METHODS = ['GET', 'HEAD', 'POST'] as const;

export const proxyCacheModule: ConfModule<ProxyCacheConf> = {
  name: 'proxy-cache',
  directives: {
    proxy_cache_path: row(['http'], cachePath, { field: 'cachePaths', multiple: true }),
    proxy_cache: row(INHERITED, proxyCache),
    proxy_cache_key: row(INHERITED, (node, cx, name) => {
      const value = one(node, cx, name);
      checkValue(value, node, cx);
      return value;
    }),
    proxy_cache_valid: row(INHERITED, cacheValid, { multiple: true }),
    proxy_cache_methods: row(INHERITED, (node, cx, name) => [...new Set(['GET', 'HEAD', ...words(METHODS, false)(node, cx, name)])]),
    proxy_cache_min_uses: row(INHERITED, integer(1, 1_000_000)),
    proxy_cache_bypass: row(INHERITED, conditions, { multiple: true }),
    proxy_no_cache: row(INHERITED, conditions, { multiple: true }),
    proxy_cache_use_stale: row(INHERITED, words(USE_STALE)),
    proxy_cache_background_update: row(INHERITED, flag),
    proxy_cache_lock: row(INHERITED, flag),
    proxy_cache_lock_timeout: row(INHERITED, timerTime),
    proxy_cache_lock_age: row(INHERITED, timerTime),
    proxy_cache_revalidate: row(INHERITED, flag),
    proxy_cache_convert_head: row(INHERITED, flag),
    proxy_ignore_headers: row(INHERITED, (node, cx, name) => words(IGNORABLE)(node, cx, name).map((h) => h.toLowerCase())),
    // Accepted as nginx's, with no effect here: the gateway does not serve ranges from the cache by offset.
    proxy_cache_max_range_offset: row(INHERITED, (node, cx, name) => one(node, cx, name)),
  },
  defaults: () => ({
    cachePaths: new Map(),
    proxyCache: null,
    proxyCacheKey: null,
    proxyCacheValid: [],
    proxyCacheMethods: ['GET', 'HEAD'],
    proxyCacheMinUses: 1,
    proxyCacheBypass: [],
    proxyNoCache: [],
    proxyCacheUseStale: [],
    proxyCacheBackgroundUpdate: false,
    proxyCacheLock: false,
    proxyCacheLockTimeout: 5000,
    proxyCacheLockAge: 5000,
    proxyCacheRevalidate: false,
    proxyCacheConvertHead: true,
    proxyIgnoreHeaders: [],
  }),
  /** nginx: a zone `proxy_cache` names without variables must be declared by a `proxy_cache_path`. */
  check(conf, own, block, fail) {
    const zone = own.proxyCache;
    if (zone && !zone.includes('$') && !conf.cachePaths.has(zone)) fail(`"proxy_cache" zone "${zone}" is unknown`, block.at('proxy_cache'));
  },
};
