/**
 * The proxy's response side and request buffering over real loopback sockets:
 * `proxy_buffering` and `X-Accel-Buffering` (chunks reach the client while the backend waits
 * for the client to have seen them), `proxy_hide_header`/`proxy_pass_header`, `proxy_redirect`,
 * and a chunked body over `client_max_body_size` refused before the backend sees anything.
 */
import http from 'node:http';
import type { ProxyOptions } from '../src/modules/proxy/proxy';
import { proxyLocation, startProxyBench, UPGRADE_RECIPE, type ProxyBench } from './helpers/proxy-conf';
import { closeServer, listen, portOf, rawUpgrade, request, wsBackend } from './helpers/proxy-peers';
import { buildVirtual, configErrorOf } from './helpers/virtual-config';

/** A backend whose streaming paths wait for the test between chunks; it counts what reached it. */
function lockstepBackend() {
  const releases: (() => void)[] = [];
  const seen: string[] = [];
  const next = () => new Promise<void>((resolve) => releases.push(resolve));
  const server = http.createServer(async (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? '/', 'http://x');
    switch (url.pathname.replace(/^\/x\//, '/')) {
      case '/sse':
      case '/stream': {
        const type = url.pathname === '/sse' ? 'text/event-stream' : 'text/plain';
        const accel = url.searchParams.get('accel');
        res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-cache', ...(accel ? { 'X-Accel-Buffering': accel } : {}) });
        res.flushHeaders();
        // The header alone first: it must reach the client before any event.
        await next();
        res.write('data: one\n\n');
        await next();
        res.end('data: two\n\n');
        return;
      }
      case '/headers':
        res.writeHead(200, [
          'Server', 'backend/2', 'Date', 'Thu, 01 Jan 1970 00:00:00 GMT', 'X-Pad', 'pad', 'X-Accel-Expires', '10',
          'X-Accel-Charset', 'utf-8', 'X-Secret', 's', 'X-Other', 'o', 'Content-Length', '2',
        ]);
        return void res.end('ok');
      case '/redirect':
        res.writeHead(302, { Location: url.searchParams.get('to') ?? '/', Refresh: `5; url=${url.searchParams.get('to')}`, 'Content-Length': 0 });
        return void res.end();
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(JSON.stringify({ headers: req.headers, body: Buffer.concat(chunks).toString() })));
  });
  return { server, seen, release: () => releases.shift()?.(), waiting: () => releases.length };
}

/** Reads a streaming response piece by piece: the header, then each chunk as it comes. */
function streamOf(port: number, path: string) {
  const chunks: string[] = [];
  const arrivals: (() => void)[] = [];
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.on('data', (c: Buffer) => {
        chunks.push(c.toString());
        arrivals.splice(0).forEach((a) => a());
      });
      resolve(res);
    });
    req.on('error', reject);
  });
  /** Resolves once the client has received `text` in all. */
  const received = async (text: string) => {
    while (!chunks.join('').includes(text)) await new Promise<void>((resolve) => arrivals.push(resolve));
  };
  return { response, received, chunks };
}

describe('proxy response directives', () => {
  const backend = lockstepBackend();
  let b: string;
  const benches: ProxyBench[] = [];
  const bench = async (...args: Parameters<typeof proxyLocation>) => {
    const started = await startProxyBench(proxyLocation(...args));
    benches.push(started);
    return started;
  };

  beforeAll(async () => {
    await listen(backend.server);
    b = `http://127.0.0.1:${portOf(backend.server)}`;
  });

  afterAll(async () => {
    for (const started of benches) await started.close();
    await closeServer(backend.server);
  });

  /** The backend sends the header, waits, an event, waits, the last event: the client sees each before the next is sent. */
  async function lockstep(port: number, path: string): Promise<http.IncomingMessage> {
    const stream = streamOf(port, path);
    await new Promise<void>((resolve) => {
      const poll = () => (backend.waiting() ? resolve() : setTimeout(poll, 5));
      poll();
    });
    const res = await stream.response;
    backend.release();
    await stream.received('data: one\n\n');
    expect(stream.chunks.join('')).toBe('data: one\n\n');
    backend.release();
    await stream.received('data: two\n\n');
    return res;
  }

  test('proxy_buffering off: the header and each chunk reach the client before the backend sends on', async () => {
    const off = await bench('/', b, { proxyBuffering: false });
    const res = await lockstep(off.port, '/stream');
    expect(res.headers['content-type']).toBe('text/plain');
  });

  test('Server-Sent Events flow event by event through the default (buffering on) location', async () => {
    const on = await bench('/', b);
    const res = await lockstep(on.port, '/sse');
    expect(res.headers['content-type']).toBe('text/event-stream');
  });

  test('X-Accel-Buffering: no turns buffering off for its response and is not passed on', async () => {
    const on = await bench('/', b);
    const res = await lockstep(on.port, '/stream?accel=no');
    expect(res.headers['x-accel-buffering']).toBeUndefined();
  });

  test('X-Accel-Buffering: yes under proxy_buffering off: the whole response, header not passed on', async () => {
    const off = await bench('/', b, { proxyBuffering: false });
    const stream = streamOf(off.port, '/stream?accel=yes');
    const poll = () => new Promise<void>((resolve) => (function wait() { return backend.waiting() ? resolve() : void setTimeout(wait, 5); })());
    await poll();
    backend.release();
    await poll();
    backend.release();
    const res = await stream.response;
    await stream.received('data: two\n\n');
    expect(stream.chunks.join('')).toBe('data: one\n\ndata: two\n\n');
    expect(res.headers['x-accel-buffering']).toBeUndefined();
  });

  test('nginx default hidden headers: the gateway Server and Date, no X-Pad or X-Accel-*', async () => {
    const plain = await bench('/', b);
    const reply = await request(plain.port, '/headers');
    expect(reply.headers.server).toBe('gateway-test');
    expect(reply.headers.date).not.toBe('Thu, 01 Jan 1970 00:00:00 GMT');
    for (const name of ['x-pad', 'x-accel-expires', 'x-accel-charset']) expect(reply.headers[name]).toBeUndefined();
    expect(reply.headers['x-secret']).toBe('s');
    expect(reply.headers['x-other']).toBe('o');
  });

  test('proxy_hide_header hides more; proxy_pass_header passes Server, Date, X-Accel-Expires and X-Accel-Charset (nginx copies every X-Accel-* passed)', async () => {
    const shaped = await bench('/', b, { proxyHideHeaders: ['X-Secret'], proxyPassHeaders: ['Server', 'date', 'X-Accel-Expires', 'X-Accel-Charset'] });
    const reply = await request(shaped.port, '/headers');
    expect(reply.headers.server).toBe('backend/2');
    expect(reply.headers.date).toBe('Thu, 01 Jan 1970 00:00:00 GMT');
    expect(reply.headers['x-accel-expires']).toBe('10');
    expect(reply.headers['x-accel-charset']).toBe('utf-8');
    expect(reply.headers['x-secret']).toBeUndefined();
    expect(reply.headers['x-pad']).toBeUndefined();
    expect(reply.headers['x-other']).toBe('o');
    expect(reply.body).toBe('ok');
  });

  test('an upgrade the backend refuses: proxy_pass_header and proxy_hide_header apply to its answer', async () => {
    const ws = wsBackend();
    await listen(ws.server);
    const shaped = await bench('/', `http://127.0.0.1:${portOf(ws.server)}`, { ...UPGRADE_RECIPE, proxyPassHeaders: ['Server'], proxyHideHeaders: ['Content-Type'] });
    const text = await rawUpgrade(shaped.port, '/forbidden');
    ws.wss.close();
    await closeServer(ws.server);
    expect(text.startsWith('HTTP/1.1 403 Forbidden\r\n')).toBe(true);
    expect(text).toContain('\r\nServer: backend\r\n');
    expect(text).not.toMatch(/\r\nServer: gateway/);
    expect(text).not.toMatch(/content-type/i);
  });

  test('proxy_redirect default with a URI part: the proxy_pass URL becomes the location prefix, made absolute', async () => {
    const app = await bench('/app/', `${b}/x/`);
    const to = (location: string) => `/app/redirect?to=${encodeURIComponent(location)}`;
    // `/app/redirect` goes upstream as `/x/redirect`, which the backend also answers.
    const rewritten = await request(app.port, to(`${b}/x/y?z=1`));
    expect(rewritten.status).toBe(302);
    expect(rewritten.headers.location).toBe(`http://127.0.0.1:${app.port}/app/y?z=1`);
    expect(rewritten.headers.refresh).toBe('5; url=/app/y?z=1');
    expect((await request(app.port, to('http://elsewhere/x/y'))).headers.location).toBe('http://elsewhere/x/y');
    expect((await request(app.port, to('/x/y'))).headers.location).toBe('/x/y');
  });

  test('proxy_redirect default without a URI part: URL/ becomes /; off leaves Location alone', async () => {
    const root = await bench('/', b);
    expect((await request(root.port, `/redirect?to=${encodeURIComponent(`${b}/a/b`)}`)).headers.location).toBe(`http://127.0.0.1:${root.port}/a/b`);
    const off = await bench('/', b, { proxyRedirect: [] });
    expect((await request(off.port, `/redirect?to=${encodeURIComponent(`${b}/a/b`)}`)).headers.location).toBe(`${b}/a/b`);
  });

  test('proxy_redirect redirect replacement: the first matching rule, variables in the replacement', async () => {
    const literal = await bench('/', b, {
      proxyRedirect: [
        { redirect: 'http://up/one/', replacement: 'https://$host/first/' },
        { redirect: 'http://up/', replacement: '/second/' },
      ],
    });
    const go = (location: string) => request(literal.port, `/redirect?to=${encodeURIComponent(location)}`, { headers: { Host: 'site.test' } });
    expect((await go('http://up/one/a')).headers.location).toBe('https://site.test/first/a');
    expect((await go('http://up/two')).headers.location).toBe(`http://site.test:${literal.port}/second/two`);
    expect((await go('HTTP://UP/two')).headers.location).toBe('HTTP://UP/two');
  });

  test('a chunked body over client_max_body_size: 413 and the backend never sees the request', async () => {
    const small = await bench('/', b, { clientMaxBodySize: 10 });
    const before = backend.seen.length;
    const over = await request(small.port, '/upload', { method: 'POST' }, ['0123456', '789abc']);
    expect(over.status).toBe(413);
    expect(over.headers['x-error-code']).toBe('GW_BODY_TOO_LARGE');
    expect(small.log.lines.some((l) => l.startsWith('error: client intended to send too large chunked body: 13 bytes'))).toBe(true);
    expect(backend.seen.length).toBe(before);
    const within = await request(small.port, '/upload', { method: 'POST' }, ['01234', '56789']);
    expect(JSON.parse(within.body)).toMatchObject({ body: '0123456789', headers: { 'content-length': '10' } });
    expect(backend.seen.slice(before)).toEqual(['POST /upload']);
  });
});

describe('proxy response directives in the configuration', () => {
  const site = (http: string, server: string, location: string) =>
    `http:\n${http}  servers:\n    - listen: 8080\n${server}      locations:\n        - location: /\n          proxy_pass: http://127.0.0.1:9\n${location}`;
  const optionsOf = (yaml: string) => buildVirtual(yaml).http.servers[0].locations[0].handlerOptions as ProxyOptions;

  test('defaults: buffering on, nginx hidden list, proxy_redirect default', () => {
    const options = optionsOf(site('', '', ''));
    expect(options.buffering).toBe(true);
    expect([...options.hidden].sort()).toEqual(['date', 'server', 'x-accel-buffering', 'x-accel-charset', 'x-accel-expires', 'x-accel-limit-rate', 'x-accel-redirect', 'x-pad']);
    expect(options.redirects).toHaveLength(1);
  });

  test('a lower level replaces each array whole; hide and pass inherit apart, as nginx', () => {
    const options = optionsOf(
      site('  proxy_hide_header: [X-A, X-B]\n  proxy_buffering: off\n', '      proxy_pass_header: Server\n', '          proxy_hide_header: X-C\n          proxy_redirect: "off"\n'),
    );
    expect(options.hidden.has('x-c')).toBe(true);
    expect(options.hidden.has('x-a')).toBe(false);
    expect(options.hidden.has('server')).toBe(false);
    expect(options.buffering).toBe(false);
    expect(options.redirects).toHaveLength(0);
  });

  test.each([
    ['          proxy_redirect: ["off", "default"]\n', '"proxy_redirect" directive is duplicate in /virtual/site.yaml:7:28'],
    ['          proxy_redirect: "~^http://(a/ /"\n', 'invalid regex "^http://(a/": /^http://(a//: Unterminated group in "proxy_redirect" in /virtual/site.yaml:7:27'],
    ['          proxy_redirect: "~^http://a/ /$nope"\n', 'unknown "nope" variable in "proxy_redirect" in /virtual/site.yaml:7:27'],
    ['          proxy_redirect: sometimes\n', 'invalid parameter "sometimes" in /virtual/site.yaml:7:27'],
    ['          proxy_redirect: "http://a/ $nope"\n', 'unknown "nope" variable in "proxy_redirect" in /virtual/site.yaml:7:27'],
    ['          proxy_hide_header: "X-A X-B"\n', 'invalid number of arguments in "proxy_hide_header" directive in /virtual/site.yaml:7:30'],
    ['          proxy_buffering: sometimes\n', 'invalid value "sometimes", it must be "on" or "off" in /virtual/site.yaml:7:28'],
    ['          proxy_buffers: "8"\n', 'invalid number of arguments in "proxy_buffers" directive in /virtual/site.yaml:7:26'],
    ['          proxy_cache: zone\n', '"proxy_cache" zone "zone" is unknown in /virtual/site.yaml:7:11'],
    ['          proxy_request_buffering: sometimes\n', 'invalid value "sometimes", it must be "on" or "off" in /virtual/site.yaml:7:36'],
    ['          client_body_temp_path: "tmp/body 1 2"\n', 'the levels of "client_body_temp_path" are not supported yet in /virtual/site.yaml:7:34'],
  ])('%s', (location, message) => {
    expect(configErrorOf(site('', '', location))).toBe(message);
  });
});
