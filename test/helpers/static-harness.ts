/**
 * A real HTTP server on 127.0.0.1:0 for the static handler's tests: each location is
 * configured and created once; per request the first matching location (in list order) gets
 * a RequestState (the path percent-decoded, nothing else normalized; an internal redirect is
 * routed again), and a thrown HttpError
 * is rendered as its status, its headers and a short body. Plus a small HTTP client.
 */
import { WorkerTimers } from '../../src/shared/timers';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpError, InternalRedirect } from '../../src/errors';
import staticModule from '../../src/modules/static/static';
import { LocationCounters } from '../../src/modules/status/counters';
import { RequestState } from '../../src/server/request-state';
import type { LocationRuntime } from '../../src/server/runtime';
import type { Handler, LocationConf, Logger } from '../../src/types';
import { configContext, staticServer } from './static-conf';
import { memoryPush } from './push-env';

/** The compiled location a RequestState needs, for a handler tested alone (no filters). */
export function bareRuntime(location: LocationConf): LocationRuntime {
  return { conf: location, match: location.match, filters: [], documentRoot: '' } as unknown as LocationRuntime;
}

/** One running server. */
export interface StaticHarness {
  readonly port: number;
  /** Requests whose handler has not settled yet. */
  inFlight(): number;
  close(): Promise<void>;
}

/** A response as the client saw it. */
export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

type Route = readonly [LocationConf, Handler];

function route(routes: readonly Route[], uri: string): [LocationConf, Handler, string[]] | null {
  for (const [loc, handler] of routes) {
    const m = loc.match;
    if (m.kind === 'exact' && uri === m.path) return [loc, handler, []];
    if (m.kind === 'prefix' && uri.startsWith(m.path)) return [loc, handler, []];
    const found = m.kind === 'regex' ? m.regex.exec(uri) : null;
    if (found) return [loc, handler, [...found]];
  }
  return null;
}

/** Starts a server whose locations all use the static handler. */
export async function startStaticServer(locations: readonly LocationConf[], log: Logger): Promise<StaticHarness> {
  const conf = staticServer(locations);
  const routes: Route[] = [];
  for (const loc of locations) {
    const options = staticModule.configure({}, configContext(loc));
    const counters = new LocationCounters('localhost', loc.name);
    routes.push([loc, await staticModule.create(options, { log, prefix: '/', location: loc, push: memoryPush(log), counters, shared: () => null, sharedDicts: { get: () => null, names: () => [] }, timers: new WorkerTimers(log).forScript('static') })]);
  }
  let inFlight = 0;
  const server = http.createServer((req, res) => {
    inFlight++;
    const [rawPath, args = ''] = (req.url ?? '/').split(/\?(.*)/s);
    const host = (req.headers.host ?? 'localhost').replace(/:\d+$/, '').toLowerCase();
    const serve = async () => {
      let uri = decodeURIComponent(rawPath);
      let query = args;
      // An internal redirect (an index file) is routed again, up to nginx's 10 times.
      for (let redirects = 0; ; redirects++) {
        const found = route(routes, uri);
        if (!found) throw new HttpError(404);
        const state = new RequestState(req, res, conf, bareRuntime(found[0]), uri, query, host, 'http', log);
        state.captures = found[2];
        try {
          await found[1].http!(req, res, state);
          return;
        } catch (err) {
          if (!(err instanceof InternalRedirect) || redirects >= 10) throw err;
          ({ uri, args: query } = err);
        }
      }
    };
    serve()
      .catch((err: unknown) => {
        if (res.headersSent) return void res.destroy();
        const e = err instanceof HttpError ? err : new HttpError(500);
        for (const [name, value] of Object.entries(e.headers)) res.setHeader(name, value);
        res.writeHead(e.status, { 'Content-Type': 'text/plain' });
        res.end(req.method === 'HEAD' ? undefined : `error ${e.status}\n`);
      })
      .finally(() => inFlight--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    inFlight: () => inFlight,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** One request on a fresh connection; resolves with the whole body. */
export function request(
  port: number,
  path: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
