/**
 * nchan's directives, against nchan itself: the very same nginx.conf (nchan_subscriber,
 * nchan_publisher, nchan_channel_id) given to nginx 1.22 with Debian's ngx_nchan_module and to
 * the gateway, and the same requests sent to both: publish and channel-state status codes and
 * bodies in nchan's four formats, the 403s and 404s, what an EventSource and a WebSocket
 * subscriber receive (the kept messages first, nchan_subscriber_first_message oldest, then
 * live ones), a DELETE, nchan_pubsub's echo, cross-origin headers and checks. Message ids differ by design (nchan `sec:n`, the gateway `ms-n`): they
 * are compared as `ID`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { startGateway, type GatewayProcess } from '../helpers/gateway-process';
import { sseSubscribe, wsSubscribe } from '../helpers/push-clients';
import { findNginx } from './pair';
import { freePort, waitForPort } from '../helpers/ports';

const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

const site = (port: number) => `load_module ${NCHAN_MODULE};
worker_processes 1;
error_log stderr notice;
pid nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path tmp/${kind};\n`).join('')}  server {
    listen 127.0.0.1:${port};
    location ~ ^/sub/(\\w+)$ {
      nchan_subscriber;
      nchan_channel_id $1;
    }
    location ~ ^/es/(\\w+)$ {
      nchan_subscriber eventsource;
      nchan_channel_id $1;
    }
    location ~ ^/ws/(\\w+)$ {
      nchan_subscriber websocket;
      nchan_channel_id $1;
    }
    location ~ ^/pubsub/(\\w+)$ {
      nchan_pubsub;
      nchan_channel_id $1;
    }
    location ~ ^/wspubsub/(\\w+)$ {
      nchan_pubsub websocket;
      nchan_channel_id $1;
    }
    location = /split {
      nchan_pubsub;
      nchan_publisher_channel_id $arg_p;
      nchan_sub_channel_id $arg_s;
    }
    location ~ ^/strict/(\\w+)$ {
      nchan_pubsub;
      nchan_channel_id $1;
      nchan_access_control_allow_origin "http://good.example https://also.example";
      nchan_access_control_allow_credentials off;
    }
    location ~ ^/anyorigin/(\\w+)$ {
      nchan_publisher;
      nchan_channel_id $1;
      nchan_access_control_allow_origin *;
    }
    location ~ ^/idle/(\\w+)$ {
      nchan_subscriber;
      nchan_channel_id $1;
      nchan_subscriber_timeout 1;
    }
    location ~ ^/ping/(\\w+)$ {
      nchan_subscriber;
      nchan_channel_id $1;
      nchan_eventsource_ping_interval 1;
    }
    location ~ ^/ping2/(\\w+)$ {
      nchan_subscriber;
      nchan_channel_id $1;
      nchan_eventsource_ping_interval 1;
      nchan_eventsource_ping_comment "still here";
      nchan_eventsource_ping_event "";
      nchan_eventsource_ping_data "d $1";
    }
    location ~ ^/pub/(\\w+)$ {
      nchan_publisher;
      nchan_channel_id $1;
      nchan_message_buffer_length 3;
    }
  }
}
`;

/** A message id of either side, as the comparison writes it. */
const ids = (text: string) => text.replace(/\b\d+[:-]\d+\b/g, (id) => (id === '0:0' ? id : 'ID'));

/** `METHOD path`'s status, content type, Allow, and body (ids as `ID`), as one line. */
function ask(port: number, method: string, target: string, body?: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      const access = Object.entries(res.headers)
        .filter(([name]) => name.startsWith('access-control-'))
        .map(([name, value]) => `${name}: ${value}`)
        .sort()
        .join('; ');
      res.on('end', () => resolve(`${res.statusCode} ${res.headers['content-type'] ?? '-'} ${res.headers.allow ?? '-'} ${JSON.stringify(ids(text))}${access ? ` [${access}]` : ''}`));
    });
    req.setTimeout(3000, () => req.destroy(new Error(`${method} ${target}: no answer in 3 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Waits until the next wall-clock second begins. */
async function startOfSecond(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000)));
}

/** An event stream's text from its head to its end (at most 3 s), or for `forMs` only. */
function rawStream(port: number, target: string, forMs?: number): { opened: Promise<void>; text: Promise<string> } {
  let opened!: () => void;
  const openedPromise = new Promise<void>((resolve) => (opened = resolve));
  const text = new Promise<string>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: target, agent: false, headers: { Accept: 'text/event-stream' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.once('data', () => opened());
      res.on('close', () => resolve(body));
      if (forMs !== undefined) setTimeout(() => req.destroy(), forMs);
    });
    req.setTimeout(3000, () => req.destroy(new Error(`${target}: the stream did not end in 3 s`)));
    req.on('error', reject);
  });
  return { opened: openedPromise, text };
}

/** Everything one side answers, in order: the same steps for both. */
async function scenario(port: number): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  out['POST, no subscriber'] = await ask(port, 'POST', '/pub/a', 'one');
  out['PUT, no subscriber, Accept text/json'] = await ask(port, 'PUT', '/pub/a', 'two', { Accept: 'text/json' });
  out['GET state'] = await ask(port, 'GET', '/pub/a');
  out['GET state, Accept application/x-yaml'] = await ask(port, 'GET', '/pub/a', undefined, { Accept: 'application/x-yaml' });
  out['GET state, Accept text/xml'] = await ask(port, 'GET', '/pub/a', undefined, { Accept: 'text/xml' });
  out['GET state, Accept text/html, text/json'] = await ask(port, 'GET', '/pub/a', undefined, { Accept: 'text/html, text/json' });
  out['GET state of no channel'] = await ask(port, 'GET', '/pub/none');
  out['DELETE no channel'] = await ask(port, 'DELETE', '/pub/none');
  out['OPTIONS on a publisher'] = await ask(port, 'OPTIONS', '/pub/a');
  out['POST to a subscriber'] = await ask(port, 'POST', '/es/a', 'x');
  out['GET without Accept at an eventsource location'] = await ask(port, 'GET', '/es/a');
  out['EventSource at a websocket location'] = await ask(port, 'GET', '/ws/a', undefined, { Accept: 'text/event-stream' });
  out['plain GET at a websocket location'] = await ask(port, 'GET', '/ws/a');
  out['WebSocket at an eventsource location'] = await wsSubscribe(port, '/es/a').then(
    (s) => (s.close(), 'open'),
    (err: { status?: number }) => err.status ?? String(err),
  );
  // Subscribers: the kept messages first (oldest), then what is published while they listen.
  const sse = await sseSubscribe(port, '/es/a');
  const ws = await wsSubscribe(port, '/ws/a');
  await Promise.all([sse.waitFor(2), ws.waitFor(2)]);
  out['a subscriber is there: GET state'] = await ask(port, 'GET', '/pub/a', undefined, { Accept: 'text/json' });
  out['POST, two subscribers'] = await ask(port, 'POST', '/pub/a', 'three\nlines', { 'Content-Type': 'text/plain' });
  out['POST past the buffer length'] = await ask(port, 'POST', '/pub/a', 'four');
  out['EventSource data'] = (await sse.waitFor(4)).map((m) => m.data);
  out['EventSource ids'] = (await sse.waitFor(4)).map((m) => ids(m.id ?? 'none'));
  out['WebSocket data'] = (await ws.waitFor(4)).map((m) => m.data);
  out['DELETE with subscribers'] = await ask(port, 'DELETE', '/pub/a');
  // Both subscribers are let go. (A GET right after is where the two differ: nchan still shows
  // the deleted channel, empty, for a while; the gateway answers 404 at once.)
  const [, wsEnd] = await Promise.all([sse.ended, ws.ended]);
  out['DELETE: how the WebSocket subscriber is closed'] = wsEnd;
  // An event stream's bytes, from its head to the end a DELETE makes.
  await ask(port, 'POST', '/pub/raw', 'kept');
  const raw = rawStream(port, '/es/raw');
  await raw.opened;
  await ask(port, 'POST', '/pub/raw', 'live\ntwo lines');
  await new Promise((r) => setTimeout(r, 100));
  await ask(port, 'DELETE', '/pub/raw');
  out['an event stream, byte for byte'] = ids(await raw.text);
  // nchan_pubsub: a WebSocket's messages are published (text stays text, binary binary), POST publishes.
  const echo = await wsSubscribe(port, '/pubsub/e');
  const listener = await sseSubscribe(port, '/pubsub/e');
  echo.ws.send('said');
  echo.ws.send(Buffer.from('bytes'));
  out['pubsub: the WebSocket gets its own messages'] = await echo.waitFor(2);
  out['pubsub: POST'] = await ask(port, 'POST', '/pubsub/e', 'posted');
  out['pubsub: the EventSource gets them all'] = (await listener.waitFor(3)).map((m) => m.data);
  // (A GET without Accept is where the two differ: nchan long-polls, the gateway has no long-poll: 403.)
  out['pubsub: OPTIONS'] = await ask(port, 'OPTIONS', '/pubsub/e');
  out['pubsub: DELETE'] = await ask(port, 'DELETE', '/pubsub/e');
  await Promise.all([echo.ended, listener.ended]);
  out['pubsub websocket only: POST'] = await ask(port, 'POST', '/wspubsub/e', 'x');
  out['pubsub websocket only: EventSource'] = await ask(port, 'GET', '/wspubsub/e', undefined, { Accept: 'text/event-stream' });
  // nchan_publisher_channel_id / nchan_sub_channel_id: a pubsub that publishes to one channel and listens to another.
  const down = await sseSubscribe(port, '/split?s=down');
  const relay = await wsSubscribe(port, '/split?s=side&p=down');
  out['split: POST to p=down'] = await ask(port, 'POST', '/split?p=down&s=other', 'up');
  relay.ws.send('from the socket');
  out['split: what s=down hears'] = (await down.waitFor(2)).map((m) => m.data);
  out['split: what the socket on s=side hears'] = relay.received.map((m) => m.data);
  down.close();
  relay.close();
  // Cross-origin requests: nchan's Access-Control headers, its preflight answers, its origin check.
  const origin = { Origin: 'http://good.example' };
  out['CORS: POST'] = await ask(port, 'POST', '/pub/o', 'x', origin);
  out['CORS: GET state of no channel'] = await ask(port, 'GET', '/pub/nothing', undefined, origin);
  out['CORS: OPTIONS at a publisher'] = await ask(port, 'OPTIONS', '/pub/o', undefined, { ...origin, 'Access-Control-Request-Method': 'POST' });
  out['CORS: OPTIONS at a subscriber'] = await ask(port, 'OPTIONS', '/es/o', undefined, origin);
  out['CORS: OPTIONS at a subscriber, no Origin'] = await ask(port, 'OPTIONS', '/es/o');
  out['CORS: OPTIONS at a pubsub'] = await ask(port, 'OPTIONS', '/pubsub/o', undefined, origin);
  out['CORS: a refused GET at a subscriber'] = await ask(port, 'GET', '/es/o', undefined, origin);
  const cross = await sseSubscribe(port, '/es/o', origin);
  out['CORS: EventSource head'] = Object.keys(cross.headers).filter((name) => name.startsWith('access-control-')).sort().map((name) => `${name}: ${cross.headers[name]}`);
  cross.close();
  out['CORS: an allowed origin'] = await ask(port, 'POST', '/strict/o2', 'x', origin);
  out['CORS: the second allowed origin'] = await ask(port, 'POST', '/strict/o2', 'x', { Origin: 'https://also.example' });
  out['CORS: an origin not allowed'] = await ask(port, 'POST', '/strict/o2', 'x', { Origin: 'http://evil.example' });
  out['CORS: an origin not allowed, subscribing'] = await ask(port, 'GET', '/strict/o2', undefined, { Origin: 'http://evil.example', Accept: 'text/event-stream' });
  out['CORS: no origin where origins are limited'] = await ask(port, 'POST', '/strict/o2', 'x');
  out['CORS: a WebSocket from an origin not allowed'] = await new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/strict/o2`, { origin: 'http://evil.example' });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
    ws.once('open', () => (ws.terminate(), resolve('open')));
    ws.once('error', (err) => resolve(String(err)));
  });
  out['CORS: allow_origin *'] = await ask(port, 'POST', '/anyorigin/o3', 'x', origin);
  // nchan_subscriber_timeout: a second without a message ends the subscriber (a message starts the second again).
  const idleStream = rawStream(port, '/idle/t');
  const idleSocket = await wsSubscribe(port, '/idle/t');
  await idleStream.opened;
  await new Promise((r) => setTimeout(r, 400));
  await ask(port, 'POST', '/pub/t', 'keeps them');
  out['subscriber timeout: the event stream'] = ids(await idleStream.text);
  out['subscriber timeout: the WebSocket'] = [idleSocket.received.map((m) => m.data), await idleSocket.ended];
  // nchan_eventsource_ping_*: two pings in 2.5 s, nchan's lines (its default, then its own words).
  const [pings, ownPings] = await Promise.all([rawStream(port, '/ping/p', 2500).text, rawStream(port, '/ping2/p', 2500).text]);
  out['EventSource pings'] = [pings, ownPings];
  // A channel that has a subscriber and no message yet. nchan counts "last requested" in nginx's
  // whole seconds: both requests go right after a second begins, so that neither side sees one pass.
  await startOfSecond();
  const waiting = await sseSubscribe(port, '/sub/b');
  out['GET state of a channel with a subscriber only'] = await ask(port, 'GET', '/pub/b');
  waiting.close();
  return out;
}

const haveNchan = existsSync(NCHAN_MODULE);

describe('nchan directives: the gateway answers as nginx 1.22 with nchan 1.3 does', () => {
  let prefix: string;
  let nginx: ChildProcess;
  let nginxPort: number;
  let gw: GatewayProcess;
  beforeAll(async () => {
    if (!haveNchan) throw new Error(`the nchan parity cases need ${NCHAN_MODULE} (Debian's libnginx-mod-nchan)`);
    prefix = mkdtempSync(path.join(os.tmpdir(), 'gateway-parity-nchan-'));
    for (const dir of ['logs', 'tmp']) mkdirSync(path.join(prefix, dir));
    nginxPort = await freePort();
    writeFileSync(path.join(prefix, 'nginx.conf'), site(nginxPort));
    nginx = spawn(findNginx(), ['-p', `${prefix}/`, '-c', path.join(prefix, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off; master_process off;'], { stdio: 'ignore' });
    await waitForPort(nginxPort, nginx);
    gw = await startGateway(site(0).replace('pid nginx.pid;', 'pid off;'), { confName: 'nginx.conf', files: { 'tmp/.keep': '' } });
  });
  afterAll(async () => {
    await gw?.stop();
    if (nginx && nginx.exitCode === null) {
      const gone = new Promise((resolve) => nginx.once('exit', resolve));
      process.kill(nginx.pid!, 'SIGTERM');
      await gone;
    }
    if (prefix) rmSync(prefix, { recursive: true, force: true });
  });

  test('publish, channel state, refusals, subscribers and DELETE: the same answers', async () => {
    const fromNchan = await scenario(nginxPort);
    // The oracle does what nchan's README says.
    expect(fromNchan['POST, no subscriber']).toMatch(/^202 text\/plain /);
    expect(fromNchan['POST, two subscribers']).toMatch(/^201 /);
    expect(await scenario(gw.ports[0])).toEqual(fromNchan);
  });
});
