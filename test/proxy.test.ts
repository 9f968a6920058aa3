/**
 * The proxy handler over real sockets on 127.0.0.1: an echoing HTTP backend, a `ws` backend,
 * raw misbehaving backends, and a gateway-side server routing to the handler as the
 * dispatcher does. Faults must end in nginx's statuses and closed sockets (descriptors are
 * counted per case against the gateway process in proxy-process.test.ts).
 */
import http from 'node:http';
import net from 'node:net';
import WebSocket from 'ws';
import type { HttpError } from '../src/errors';
import { HttpExchange } from '../src/modules/proxy/exchange';
import { keptLogger, proxyLocation, startProxyBench, UPGRADE_RECIPE, type ProxyBench } from './helpers/proxy-conf';
import {
  closeServer,
  echoOf,
  httpBackend,
  listen,
  portOf,
  rawUpgrade,
  request,
  until,
  upload,
  wsBackend,
} from './helpers/proxy-peers';

describe('proxy over real sockets', () => {
  const backend = httpBackend();
  const ws = wsBackend();
  let garbage: net.Server;
  /**
   * Answers 413 at once, keeps the connection and stops reading until `resumeStalled()`;
   * reports when the gateway hangs up (a paused socket would not notice).
   */
  let stall: net.Server;
  const stallClosed: (() => void)[] = [];
  const stalled: net.Socket[] = [];
  const resumeStalled = () => stalled.splice(0).forEach((s) => s.resume());
  let stallBench: ProxyBench;
  let downPort: number;
  let main: ProxyBench;
  let prefixed: ProxyBench;
  let keepalive: ProxyBench;
  let short: ProxyBench;
  let wsBench: ProxyBench;
  let downBench: ProxyBench;
  let garbageBench: ProxyBench;

  beforeAll(async () => {
    await listen(backend.server);
    await listen(ws.server);
    garbage = await listen(
      net.createServer((s) => {
        s.on('error', () => {});
        s.on('data', () => s.end('this is not http\r\n\r\n'));
      }),
    );
    stall = await listen(
      net.createServer((s) => {
        s.on('error', () => {});
        s.once('data', () => {
          s.write('HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\n\r\n');
          s.pause();
          stalled.push(s);
        });
        s.on('close', () => stallClosed.shift()?.());
      }),
    );
    const closed = await listen(net.createServer());
    downPort = portOf(closed);
    await closeServer(closed);
    const b = `http://127.0.0.1:${portOf(backend.server)}`;
    main = await startProxyBench(
      proxyLocation('/', b, {
        proxySetHeaders: [
          ['X-Real-IP', '$remote_addr'],
          ['X-Host', '$host'],
          ['X-Forwarded-For', '$proxy_add_x_forwarded_for'],
          ['User-Agent', ''],
        ],
      }),
    );
    prefixed = await startProxyBench(proxyLocation('/api/', `${b}/v1/`));
    keepalive = await startProxyBench(proxyLocation('/', b, { proxyHttpVersion: '1.1', proxySetHeaders: [['Connection', '']] }));
    // proxy_request_buffering off under HTTP/1.1: chunked uploads stream instead of being read first.
    short = await startProxyBench(proxyLocation('/', b, { proxyReadTimeout: 200, proxySendTimeout: 200, clientMaxBodySize: 0, proxyRequestBuffering: false, proxyHttpVersion: '1.1' }));
    wsBench = await startProxyBench(proxyLocation('/', `http://127.0.0.1:${portOf(ws.server)}`, UPGRADE_RECIPE));
    downBench = await startProxyBench(proxyLocation('/', `http://127.0.0.1:${downPort}`, UPGRADE_RECIPE));
    garbageBench = await startProxyBench(proxyLocation('/', `http://127.0.0.1:${portOf(garbage)}`));
    stallBench = await startProxyBench(
      proxyLocation('/', `http://127.0.0.1:${portOf(stall)}`, { proxyHttpVersion: '1.1', proxySetHeaders: [['Connection', '']], clientMaxBodySize: 0, proxyRequestBuffering: false }),
    );
  });

  afterAll(async () => {
    for (const bench of [main, prefixed, keepalive, short, wsBench, downBench, garbageBench, stallBench]) await bench?.close();
    ws.wss.close();
    await Promise.all([closeServer(backend.server), closeServer(ws.server), closeServer(garbage), closeServer(stall)]);
  });

  test('without a URI part the request URI passes unchanged', async () => {
    const echo = echoOf(await request(main.port, '/a//b/../c?x=1&y=%20'));
    expect(echo.url).toBe('/a//b/../c?x=1&y=%20');
    expect(echo.method).toBe('GET');
  });

  test('with a URI part the location prefix is replaced', async () => {
    expect(echoOf(await request(prefixed.port, '/api/users/42?full=1')).url).toBe('/v1/users/42?full=1');
    expect(echoOf(await request(prefixed.port, '/api/a%20b')).url).toBe('/v1/a%20b');
  });

  test('Host is $proxy_host, Connection close; proxy_set_header values, an empty one removes', async () => {
    const echo = echoOf(
      await request(main.port, '/h', { headers: { Host: 'www.example.com:8080', 'User-Agent': 'test/1', 'X-Forwarded-For': '10.0.0.1' } }),
    );
    expect(echo.headers.host).toBe(`127.0.0.1:${portOf(backend.server)}`);
    expect(echo.headers.connection).toBe('close');
    expect(echo.headers['x-real-ip']).toBe('127.0.0.1');
    expect(echo.headers['x-host']).toBe('www.example.com');
    expect(echo.headers['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1');
    expect(echo.headers['user-agent']).toBeUndefined();
    expect(echoOf(await request(prefixed.port, '/api/')).headers.host).toBe(`127.0.0.1:${portOf(backend.server)}`);
  });

  test('hop-by-hop request headers, and those named in Connection, stay behind', async () => {
    const echo = echoOf(
      await request(main.port, '/hop', {
        headers: { Connection: 'close, X-Drop', 'X-Drop': '1', 'Keep-Alive': '300', TE: 'trailers', 'Proxy-Connection': 'x', Upgrade: 'h2c', 'X-Kept': 'yes', Expect: '100-continue' },
      }),
    );
    for (const name of ['x-drop', 'keep-alive', 'te', 'proxy-connection', 'upgrade', 'expect']) expect(echo.headers[name]).toBeUndefined();
    expect(echo.headers['x-kept']).toBe('yes');
    expect(echo.rawHeaders).toContain('X-Kept');
  });

  test('response: Set-Cookie repeats kept, hop-by-hop and hidden headers dropped, the gateway Server stays', async () => {
    const reply = await request(main.port, '/cookies');
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('cookies');
    expect(reply.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(reply.headers.server).toBe('gateway-test');
    expect(reply.headers.date).toBeDefined();
    expect(reply.headers['x-kept']).toBe('yes');
    for (const name of ['x-hop', 'x-accel-charset', 'x-pad', 'keep-alive']) expect(reply.headers[name]).toBeUndefined();
  });

  test('a chunked POST body is read first and sent with its length; a sized one keeps its Content-Length', async () => {
    const chunked = echoOf(await request(main.port, '/post', { method: 'POST' }, ['hello ', 'world']));
    expect(chunked).toMatchObject({ method: 'POST', body: 'hello world' });
    expect(chunked.headers['transfer-encoding']).toBeUndefined();
    expect(chunked.headers['content-length']).toBe('11');
    const streamed = echoOf(await request(short.port, '/post', { method: 'POST' }, ['hello ', 'world']));
    expect(streamed.headers['transfer-encoding']).toBe('chunked');
    const sized = echoOf(await request(main.port, '/post', { method: 'PUT', headers: { 'Content-Length': 5 } }, ['abcde']));
    expect(sized).toMatchObject({ method: 'PUT', body: 'abcde' });
    expect(sized.headers['content-length']).toBe('5');
    const empty = echoOf(await request(main.port, '/delete', { method: 'DELETE' }));
    expect(empty.method).toBe('DELETE');
  });

  test('proxy_http_version 1.1 with Connection "" keeps the upstream connection through the agent', async () => {
    const first = echoOf(await request(keepalive.port, '/one'));
    const second = echoOf(await request(keepalive.port, '/two'));
    // HTTP/1.1 is persistent without a Connection header (nginx's `proxy_set_header Connection ""`).
    expect(first.headers.connection).toBeUndefined();
    expect(second.remotePort).toBe(first.remotePort);
  });

  test('proxy_http_version 1.1 alone still says Connection: close, as nginx', async () => {
    const v11 = await startProxyBench(proxyLocation('/', `http://127.0.0.1:${portOf(backend.server)}`, { proxyHttpVersion: '1.1' }));
    const first = echoOf(await request(v11.port, '/one'));
    const second = echoOf(await request(v11.port, '/two'));
    await v11.close();
    expect(first.headers.connection).toBe('close');
    expect(second.remotePort).not.toBe(first.remotePort);
  });

  test('a backend that is down: 502 and nginx\'s error line', async () => {
    const reply = await request(downBench.port, '/down?x=1', { headers: { Host: 'site.test' } });
    expect(reply.status).toBe(502);
    expect(reply.headers['x-error-code']).toBe('GW_UPSTREAM_CONNECT');
    expect(downBench.log.lines).toContain(
      `error: connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: localhost, ` +
        `request: "GET /down?x=1 HTTP/1.1", upstream: "http://127.0.0.1:${downPort}/down?x=1", host: "site.test"`,
    );
  });

  test('a backend that closes, resets, or sends garbage before the header: 502', async () => {
    expect((await request(main.port, '/destroy')).headers['x-error-code']).toBe('GW_UPSTREAM_CLOSED');
    expect((await request(main.port, '/reset')).headers['x-error-code']).toBe('GW_UPSTREAM_RESET');
    const bad = await request(garbageBench.port, '/');
    expect(bad.status).toBe(502);
    expect(bad.headers['x-error-code']).toBe('GW_UPSTREAM_INVALID');
    expect(main.log.lines.some((l) => l.includes('upstream prematurely closed connection while reading response header from upstream'))).toBe(true);
  });

  test('a backend that never answers: 504 after proxy_read_timeout', async () => {
    const reply = await request(short.port, '/never');
    expect(reply.status).toBe(504);
    expect(reply.headers['x-error-code']).toBe('GW_UPSTREAM_TIMEOUT');
    expect(short.log.lines.some((l) => l.includes('upstream timed out (110: Connection timed out) while reading response header from upstream'))).toBe(true);
  });

  test('a backend that stops reading the body: 504 after proxy_send_timeout', async () => {
    const reply = await upload(short.port, '/no-read', 1024);
    expect(reply).toBe(504);
    expect(short.log.lines.some((l) => l.includes('while sending request to upstream'))).toBe(true);
  });

  test('a backend answering early, then no longer reading: the half-sent upstream request is dropped', async () => {
    const closed = new Promise<void>((resolve) => stallClosed.push(resolve));
    expect([413, 'EPIPE', 'ECONNRESET']).toContain(await upload(stallBench.port, '/', 256));
    // Were the upstream request kept, the rest of the body would now flow and the socket be pooled.
    resumeStalled();
    await closed;
  });

  test('a body that cannot go to its temporary file (its directory cannot be made, on a path where Node\'s own recursive mkdir never returns): 500 and a crit line', async () => {
    const bench = await startProxyBench(proxyLocation('/', `http://127.0.0.1:${portOf(backend.server)}`, { clientBodyBufferSize: 4, clientBodyTempPath: '/proc/self/no-such-dir/body' }));
    const reply = await request(bench.port, '/post', { method: 'POST', headers: { 'Content-Length': 11 } }, ['hello world']);
    await bench.close();
    expect(reply.status).toBe(500);
    expect(reply.headers['x-error-code']).toBe('GW_BODY_TEMP_FILE');
    expect(bench.log.lines.some((l) => l.startsWith('crit: mkdir() "/proc/self/no-such-dir" failed (ENOENT)'))).toBe(true);
  });

  test('a client that goes away mid-response closes the upstream request', async () => {
    const closed = backend.nextStreamClosed();
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: main.port, path: '/stream', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.on('timeout', reject);
    });
    await closed;
    expect(await until(() => main.log.lines.some((l) => l.startsWith('info: client prematurely closed connection')))).toBe(true);
  });

  test('WebSocket: echo through the proxy; the tunnel reports 101', async () => {
    const client = new WebSocket(`ws://127.0.0.1:${wsBench.port}/ws?room=1`);
    client.on('error', () => {});
    const upgraded = new Promise<http.IncomingMessage>((resolve) => client.once('upgrade', resolve));
    await new Promise((resolve) => client.once('open', resolve));
    expect((await upgraded).headers.server).toMatch(/^gateway/);
    const reply = new Promise<string>((resolve) => client.once('message', (d) => resolve(d.toString())));
    client.send('hello');
    expect(await reply).toBe('hello');
    client.close();
    const outcome = await wsBench.nextOutcome();
    expect(outcome.status).toBe(101);
    expect(outcome.bytesSent).toBeGreaterThan(0);
    const headers = ws.seen[ws.seen.length - 1];
    expect(headers.host).toBe(`127.0.0.1:${portOf(ws.server)}`);
    expect(headers.upgrade).toBe('websocket');
    expect(headers.connection).toBe('upgrade');
  });

  test('WebSocket: the backend dropping the connection closes the client at once', async () => {
    const client = new WebSocket(`ws://127.0.0.1:${wsBench.port}/terminate`);
    client.on('error', () => {});
    await new Promise((resolve) => client.once('open', resolve));
    const closed = new Promise((resolve) => client.once('close', resolve));
    client.send('bye');
    await closed;
    expect((await wsBench.nextOutcome()).status).toBe(101);
  });

  test('WebSocket: the client resetting closes the backend side at once', async () => {
    const client = new WebSocket(`ws://127.0.0.1:${wsBench.port}/ws`);
    client.on('error', () => {});
    await new Promise((resolve) => client.once('open', resolve));
    const backendClosed = ws.nextClose();
    client.terminate();
    await backendClosed;
    expect((await wsBench.nextOutcome()).status).toBe(101);
  });

  test('upgrade to a backend that is down: a raw 502 page, then close', async () => {
    const text = await rawUpgrade(downBench.port, '/ws');
    expect(text.startsWith('HTTP/1.1 502 Bad Gateway\r\n')).toBe(true);
    expect(text).toContain('<center><h1>502 Bad Gateway</h1></center>');
    expect(text).toMatch(/\r\nContent-Length: \d+\r\n/);
    expect(await downBench.nextOutcome()).toMatchObject({ status: 502 });
  });

  test('upgrade refused by the backend: its 403 passed as a proper response, then close', async () => {
    const text = await rawUpgrade(wsBench.port, '/forbidden');
    expect(text.startsWith('HTTP/1.1 403 Forbidden\r\n')).toBe(true);
    expect(text).not.toMatch(/transfer-encoding/i);
    expect(text).not.toContain('Server: backend');
    expect(text.endsWith('\r\n\r\nnope!\n')).toBe(true);
    expect(await wsBench.nextOutcome()).toEqual({ status: 403, bytesSent: 6 });
  });

  test('a backend resetting during the handshake: the client gets 502 and is closed', async () => {
    const text = await rawUpgrade(wsBench.port, '/reset');
    expect(text.startsWith('HTTP/1.1 502 Bad Gateway\r\n')).toBe(true);
    expect((await wsBench.nextOutcome()).status).toBe(502);
  });
});

describe('the connect timer', () => {
  /** A pool whose connections never connect, as after a SYN nobody answers. */
  class StuckAgent extends http.Agent {
    readonly made: net.Socket[] = [];
    override createConnection(): net.Socket {
      const socket = new net.Socket();
      Object.defineProperty(socket, 'connecting', { value: true });
      this.made.push(socket);
      return socket;
    }
  }

  test('proxy_connect_timeout: 504 while connecting, the upstream request destroyed', async () => {
    const log = keptLogger();
    const agent = new StuckAgent({ keepAlive: true });
    const server = await listen(
      http.createServer((req, res) => {
        const exchange = new HttpExchange({
          req,
          res,
          path: '/p',
          headers: [['Host', 'upstream']],
          timeouts: { connect: 50, send: 60_000, read: 60_000 },
          connectEvent: 'connect',
          log,
          context: ', client: test',
        });
        exchange.start({ url: { protocol: 'http:', host: '127.0.0.1', port: 9 }, agent }, 'GET');
        exchange.promise.catch((err: HttpError) => res.writeHead(err.status, { 'X-Error-Code': err.code }).end());
      }),
    );
    const reply = await request(portOf(server), '/p');
    await closeServer(server);
    expect(reply.status).toBe(504);
    expect(reply.headers['x-error-code']).toBe('GW_UPSTREAM_TIMEOUT');
    expect(agent.made).toHaveLength(1);
    expect(agent.made[0].destroyed).toBe(true);
    expect(log.lines).toEqual(['error: upstream timed out (110: Connection timed out) while connecting to upstream, client: test']);
  });
});

describe('an upstream request Node refuses to build', () => {
  test('a header made of a variable with CR LF: 502 with the reason logged, and nothing left queued on the pool', async () => {
    let open = 0;
    const backend = await listen(net.createServer((socket) => {
      open++;
      socket.on('error', () => {}).on('close', () => open--).resume();
    }));
    const bench = await startProxyBench(proxyLocation('/', `http://127.0.0.1:${portOf(backend)}`, { proxySetHeaders: [['X-Uri', '$uri']] }));
    try {
      const reply = await request(bench.port, '/a%0D%0Ab');
      expect(reply.status).toBe(502);
      expect(bench.log.lines.some((l) => l.includes('cannot build the upstream request'))).toBe(true);
      // The request made before its header was refused (its pool may have begun a connection) is dropped, not left waiting on it.
      await new Promise((r) => setTimeout(r, 300));
      expect(open).toBe(0);
    } finally {
      await bench.close();
      await closeServer(backend);
    }
  });
});
