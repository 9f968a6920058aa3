/**
 * The rewrite module in a running gateway: `rewrite_log` lines and the loop limit's error line
 * as nginx 1.22 writes them (the lines below were taken from nginx with the same locations and
 * requests), and WebSocket upgrades that go through server- and location-level directives.
 */
import { mkdirSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import WebSocket from 'ws';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

const SITE = `
error_log: stderr notice
pid: off
http:
  access_log: "off"
  servers:
    - listen: 127.0.0.1:0
      rewrite_log: on
      locations:
        - { location: /a/, rewrite: "^/a/(.*)$ /b/$1?x=1 last" }
        - location: /b/
          if: { condition: "$arg_x ~ (1)", return: '200 "ok $1\\n"' }
        - { location: /loop/, rewrite: "^ /loop/x last" }
        - { location: /e/, rewrite: "^/e/(.*)$ $1" }
        - { location: /redos/, rewrite: "^/redos/(a+)+$ /x", return: '200 "answered\\n"' }
        - { location: "~ ^/redos-location/(a+)+$", return: '200 "matched\\n"' }
        - location: /f
          root: www
          if:
            - { condition: "-f $document_root/lp/a", return: '200 "f\\n"' }
            - { condition: "!-e $document_root/lp/a", return: '200 "not e\\n"' }
          return: '200 "none\\n"'
        - { location: /uw-a, set: "$uw 1", return: '200 "a$uw\\n"' }
        - { location: /uw-b, return: '200 "b[$uw]\\n"' }
        - { location: /uw-c, uninitialized_variable_warn: "off", return: '200 "c[$uw]\\n"' }
        - { location: "~ ^/uw-d(?<nm>x)?", return: '200 "d[$nm]\\n"' }
    - listen: 127.0.0.1:0
      server_name: ws.test
      if: { condition: "$http_x_moved", return: "301 http://moved.test$request_uri" }
      rewrite: "^/old-ws$ /ws"
      locations:
        - { location: /ws, handler: websocket-script, script: echo }
        - { location: /via-rewrite, rewrite: "^ /ws last" }
        - { location: /ws-guarded, handler: websocket-script, script: echo, if: { condition: "$arg_deny", return: 403 } }
`;

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await startGateway(SITE);
});
afterAll(async () => {
  await gw.stop();
});

/** The error log's lines for one request, without the time, pid and connection number. */
function linesFor(requestLine: string): string[] {
  return gw
    .stderr()
    .split('\n')
    .filter((l) => l.includes(`request: "${requestLine}"`))
    .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: (\*\d+ )?/, '[$1] ').replace(/, client: .*$/, ''));
}

async function settled(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
}

test('rewrite_log: what matched, what was rewritten, a regex of if', async () => {
  const res = await request(gw.ports[0], '/a/q?y=2');
  expect([res.status, res.body.toString()]).toEqual([200, 'ok 1\n']);
  await settled(() => linesFor('GET /a/q?y=2 HTTP/1.1').length >= 3);
  expect(linesFor('GET /a/q?y=2 HTTP/1.1')).toEqual([
    '[notice] "^/a/(.*)$" matches "/a/q"',
    '[notice] rewritten data: "/b/q", args: "x=1&y=2"',
    '[notice] "(1)" matches "1"',
  ]);
});

test('a rewrite loop: 500 after 10 changes, and nginx\'s error line', async () => {
  const res = await request(gw.ports[0], '/loop/');
  expect(res.status).toBe(500);
  await settled(() => linesFor('GET /loop/ HTTP/1.1').some((l) => l.startsWith('[error]')));
  const lines = linesFor('GET /loop/ HTTP/1.1');
  expect(lines.filter((l) => l === '[notice] "^" matches "/loop/x"')).toHaveLength(10);
  expect(lines.at(-1)).toBe('[error] rewrite or internal redirection cycle while processing "/loop/x"');
});

test('a rewrite to an empty URI: 500 and its error line', async () => {
  expect((await request(gw.ports[0], '/e/')).status).toBe(500);
  await settled(() => linesFor('GET /e/ HTTP/1.1').length >= 3);
  expect(linesFor('GET /e/ HTTP/1.1')).toEqual(['[notice] "^/e/(.*)$" matches "/e/"', '[notice] rewritten data: "", args: ""', '[error] the rewritten URI has a zero length']);
});

test('a regex that backtracks exponentially on what a client sends: answered at once, the worker free', async () => {
  const hostile = 'a'.repeat(40) + '!';
  const started = performance.now();
  const [rewrite, location] = await Promise.all([request(gw.ports[0], `/redos/${hostile}`), request(gw.ports[0], `/redos-location/${hostile}`)]);
  // Without the bound, each match takes minutes (2^40 backtracks); nginx's PCRE stops at its match limit (500 in 0.43 s).
  expect(performance.now() - started).toBeLessThan(3000);
  expect([rewrite.status, rewrite.body.toString()]).toEqual([200, 'answered\n']);
  expect(location.status).toBe(404);
  expect((await request(gw.ports[0], '/redos/aaa')).body.toString()).toBe('answered\n');
});

test('uninitialized_variable_warn: a set variable read where nothing set it, as nginx warns', async () => {
  const bodies = [];
  for (const path of ['/uw-a', '/uw-b', '/uw-c', '/uw-d']) bodies.push((await request(gw.ports[0], path)).body.toString());
  expect(bodies).toEqual(['a1\n', 'b[]\n', 'c[]\n', 'd[]\n']);
  await settled(() => linesFor('GET /uw-b HTTP/1.1').length > 0);
  // nginx 1.22 with the same locations: one line, for /uw-b only (off in /uw-c; a named capture is no `set` variable).
  expect(['/uw-a', '/uw-b', '/uw-c', '/uw-d'].flatMap((p) => linesFor(`GET ${p} HTTP/1.1`))).toEqual(['[warn] using uninitialized "uw" variable']);
});

test('a file test whose stat fails otherwise than "not there": false, and nginx\'s crit line', async () => {
  mkdirSync(path.join(gw.prefix, 'www/lp'), { recursive: true });
  symlinkSync(path.join(gw.prefix, 'www/lp/b'), path.join(gw.prefix, 'www/lp/a'));
  symlinkSync(path.join(gw.prefix, 'www/lp/a'), path.join(gw.prefix, 'www/lp/b'));
  expect((await request(gw.ports[0], '/f')).body.toString()).toBe('not e\n');
  await settled(() => linesFor('GET /f HTTP/1.1').length >= 2);
  // nginx 1.22: the same two lines (one per test), and "not e".
  expect(linesFor('GET /f HTTP/1.1')).toEqual(Array(2).fill(`[crit] stat() "${gw.prefix}/www/lp/a" failed (40: Too many levels of symbolic links)`));
});

/** Opens a WebSocket and echoes one message. */
async function echo(path: string): Promise<string> {
  const ws = new WebSocket(`ws://127.0.0.1:${gw.ports[0]}${path}`, { headers: { Host: 'ws.test' } });
  try {
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const message = new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())));
    ws.send('hello');
    return await message;
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}\n${gw.stderr().split('\n').slice(-5).join('\n')}`);
  } finally {
    ws.close();
  }
}

test('an upgrade goes through a server-level rewrite and a location\'s rewrite last', async () => {
  expect(await echo('/ws')).toBe('hello');
  expect(await echo('/old-ws')).toBe('hello');
  expect(await echo('/via-rewrite')).toBe('hello');
});

test('a WebSocket location with a return inside an if: upgraded when the condition fails, answered when it holds', async () => {
  expect(await echo('/ws-guarded')).toBe('hello');
  await expect(echo('/ws-guarded?deny=1')).rejects.toThrow(/Unexpected server response: 403/);
});

test('an upgrade a server-level return answers: the redirect, as HTTP', async () => {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: gw.ports[0], path: '/ws?a=1', headers: { Host: 'ws.test', Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13', 'X-Moved': '1' } });
    req.on('response', resolve).on('upgrade', () => reject(new Error('upgraded'))).on('error', reject).end();
  });
  res.resume();
  expect(res.statusCode).toBe(301);
  expect(res.headers.location).toBe('http://moved.test/ws?a=1');
});
