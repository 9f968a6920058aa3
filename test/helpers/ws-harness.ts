/**
 * A real HTTP server on 127.0.0.1:0 whose 'upgrade' goes to one `websocket-script` handler,
 * with a stub RequestContext and a logger that keeps its lines, for the WebSocket tests.
 */
import { serverSignature } from '../../src/http/version';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import websocketScript, { type WebSocketScriptHandler, type WebSocketScriptOptions } from '../../src/modules/websocket-script/websocket-script';
import echo from '../../src/modules/websocket-script/echo';
import type { HandlerEnv, LocationConf, Logger, RequestContext, ServerConf, UpgradeOutcome } from '../../src/types';
import { HttpError } from '../../src/errors';

/** One running test server. */
export interface WsHarness {
  readonly port: number;
  readonly server: http.Server;
  /** Log lines as `level: message`. */
  readonly logs: string[];
  /** What each finished upgrade resolved with. */
  readonly outcomes: UpgradeOutcome[];
  /** The server's open connections, as `server.getConnections` counts them. */
  connections(): Promise<number>;
  /** Destroys every socket still open and closes the server. */
  close(): Promise<void>;
}

/** The handler's options: the seed's location with the echo script, overridable. */
export function wsOptions(overrides: Partial<WebSocketScriptOptions> = {}): WebSocketScriptOptions {
  return {
    scriptName: 'echo',
    script: echo,
    timeoutMs: 0,
    maxPayloadLen: 65535,
    maxSendLen: 65535,
    options: {},
    socketLogErrors: true,
    checkClientAbort: true,
    signature: serverSignature(true),
    limits: { bufferLength: 10, timeoutMs: 3_600_000 },
    deflate: null,
    ...overrides,
  };
}

/** A logger that appends `level: message` to `lines`. */
export function memoryLogger(lines: string[]): Logger {
  const at = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return { debug: at('debug'), info: at('info'), notice: at('notice'), warn: at('warn'), error: at('error'), crit: at('crit') };
}

function stubContext(req: http.IncomingMessage, log: Logger): RequestContext {
  return {
    uri: (req.url ?? '/').split('?')[0],
    args: '',
    captures: [],
    namedCaptures: {},
    server: {} as ServerConf,
    location: {} as LocationConf,
    scheme: 'http',
    host: 'localhost',
    log,
    remoteAddress: req.socket.remoteAddress ?? '',
    data: {},
    variable: () => '',
    setVariable: () => {},
    evaluate: (template) => template.constant ?? '',
    setUri: () => {},
    transforms: () => false,
    reuseTransformedFile: () => false,
    upstreamHeaders: null,
    upstreamTries: null,
    mainRequest: req,
    subrequest: () => Promise.reject(new Error('no subrequests here')),
  };
}

/** Starts a server whose upgrades run the `websocket-script` handler with `options`. */
export async function startWsServer(options: WebSocketScriptOptions = wsOptions()): Promise<WsHarness> {
  const logs: string[] = [];
  const outcomes: UpgradeOutcome[] = [];
  const log = memoryLogger(logs);
  const env = { log, prefix: process.cwd(), location: {} as LocationConf } as HandlerEnv;
  const handler = (await websocketScript.create(options, env)) as WebSocketScriptHandler;
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    try {
      handler.http(req);
    } catch (err) {
      res.writeHead(err instanceof HttpError ? err.status : 500, { 'Content-Length': 0 }).end();
    }
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req, socket, head) => {
    void handler.upgrade(req, socket, head, stubContext(req, log)).then((outcome) => outcomes.push(outcome));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    server,
    logs,
    outcomes,
    connections: () => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    close: async () => {
      handler.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Resolves once `check()` is true, polling; rejects after `limitMs` (a safety net, not a timing assertion). */
export async function waitFor(check: () => boolean | Promise<boolean>, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
