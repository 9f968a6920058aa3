/**
 * `ssl_session_cache off | none | [builtin[:size]] [shared:name:size]`: where TLS sessions are
 * kept for resumption by session id. `shared` is a shared memory dictionary every worker maps
 * (the master creates it as it does `lua_shared_dict`'s, so a session one worker made resumes on
 * another); `builtin` is this worker's own table of at most `size` sessions (20480).
 */
import type { SharedDict } from '../../types';
import { parseSize } from '../../config/values';

/** The `ssl_session_cache` of a block. */
export interface SessionCacheConf {
  /** `off`: clients are told sessions are not reused; `none` (the default): they are told, but nothing is kept. */
  readonly mode: 'off' | 'none' | 'on';
  /** `builtin[:size]`: the number of sessions this worker keeps, null without `builtin`. */
  readonly builtin: number | null;
  /** `shared:name:size`. */
  readonly shared: { readonly name: string; readonly size: number } | null;
}

export const NO_SESSION_CACHE: SessionCacheConf = { mode: 'none', builtin: null, shared: null };

/** nginx's default number of sessions in a builtin cache. */
const DEFAULT_BUILTIN_SESSIONS = 20480;
/** nginx refuses a shared zone smaller than 8 pages. */
const MIN_SHARED_SIZE = 8 * 4096;

/** The shared dictionary name a session cache zone gets (apart from `lua_shared_dict` names). */
export function sessionDictName(zone: string): string {
  return `ssl_session_cache:${zone}`;
}

/** Parses the words of `ssl_session_cache` as nginx does; throws nginx's line for a bad one. */
export function parseSessionCache(args: readonly string[]): SessionCacheConf {
  let builtin: number | null = null;
  let shared: SessionCacheConf['shared'] = null;
  for (const arg of args) {
    if (arg === 'off' || arg === 'none') {
      if (args.length !== 1) throw new Error(`invalid session cache "${arg}"`);
      return { mode: arg, builtin: null, shared: null };
    }
    if (arg === 'builtin') {
      builtin = DEFAULT_BUILTIN_SESSIONS;
      continue;
    }
    const sized = /^builtin:(\d+)$/.exec(arg);
    if (sized) {
      builtin = Number(sized[1]);
      if (!Number.isSafeInteger(builtin) || builtin === 0) throw new Error(`invalid session cache "${arg}"`);
      continue;
    }
    const zone = /^shared:([^:]+):(.+)$/.exec(arg);
    if (!zone) throw new Error(`invalid session cache "${arg}"`);
    let size: number;
    try {
      size = parseSize(zone[2]);
    } catch {
      throw new Error(`invalid session cache "${arg}"`);
    }
    if (size < MIN_SHARED_SIZE) throw new Error(`session cache "${arg}" is too small`);
    shared = { name: zone[1], size };
  }
  return { mode: 'on', builtin, shared };
}

/** Where one listener keeps sessions: `get` and `set` by session id. */
export interface SessionStore {
  get(id: Buffer): Buffer | null;
  set(id: Buffer, session: Buffer): void;
}

/** A shared session cache: base64 values in a shared dictionary, expiring after `ssl_session_timeout`. */
export class SharedSessionStore implements SessionStore {
  constructor(
    private readonly dict: SharedDict,
    private readonly timeoutSeconds: number,
  ) {}

  get(id: Buffer): Buffer | null {
    const value = this.dict.get(id.toString('hex'));
    return typeof value === 'string' ? Buffer.from(value, 'base64') : null;
  }

  set(id: Buffer, session: Buffer): void {
    // A full zone evicts its least recently used sessions, as nginx's does.
    this.dict.set(id.toString('hex'), session.toString('base64'), this.timeoutSeconds);
  }
}

/** A builtin session cache: this worker's own, at most `capacity` sessions, oldest out first. */
export class BuiltinSessionStore implements SessionStore {
  private readonly sessions = new Map<string, { session: Buffer; expires: number }>();

  constructor(
    private readonly capacity: number,
    private readonly timeoutSeconds: number,
  ) {}

  get(id: Buffer): Buffer | null {
    const key = id.toString('hex');
    const entry = this.sessions.get(key);
    if (!entry) return null;
    if (entry.expires <= Date.now()) {
      this.sessions.delete(key);
      return null;
    }
    return entry.session;
  }

  set(id: Buffer, session: Buffer): void {
    const key = id.toString('hex');
    this.sessions.delete(key);
    this.sessions.set(key, { session, expires: Date.now() + this.timeoutSeconds * 1000 });
    if (this.sessions.size > this.capacity) this.sessions.delete(this.sessions.keys().next().value as string);
  }
}

/** With both `builtin` and `shared`, nginx looks in the builtin cache first, then the shared one. */
export class LayeredSessionStore implements SessionStore {
  constructor(private readonly layers: readonly SessionStore[]) {}

  get(id: Buffer): Buffer | null {
    for (const layer of this.layers) {
      const found = layer.get(id);
      if (found) return found;
    }
    return null;
  }

  set(id: Buffer, session: Buffer): void {
    for (const layer of this.layers) layer.set(id, session);
  }
}
