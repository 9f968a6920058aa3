/**
 * The proxy handler's test bench: a LocationConf and ServerConf with nginx's defaults
 * (proxy_http_version 1.0, 60s timeouts, no proxy_set_header), a ConfigContext, a logger that
 * keeps its lines, and a gateway-side HTTP server that routes every request and upgrade to
 * one proxy location the way the dispatcher does (a RequestState, a thrown HttpError
 * rendered as its status with its code in `X-Error-Code`).
 */
import { WorkerTimers } from '../../src/shared/timers';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { parseLocation, splitArgs } from '../../src/config/values';
import { ConfigError, HttpError } from '../../src/errors';
import { compileValue } from '../../src/http/variables';
import proxy, { type ProxyOptions } from '../../src/modules/proxy/proxy';
import { LocationCounters } from '../../src/modules/status/counters';
import { RequestState } from '../../src/server/request-state';
import { normalizeUri } from '../../src/server/router';
import type { ConfigContext, Handler, LocationConf, Logger, ServerConf, UpgradeOutcome } from '../../src/types';
import { moduleConfs } from './module-confs';
import { memoryPush } from './push-env';
import type { LocationOverrides } from './static-conf';
import { bareRuntime } from './static-harness';

const POSITION = { file: 'test.yaml', line: 1, col: 1 };

/** Where the benches' request bodies longer than `client_body_buffer_size` go (unlinked at once). */
export const BODY_TEMP_PATH = path.join(os.tmpdir(), `gateway-test-body-${process.pid}`);

/** nginx's recipe for proxying WebSockets: without it a request asking for an upgrade is proxied as plain HTTP. */
export const UPGRADE_RECIPE: LocationOverrides = {
  proxyHttpVersion: '1.1',
  proxySetHeaders: [
    ['Upgrade', '$http_upgrade'],
    ['Connection', '$connection_upgrade'],
  ],
};

/** A `proxy` location: `location` as written (`/api/`, `~ ^/re/`), `proxyPass` its URL. */
export function proxyLocation(location: string, proxyPass: string, overrides: LocationOverrides = {}): LocationConf {
  const { match, name, handler, position, ...confs } = overrides;
  return {
    match: match ?? parseLocation(splitArgs(location)),
    name: name ?? location,
    handler: handler ?? 'proxy',
    handlerOptions: undefined,
    position: position ?? POSITION,
    confs: moduleConfs({ accessLogs: [], clientBodyTempPath: BODY_TEMP_PATH, proxyPass, ...confs }),
    locations: [],
  };
}

/** A server `localhost` holding `locations`. */
export function proxyServer(locations: readonly LocationConf[]): ServerConf {
  return {
    listens: [],
    serverNames: [{ kind: 'exact', name: 'localhost' }],
    primaryName: 'localhost',
    locations,
    serverLocation: proxyLocation('/', '', { handler: 'static', proxyPass: null }),
    position: POSITION,
    confs: moduleConfs({ accessLogs: [] }),
  };
}

/** A ConfigContext for `configure` on `location`: errors are ConfigErrors at the location. */
export function proxyConfigContext(location: LocationConf): ConfigContext {
  return {
    location,
    prefix: '/',
    handlersDir: '/handlers',
    captureNames: new Set(),
    error(reason: string): never {
      throw new ConfigError(reason, location.position);
    },
    time: () => undefined,
    size: () => undefined,
    flag: () => undefined,
    string: () => undefined,
    integer: () => undefined,
    resolve: (p: string) => path.resolve('/', p),
    compile: (text: string) => compileValue(text),
  };
}

/** A logger that keeps `level: message` lines. */
export function keptLogger(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return { lines, debug: at('debug'), info: at('info'), notice: at('notice'), warn: at('warn'), error: at('error'), crit: at('crit') };
}

/** A running bench: the gateway's port, its log, the upgrade outcomes, and `close`. */
export interface ProxyBench {
  readonly port: number;
  readonly log: ReturnType<typeof keptLogger>;
  readonly handler: Handler;
  /** Resolved upgrade outcomes, in the order the tunnels closed. */
  readonly outcomes: UpgradeOutcome[];
  /** Resolves with the next upgrade outcome not yet taken. */
  nextOutcome(): Promise<UpgradeOutcome>;
  close(): Promise<void>;
}

/** Configures and creates the proxy for `location`, and listens on 127.0.0.1:0 in front of it. */
export async function startProxyBench(location: LocationConf): Promise<ProxyBench> {
  const log = keptLogger();
  const options = proxy.configure({}, proxyConfigContext(location)) as ProxyOptions;
  const conf = { ...location, handlerOptions: options };
  const server = proxyServer([conf]);
  const handler = await proxy.create(options, { log, prefix: '/', location: conf, push: memoryPush(log), counters: new LocationCounters('localhost', conf.name), shared: () => null, sharedDicts: { get: () => null, names: () => [] }, timers: new WorkerTimers(log).forScript('proxy') });
  const outcomes: UpgradeOutcome[] = [];
  const waiting: ((o: UpgradeOutcome) => void)[] = [];
  let consumed = 0;
  const state = (req: http.IncomingMessage, res: http.ServerResponse | null) => {
    const target = normalizeUri(req.url ?? '/');
    const host = (req.headers.host ?? 'localhost').replace(/:\d+$/, '');
    const s = new RequestState(req, res, server, bareRuntime(conf), target.uri, target.args, host, 'http', log);
    if (conf.match.kind === 'regex') s.captures = [...(conf.match.regex.exec(target.uri) ?? [])];
    return s;
  };
  const gateway = http.createServer();
  const serve = (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.setHeader('Server', 'gateway-test');
    Promise.resolve()
      .then(() => handler.http!(req, res, state(req, res)))
      .catch((err: unknown) => {
        if (res.headersSent) return void res.destroy();
        const status = err instanceof HttpError ? err.status : 500;
        const code = err instanceof HttpError ? err.code : 'GW_TEST_UNEXPECTED';
        if (status === 408 || status === 499) return void res.destroy();
        res.writeHead(status, { 'X-Error-Code': code, 'Content-Length': 0 }).end();
      });
  };
  gateway.on('request', serve);
  gateway.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (!handler.upgrade) {
      // As the dispatcher: an upgrade the location does not pass is served as plain HTTP.
      const res = new http.ServerResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket as Socket);
      res.on('finish', () => socket.end());
      return serve(req, res);
    }
    Promise.resolve(handler.upgrade(req, socket, head, state(req, null))).then((outcome) => {
      const o = outcome ?? { status: 0, bytesSent: 0 };
      outcomes.push(o);
      const waiter = waiting.shift();
      if (waiter) {
        consumed++;
        waiter(o);
      }
    });
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  return {
    port: (gateway.address() as AddressInfo).port,
    log,
    handler,
    outcomes,
    nextOutcome: () => (consumed < outcomes.length ? Promise.resolve(outcomes[consumed++]) : new Promise((resolve) => waiting.push(resolve))),
    async close() {
      gateway.closeAllConnections();
      await new Promise((resolve) => gateway.close(resolve));
      await handler.close?.();
    },
  };
}
