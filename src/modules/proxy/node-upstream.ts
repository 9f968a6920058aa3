/**
 * An upstream request on Node's `ClientRequest` and a keep-alive agent: the path of every
 * request the lean one does not take (a body streamed or sent up, `proxy_http_version 1.0`,
 * TLS, HEAD, an upgrade header). The request line and headers are set at once; nothing is
 * written until the request has a socket, and the body (the exchange's) only once it is
 * connected.
 */
import http, { type Agent, type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { Http10Request, HTTP10_SUPPORTED } from './http10-request';
import { connectionTokens, groupHeaders, type HeaderLine } from './headers';
import type { UpstreamCall, UpstreamListener } from './upstream-call';

/** Where an upstream request goes: `socketPath` set for a unix socket (http.request then ignores host and port). */
export interface UpstreamAddress {
  readonly protocol: string;
  readonly host: string;
  readonly port: number;
  readonly socketPath?: string;
}

/** The request a Node call makes. */
export interface NodeRequestPlan {
  readonly address: UpstreamAddress;
  readonly agent: Agent;
  readonly method: string;
  readonly path: string;
  readonly headers: readonly HeaderLine[];
  /** `proxy_http_version 1.0`: the request line says so. */
  readonly http10: boolean;
  /** The event that says the connection is up (`connect`, `secureConnect` for TLS). */
  readonly connectEvent: 'connect' | 'secureConnect';
  /** Whether the request is ended as soon as it has a socket (no body will be written). */
  readonly endAtOnce: boolean;
}

/**
 * Makes the request on `plan.agent`'s pool. Throws what Node throws of a header it refuses (a
 * variable's CR or LF), the request already dropped.
 */
export function startNodeCall(plan: NodeRequestPlan, listener: UpstreamListener): UpstreamCall {
  const { protocol, host, port, socketPath } = plan.address;
  const options = { host, port, socketPath, agent: plan.agent, method: plan.method, path: plan.path, setHost: false };
  let made: ClientRequest | null = null;
  try {
    if (plan.http10 && HTTP10_SUPPORTED) made = new Http10Request({ ...options, protocol });
    else made = protocol === 'https:' ? https.request(options) : http.request(options);
    for (const [name, values] of groupHeaders(plan.headers)) made.setHeader(name, values);
  } catch (err) {
    // The request, already queued on the agent, goes too.
    made?.on('error', () => {}).destroy();
    throw err;
  }
  const proxyReq = made;
  const connection = proxyReq.getHeader('connection') as string | string[] | undefined;
  // No Connection header of its own (`proxy_set_header Connection ""`): none is sent, the
  // connection persists (HTTP/1.1's default), as nginx's; Node would add `keep-alive`.
  if (connection === undefined) proxyReq.removeHeader('connection');
  // A request that says `Connection: close` is the connection's last, whatever the upstream
  // answers: Node's agent would otherwise pool the socket when the response says keep-alive.
  else if (connectionTokens(connection).has('close')) proxyReq.shouldKeepAlive = false;
  proxyReq.on('error', (err) => listener.error(err));
  proxyReq.on('response', (proxyRes: IncomingMessage) => {
    if (listener.isDone()) proxyRes.destroy();
    else listener.response(proxyRes);
  });
  proxyReq.once('socket', () => onSocket(proxyReq, plan, listener));
  return { bodyTarget: proxyReq, sentWhole: () => proxyReq.writableFinished, destroy: () => proxyReq.destroy() };
}

/** The request has its socket (a pooled one, or one connecting): nothing is written yet. */
function onSocket(proxyReq: ClientRequest, plan: NodeRequestPlan, listener: UpstreamListener): void {
  if (listener.isDone()) {
    proxyReq.destroy();
    return;
  }
  proxyReq.once('finish', () => listener.sent());
  // A 101 the location did not ask for (it forwards no Upgrade) is never a tunnel.
  proxyReq.on('upgrade', (_res: IncomingMessage, upstream: Socket) => {
    upstream.destroy();
    listener.upgraded();
  });
  // Listening for the connection before anything is written: a write made first would be
  // flushed by the socket's own 'connect' listener, and finish before `connected` ran.
  const socket = proxyReq.socket as Socket | null;
  if (socket && socket.connecting) {
    listener.connecting();
    socket.once(plan.connectEvent, () => listener.connected());
  } else {
    listener.connected();
  }
  if (plan.endAtOnce) proxyReq.end();
}
