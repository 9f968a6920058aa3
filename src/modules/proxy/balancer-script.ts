/**
 * Running an upstream's `balancer_by` script for one try (OpenResty's balancer_by_lua with
 * `ngx.balancer`): the request as the script reads it, the calls it makes recorded as a
 * `BalancerDecision`, a script that throws or never settles turned into nginx's 500 with one
 * error-log line (the script's name and the stack's first frame).
 */
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../../errors';
import type { BalancerContext, BalancerFailure, RequestContext } from '../../types';
import type { ProxyTimeouts } from './exchange';
import type { BalancerRef, UpstreamConf } from './upstreams';

/** What a script decided for one try. */
export interface BalancerDecision {
  /** `set_current_peer`, or null: the upstream's own method picks. */
  readonly peer: { readonly host: string; readonly port: number } | null;
  /** `set_more_tries`, already cut to `proxy_next_upstream_tries` (0: none). */
  readonly moreTries: number;
  /** `set_timeouts`: the parts given, or null. */
  readonly timeouts: Partial<ProxyTimeouts> | null;
}

/** The state of one request's tries that the script reads and changes. */
export interface TryState {
  /** This try's number, from 1. */
  readonly attempt: number;
  /** Tries allowed so far (the upstream's, plus earlier `set_more_tries`). */
  readonly limit: number;
  /** `proxy_next_upstream_tries` (0: no limit). */
  readonly maxTries: number;
  readonly lastFailure: BalancerFailure | null;
}

const REDUCED = 'reduced tries due to limit';

/** The first `at ...` frame of an error's stack (the script's line), or '' when it has none. */
export function firstFrame(err: unknown): string {
  const stack = typeof (err as Error)?.stack === 'string' ? (err as Error).stack! : '';
  const frame = stack.split('\n').find((line) => /^\s+at /.test(line));
  return frame ? frame.trim().slice(3) : '';
}

/** The message of an error a script threw, its first line. */
function messageOf(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.split('\n')[0];
}

/**
 * Runs the script for one try. Resolves with its decision; rejects with a 500 `HttpError`
 * (logged) when it throws, rejects, or has not settled within `boundMs`.
 */
export async function runBalancer(
  script: BalancerRef,
  upstream: UpstreamConf,
  req: IncomingMessage,
  ctx: RequestContext,
  state: TryState,
  boundMs: number,
): Promise<BalancerDecision> {
  let peer: BalancerDecision['peer'] = null;
  let moreTries = 0;
  let timeouts: Partial<ProxyTimeouts> | null = null;
  const b: BalancerContext = {
    upstream: { name: upstream.name, servers: upstream.servers },
    try: state.attempt,
    method: req.method ?? 'GET',
    uri: ctx.uri,
    args: ctx.args,
    headers: req.headers,
    cookie: (name) => (req.headers.cookie ? ctx.variable(`cookie_${name}`) || undefined : undefined),
    variable: (name) => ctx.variable(name),
    remoteAddress: ctx.remoteAddress,
    ctx: ctx.data,
    log: ctx.log,
    setCurrentPeer(host, port) {
      // An IPv6 address may come in brackets, as nginx writes it.
      const bare = typeof host === 'string' ? host.replace(/^\[(.*)\]$/, '$1') : '';
      if (!bare || (!isIP(bare) && !/^[A-Za-z0-9.-]+$/.test(bare))) throw new TypeError(`invalid peer host "${host}"`);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`invalid peer port "${port}"`);
      peer = { host: bare, port };
    },
    setMoreTries(count) {
      if (!Number.isInteger(count) || count < 0) throw new TypeError(`invalid count "${count}"`);
      // lua-nginx-module: the tries so far and left (`limit`) plus `count` stay within the limit.
      if (state.maxTries && state.limit + count > state.maxTries) {
        moreTries = Math.max(0, state.maxTries - state.limit);
        return REDUCED;
      }
      moreTries = count;
      return null;
    },
    getLastFailure: () => state.lastFailure,
    setTimeouts(connect, send, read) {
      const part = (v: number | null | undefined, what: string) => {
        if (v === null || v === undefined) return undefined;
        if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new TypeError(`bad ${what} timeout`);
        return Math.ceil(v);
      };
      timeouts = { ...timeouts, ...strip({ connect: part(connect, 'connect'), send: part(send, 'send'), read: part(read, 'read') }) };
    },
  };
  try {
    const result = script.run(b);
    if (result && typeof (result as Promise<void>).then === 'function') await bounded(result as Promise<void>, boundMs);
  } catch (err) {
    const why = err instanceof BoundExceeded ? `did not settle within ${boundMs}ms` : `failed: ${messageOf(err)}`;
    const frame = err instanceof BoundExceeded ? '' : firstFrame(err);
    ctx.log.error(`balancer_by script "${script.name}" ${why}${frame ? ` at ${frame}` : ''} while connecting to upstream, client: ${ctx.remoteAddress}, upstream: "${upstream.name}"`);
    throw new HttpError(500, 'GW_BALANCER_SCRIPT', `balancer_by script "${script.name}" ${why}`);
  }
  return { peer, moreTries, timeouts };
}

function strip<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

class BoundExceeded extends Error {}

/** `promise`, or a BoundExceeded rejection after `ms` (0: no bound). */
function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  if (!ms) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new BoundExceeded()), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
