/** The shipped examples, run as a user runs them: conf/examples/*.yaml with handlers/ from the project. */
import { mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { makePrefix, ROOT, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

/** An example configuration moved to a free loopback port, logging to stderr. */
function example(name: string, port: number): string {
  const yaml = readFileSync(path.join(ROOT, 'conf/examples', name), 'utf8');
  const moved = yaml
    .replace(`listen: ${port}`, 'listen: "127.0.0.1:0"')
    .replace('error_log: logs/error.log info', 'error_log: stderr info\npid: off')
    .replace('http:\n', 'http:\n  access_log: "off"\n');
  if (!moved.includes('127.0.0.1:0') || !moved.includes('pid: off')) throw new Error(`conf/examples/${name} changed: update this test`);
  return moved;
}

describe('hello: a user HTTP handler', () => {
  let gw: GatewayProcess;
  beforeAll(async () => (gw = await startGateway(example('hello.yaml', 8081), { prefix: ROOT })));
  afterAll(() => gw.stop());

  test('by bare name, as JSON', async () => {
    const r = await request(gw.ports[0], '/hello/there?name=Ada', { headers: { Host: 'Example.org:99' } });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.body.toString())).toEqual({ greeting: 'Hello from the gateway', uri: '/hello/there', args: 'name=Ada', host: 'example.org', remoteAddr: '127.0.0.1', name: 'Ada' });
  });
  test('by path, as text', async () => {
    const r = await request(gw.ports[0], '/hello.txt?name=Bob');
    expect(r.body.toString()).toBe('Hello, Bob! You asked for /hello.txt on 127.0.0.1.\n');
  });
  test('its own 405, and the response filters apply to its output', async () => {
    const post = await request(gw.ports[0], '/hello', { method: 'POST' });
    expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD']);
    expect(post.headers.server).toMatch(/^gateway\//);
  });
  test('the static site beside it', async () => {
    expect((await request(gw.ports[0], '/websocket.html')).status).toBe(200);
  });
});

describe('clock: a user WebSocket script', () => {
  let gw: GatewayProcess;
  beforeAll(async () => (gw = await startGateway(example('clock.yaml', 8082), { prefix: ROOT })));
  afterAll(() => gw.stop());

  test('ticks on its receive timeout, answers commands, stops with 1000', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports[0]}/clock`);
    const messages: string[] = [];
    const waitFor = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => (messages.length >= n ? resolve() : ws.once('message', (d) => (messages.push(d.toString()), check())));
        check();
      });
    await waitFor(2);
    expect(messages.slice(0, 2).every((m) => /^time: \d{4}-\d\d-\d\dT/.test(m))).toBe(true);
    ws.send('hello');
    await new Promise<void>((resolve) => {
      const check = () => (messages.includes('HELLO') ? resolve() : ws.once('message', (d) => (messages.push(d.toString()), check())));
      check();
    });
    const closed = new Promise<[number, string]>((resolve) => ws.once('close', (code, reason) => resolve([code, reason.toString()])));
    ws.send('stop');
    expect(await closed).toEqual([1000, 'stopped']);
  });

  test('the echo beside it', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports[0]}/s`);
    await new Promise((r) => ws.once('open', r));
    ws.send('ping me');
    expect((await new Promise<Buffer>((r) => ws.once('message', r))).toString()).toBe('ping me');
    ws.close();
  });
});

describe('a handler written outside the checkout imports the gateway by its package name', () => {
  const HANDLER = `
import { defineHandler, HttpError, ERROR_CODES, type RequestContext } from 'gateway';

/** Greets by a template compiled at load; a 404 of the gateway's own for /outside/missing. */
export default defineHandler({
  configure(_raw, cx) {
    return { template: cx.compile(cx.string('greeting') ?? 'hello $arg_name'), codes: Object.keys(ERROR_CODES).length };
  },
  create({ template, codes }) {
    return {
      http(_req, res, ctx: RequestContext) {
        if (ctx.uri === '/outside/missing') throw new HttpError(404);
        res.end(\`\${ctx.evaluate(template)} (\${codes > 0 ? 'codes known' : 'no codes'})\`);
      },
    };
  },
});
`;
  let gw: GatewayProcess;
  let prefix: string;
  beforeAll(async () => {
    prefix = makePrefix({ 'handlers/outside.ts': HANDLER });
    // As `npm install <the gateway>` leaves it in the user's project.
    mkdirSync(path.join(prefix, 'node_modules'));
    symlinkSync(ROOT, path.join(prefix, 'node_modules/gateway'), 'dir');
    const yaml = 'master_process: off\nerror_log: stderr notice\npid: off\nhttp:\n  access_log: "off"\n  servers:\n    - listen: "127.0.0.1:0"\n      locations:\n        - { location: /outside/, handler: outside, greeting: "hi $arg_name" }\n';
    gw = await startGateway(yaml, { prefix });
  });
  afterAll(async () => {
    await gw?.stop();
    rmSync(prefix, { recursive: true, force: true });
  });

  test('its types, defineHandler, the error classes and the code catalogue come from the package', async () => {
    const r = await request(gw.ports[0], '/outside/x?name=Ada');
    expect([r.status, r.body.toString()]).toEqual([200, 'hi Ada (codes known)']);
    const missing = await request(gw.ports[0], '/outside/missing');
    expect(missing.status).toBe(404);
    expect(missing.body.toString()).toContain('<center><h1>404 Not Found</h1></center>');
  });
});
