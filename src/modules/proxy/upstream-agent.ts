/**
 * The keep-alive pool of one upstream peer, as nginx's upstream `keepalive` module keeps its
 * connections: at most `keepalive` idle ones, each closed once idle for `keepalive_timeout`,
 * once it has served `keepalive_requests` requests, or once it is older than `keepalive_time`
 * (checked when a response ends, as nginx checks before caching the connection).
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';

/** nginx's keep-alive limits of an upstream. */
export interface KeepaliveLimits {
  /** `keepalive N`: the idle connections kept. */
  readonly idle: number;
  /** `keepalive_requests`. */
  readonly requests: number;
  /** `keepalive_timeout` (ms). */
  readonly timeout: number;
  /** `keepalive_time` (ms). */
  readonly time: number;
}

/** What a kept connection has done. */
interface Served {
  requests: number;
  readonly since: number;
}

/** The two methods of Node's Agent this pool changes (keepSocketAlive returns whether to keep; @types says void). */
interface AgentHooks {
  createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined;
  keepSocketAlive(socket: Duplex): boolean;
}

/** A keep-alive agent for `protocol` under nginx's limits (an upstream's certificate is not checked: nginx's proxy_ssl_verify off). */
export function upstreamAgent(protocol: string, limits: KeepaliveLimits): http.Agent {
  const options = { keepAlive: true, maxFreeSockets: limits.idle, timeout: limits.timeout };
  const agent = protocol === 'https:' ? new https.Agent({ ...options, rejectUnauthorized: false }) : new http.Agent(options);
  const hooks = agent as unknown as AgentHooks;
  const served = new WeakMap<Duplex, Served>();
  const create = hooks.createConnection.bind(agent);
  hooks.createConnection = (connectOptions, callback) => {
    const socket = create(connectOptions, callback);
    if (socket) served.set(socket, { requests: 0, since: performance.now() });
    return socket;
  };
  const keep = hooks.keepSocketAlive.bind(agent);
  hooks.keepSocketAlive = (socket) => {
    const record = served.get(socket);
    if (record && (++record.requests >= limits.requests || performance.now() - record.since >= limits.time)) return false;
    return keep(socket);
  };
  return agent;
}
