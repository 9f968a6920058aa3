/**
 * TCP keepalive on accepted sockets, as nginx's `listen ... so_keepalive=on|off|idle:intvl:cnt`
 * sets it: SO_KEEPALIVE plus TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT, where an empty field
 * keeps the system's value (`/proc/sys/net/ipv4/tcp_keepalive_*` on Linux).
 *
 * Node 20's `socket.setKeepAlive(true, ms)` cannot do this: it always forces TCP_KEEPINTVL=1
 * and TCP_KEEPCNT=10. So the strategy is chosen once, at module load (see `keepaliveStrategy`):
 *
 * - `setKeepAlive4`: the runtime's `setKeepAlive(enable, idleMs, intervalMs, count)` (Node
 *   >= 24.19 on the 24 line, >= 26.4 after). It cannot leave a field at the system's value
 *   (a missing interval or count means 1s or 10), so a setting with an empty field goes
 *   through `setsockopt` below when it is available, else through the fallback.
 * - `setsockopt`: on Linux, `setsockopt(2)` through koffi on the socket's file descriptor.
 * - `setKeepAlive2`: anything else (koffi or libc missing, not Linux). Uses
 *   `setKeepAlive(enable, idleMs)`, exact for `on` and `off`; for anything more it warns once
 *   that interval and count are not as configured (Node forces 1s and 10 with an idle time).
 *
 * A socket without a TCP file descriptor (a unix socket, a TLS socket over a JS stream) gets
 * `setKeepAlive` too (a no-op on unix sockets) and one warning that so_keepalive is ignored.
 * koffi comes through `shared/native.ts`.
 *
 * Do not also turn on Node's own `keepAlive` server option: Node would later call
 * `setKeepAlive` itself and overwrite interval and count.
 */
import type * as net from 'node:net';
import { constants as osConstants } from 'node:os';
import type { SoKeepalive } from '../config/values';
import { loadKoffi, type Koffi } from '../shared/native';

/** How keepalive settings reach the kernel; see the module comment. */
export type KeepaliveStrategy = 'setKeepAlive4' | 'setsockopt' | 'setKeepAlive2';

/** Keepalive settings of one socket, as the kernel reports them (times in seconds). */
export interface KeepaliveState {
  readonly enabled: boolean;
  readonly idle: number;
  readonly interval: number;
  readonly count: number;
}

const SOL_SOCKET = 1;
const SO_KEEPALIVE = 9;
const IPPROTO_TCP = 6;
const TCP_KEEPIDLE = 4;
const TCP_KEEPINTVL = 5;
const TCP_KEEPCNT = 6;

/** The two libc calls we need, with koffi's marshalling hidden. */
interface Libc {
  /** Sets one int option; returns 0, or the errno of the failure. */
  setInt(fd: number, level: number, name: number, value: number): number;
  /** Reads one int option; throws on failure. */
  getInt(fd: number, level: number, name: number): number;
}

/**
 * True where `socket.setKeepAlive` takes interval and count: Node >= 24.19 on the 24 line,
 * >= 26.4 on later lines (the 25 line never got it). Decided by version, because the
 * function's `length` does not tell. Exported for tests.
 */
export function hasFourArgSetKeepAlive(version: string): boolean {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number);
  if (major === 24) return minor >= 19;
  if (major === 26) return minor >= 4;
  return major > 26;
}

/** Loads libc's setsockopt/getsockopt through koffi; returns the reason when it cannot. */
function loadLibc(): Libc | string {
  if (process.platform !== 'linux') return `not on Linux (${process.platform})`;
  const koffi: Koffi | string = loadKoffi();
  if (typeof koffi === 'string') return koffi;
  // The process's own symbols include libc's, whether glibc or musl; libc.so.6 is the spare.
  for (const path of [null, 'libc.so.6']) {
    try {
      const lib = koffi.load(path);
      const setsockopt = lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)');
      const getsockopt = lib.func('int getsockopt(int fd, int level, int name, _Out_ int *value, _Inout_ uint32_t *len)');
      const buffer = Buffer.alloc(4); // reused: calls are synchronous
      return {
        setInt(fd, level, name, value) {
          buffer.writeInt32LE(value);
          return setsockopt(fd, level, name, buffer, 4) === 0 ? 0 : koffi.errno();
        },
        getInt(fd, level, name) {
          const value = [0];
          if (getsockopt(fd, level, name, value, [4]) !== 0) {
            throw new Error(`getsockopt(${optionName(level, name)}) failed: ${errnoName(koffi.errno())}`);
          }
          return value[0];
        },
      };
    } catch {
      // try the next path
    }
  }
  return 'libc has no setsockopt/getsockopt for koffi';
}

const libcOrReason = loadLibc();
const libc: Libc | null = typeof libcOrReason === 'string' ? null : libcOrReason;
const libcMissing = typeof libcOrReason === 'string' ? libcOrReason : '';

const detectedStrategy: KeepaliveStrategy = hasFourArgSetKeepAlive(process.versions.node)
  ? 'setKeepAlive4'
  : libc
    ? 'setsockopt'
    : 'setKeepAlive2';

/** The strategy chosen at load, for logs (`so_keepalive via setsockopt`). */
export let keepaliveStrategy: KeepaliveStrategy = detectedStrategy;

/** `setKeepAlive` as Node >= 24.19 / 26.4 declares it (Node 20's types have two arguments). */
type SetKeepAlive4 = (enable: boolean, idleMs: number, intervalMs: number, count: number) => unknown;

/** Messages already passed to a caller's `warn`: each is said once per process. */
const warned = new Set<string>();

function warnOnce(warn: (msg: string) => void, msg: string): void {
  if (warned.has(msg)) return;
  warned.add(msg);
  warn(msg);
}

/**
 * Applies `conf` to an accepted socket. Cheap enough for every connection; never throws.
 * Anything that could not be applied exactly (a failed setsockopt, the fallback) is said
 * through `warn` (a logger's warn), each distinct message once per process. Does nothing on
 * a socket that is already destroyed.
 */
export function applySoKeepalive(socket: net.Socket, conf: SoKeepalive, warn: (msg: string) => void): void {
  if (socket.destroyed) return;
  try {
    const { idle, interval, count } = conf;
    if (keepaliveStrategy === 'setKeepAlive4' && conf.enabled && idle !== null && interval !== null && count !== null) {
      (socket.setKeepAlive as SetKeepAlive4).call(socket, true, idle * 1000, interval * 1000, count);
      return;
    }
    const useSetsockopt = libc !== null && keepaliveStrategy !== 'setKeepAlive2';
    const fd = useSetsockopt ? tcpFd(socket) : null;
    if (libc && fd !== null) {
      for (const failure of setWithSetsockopt(libc, fd, conf)) warnOnce(warn, failure);
      return;
    }
    // The fallback: exact for `off` and for `on` over TCP, approximate otherwise.
    socket.setKeepAlive(conf.enabled, (idle ?? 0) * 1000);
    if (!conf.enabled) return;
    if (useSetsockopt) {
      warnOnce(warn, 'so_keepalive: not a TCP socket with a file descriptor (a unix socket?), ignored');
    } else if (idle !== null || interval !== null || count !== null) {
      warnOnce(
        warn,
        `so_keepalive: ${libcMissing || 'setsockopt is not in use'}; fell back to socket.setKeepAlive(true, idle), ` +
          'so the probe interval and count are not as configured (Node forces 1s and 10 with an idle time)',
      );
    }
  } catch (err) {
    // Unexpected (a koffi or handle failure): say it, never take the connection down for it.
    if (!socket.destroyed) warnOnce(warn, `so_keepalive: ${(err as Error).message}`);
  }
}

/**
 * Reads a socket's keepalive settings back with getsockopt (for tests and diagnostics).
 * Throws when they cannot be read: no koffi or libc, not Linux, no TCP file descriptor.
 */
export function readKeepalive(socket: net.Socket): KeepaliveState {
  if (!libc) throw new Error(`cannot read keepalive settings: ${libcMissing}`);
  const fd = tcpFd(socket);
  if (fd === null) throw new Error('cannot read keepalive settings: not a TCP socket with a file descriptor');
  return {
    enabled: libc.getInt(fd, SOL_SOCKET, SO_KEEPALIVE) !== 0,
    idle: libc.getInt(fd, IPPROTO_TCP, TCP_KEEPIDLE),
    interval: libc.getInt(fd, IPPROTO_TCP, TCP_KEEPINTVL),
    count: libc.getInt(fd, IPPROTO_TCP, TCP_KEEPCNT),
  };
}

const TCP_NODELAY = 1;

/**
 * Reads a socket's TCP_NODELAY back with getsockopt (`tcp_nodelay`, for tests and diagnostics).
 * Throws when it cannot be read: no koffi or libc, not Linux, no TCP file descriptor.
 */
export function readNoDelay(socket: net.Socket): boolean {
  if (!libc) throw new Error(`cannot read TCP_NODELAY: ${libcMissing}`);
  const fd = tcpFd(socket);
  if (fd === null) throw new Error('cannot read TCP_NODELAY: not a TCP socket with a file descriptor');
  return libc.getInt(fd, IPPROTO_TCP, TCP_NODELAY) !== 0;
}

/**
 * For tests only: uses `strategy` instead of the detected one (null restores it) and forgets
 * which warnings were given. Forcing `setsockopt` where libc is missing throws.
 */
export function setKeepaliveStrategyForTests(strategy: KeepaliveStrategy | null): void {
  if (strategy === 'setsockopt' && !libc) throw new Error(`setsockopt is unavailable: ${libcMissing}`);
  keepaliveStrategy = strategy ?? detectedStrategy;
  warned.clear();
}

/** Sets each configured option; returns one message per failed call (nginx goes on too). */
function setWithSetsockopt(lib: Libc, fd: number, conf: SoKeepalive): string[] {
  const failures: string[] = [];
  const set = (level: number, name: number, value: number | null) => {
    if (value === null) return;
    const errno = lib.setInt(fd, level, name, value);
    if (errno !== 0) {
      failures.push(`so_keepalive: setsockopt(${optionName(level, name)}, ${value}) failed: ${errnoName(errno)}, ignored`);
    }
  };
  set(SOL_SOCKET, SO_KEEPALIVE, conf.enabled ? 1 : 0);
  if (conf.enabled) {
    set(IPPROTO_TCP, TCP_KEEPIDLE, conf.idle);
    set(IPPROTO_TCP, TCP_KEEPINTVL, conf.interval);
    set(IPPROTO_TCP, TCP_KEEPCNT, conf.count);
  }
  return failures;
}

/** Node's internal handle: a TCP or Pipe wrap, or a TLS wrap whose `_parent` is one of those. */
interface Handle {
  fd?: number;
  setKeepAlive?: unknown;
  _parent?: Handle | null;
}

/**
 * The file descriptor under a TCP socket (also through a TLS socket's wrap), or null: closed,
 * a unix socket (Pipe handles have no setKeepAlive), a JS stream, or a platform without fds.
 */
function tcpFd(socket: net.Socket): number | null {
  let handle = (socket as unknown as { _handle?: Handle | null })._handle;
  while (handle?._parent) handle = handle._parent;
  if (!handle || typeof handle.setKeepAlive !== 'function') return null;
  return typeof handle.fd === 'number' && handle.fd >= 0 ? handle.fd : null;
}

function optionName(level: number, name: number): string {
  if (level === SOL_SOCKET && name === SO_KEEPALIVE) return 'SO_KEEPALIVE';
  const names: Record<number, string> = { [TCP_KEEPIDLE]: 'TCP_KEEPIDLE', [TCP_KEEPINTVL]: 'TCP_KEEPINTVL', [TCP_KEEPCNT]: 'TCP_KEEPCNT' };
  return names[name] ?? `${level}/${name}`;
}

function errnoName(errno: number): string {
  const name = Object.keys(osConstants.errno).find((key) => (osConstants.errno as Record<string, number>)[key] === errno);
  return name ? `${name} (${errno})` : `errno ${errno}`;
}

/**
 * Closes a connection that timed out: reset (RST, nginx's `reset_timedout_connection on`: a
 * zero SO_LINGER) when `reset` and the socket is plain TCP, else destroyed as usual.
 */
export function closeTimedOut(socket: { destroy(): unknown; resetAndDestroy?: () => unknown }, reset: boolean): void {
  if (reset && typeof socket.resetAndDestroy === 'function') {
    try {
      socket.resetAndDestroy();
      return;
    } catch {
      // a TLS or unix socket: no reset, closed below
    }
  }
  socket.destroy();
}
