/**
 * nchan's directives as the push module's nginx syntax: an nchan user's nginx.conf checks as
 * written (`nchan_subscriber`, `nchan_publisher`, `nchan_channel_id` with variables, the
 * buffer settings, `nchan_redis_url` + `nchan_use_redis`), what the gateway lacks is refused as
 * `not supported yet` at the argument that asks for it, and such a file serves an EventSource
 * subscriber, a WebSocket subscriber and a publisher end to end, answering as nchan does.
 */
import http from 'node:http';
import { buildConfig, readOptionsOf } from '../src/config/build';
import type { MainConf } from '../src/config/model';
import { parseNginxText } from '../src/config/nginx/read';
import { ConfigError } from '../src/errors';
import { pushModule, pushRedisUrlOf } from '../src/modules/push/module';
import { infoFormat, nchanChannelInfo } from '../src/modules/push/nchan-info';
import { nchanSsePing } from '../src/modules/push/sse';
import type { PushPublisherOptions } from '../src/modules/push/publisher';
import type { PushSubscriberOptions } from '../src/modules/push/subscriber';
import { REGISTRY } from '../src/modules/registry';
import { startGateway, waitForWorkers, type GatewayProcess } from './helpers/gateway-process';
import WebSocket from 'ws';
import { fdTotal, sseSubscribe, workerPids, wsSubscribe } from './helpers/push-clients';
import { RedisServer } from './helpers/redis-server';

const FILE = '/virtual/nginx.conf';

const build = (text: string): MainConf => buildConfig(parseNginxText(text, FILE, undefined, readOptionsOf(REGISTRY)), FILE, '/virtual', REGISTRY);

/** A file with one server, its locations' bodies given (`location ~ ^/(\w+)/(\w+)$` for each, in order, numbered). */
function site(http: string, ...bodies: string[]): string {
  const locations = bodies.map((body, i) => `    location ~ ^/l${i}/(\\w+)/(\\w+)$ {\n      ${body}\n    }`).join('\n');
  return `events {}\nhttp {\n${http}  server {\n    listen 127.0.0.1:1;\n${locations}\n  }\n}\n`;
}

function errorOf(text: string): string {
  try {
    build(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('no error');
}

describe("nchan's directives, read", () => {
  test("the README's basic config: /sub a subscriber, /pub a publisher, of channel foobar", () => {
    const conf = build('worker_processes 5;\nhttp {\n  server {\n    listen 80;\n    location = /sub { nchan_subscriber; nchan_channel_id foobar; }\n    location = /pub { nchan_publisher; nchan_channel_id foobar; }\n  }\n}\n');
    const [sub, pub] = conf.http.servers[0].locations;
    expect([sub.handler, pub.handler]).toEqual(['push-subscriber', 'push-publisher']);
    const subscriber = sub.handlerOptions as PushSubscriberOptions;
    expect([subscriber.channel.constant, subscriber.websocket, subscriber.eventsource, subscriber.nchan]).toEqual(['foobar', true, true, { replay: true, cors: { allowOrigin: null, allowCredentials: true }, timeout: 0, lastId: null }]);
    const publisher = pub.handlerOptions as PushPublisherOptions;
    expect([publisher.channel.constant, publisher.nchan, publisher.limits]).toEqual(['foobar', { cors: { allowOrigin: null, allowCredentials: true }, kind: 'publisher' }, { bufferLength: 10, timeoutMs: 3_600_000 }]);
  });

  test('nchan_pubsub: a subscriber and a publisher in one location, WebSocket messages published', () => {
    const conf = build(site('', 'nchan_pubsub; nchan_channel_id $1;', 'nchan_pubsub websocket; nchan_channel_id $1;'));
    const [both, wsOnly] = conf.http.servers[0].locations;
    expect([both.handler, wsOnly.handler]).toEqual(['push-pubsub', 'push-pubsub']);
    const options = both.handlerOptions as { subscriber: PushSubscriberOptions; publisher: PushPublisherOptions; http: boolean };
    expect([options.http, options.subscriber.websocket, options.subscriber.eventsource, options.subscriber.publishFrames?.limits, options.publisher.nchan?.kind]).toEqual([true, true, true, { bufferLength: 10, timeoutMs: 3_600_000 }, 'pubsub']);
    const ws = wsOnly.handlerOptions as typeof options;
    expect([ws.http, ws.subscriber.websocket, ws.subscriber.eventsource]).toEqual([false, true, false]);
  });

  test('nchan_publisher_channel_id and nchan_subscriber_channel_id (and their short names) over nchan_channel_id', () => {
    const conf = build(
      site('', 'nchan_pubsub; nchan_channel_id $1; nchan_publisher_channel_id to_$2;', 'nchan_pubsub; nchan_pub_channel_id up; nchan_sub_channel_id down;', 'nchan_subscriber; nchan_pubsub_channel_id $2; nchan_subscriber_channel_id x_$1;'),
    );
    const channels = conf.http.servers[0].locations.map((l) => {
      const o = l.handlerOptions as { subscriber?: PushSubscriberOptions; publisher?: PushPublisherOptions } & Partial<PushSubscriberOptions>;
      const sub = o.subscriber ?? (o as PushSubscriberOptions);
      return [sub.channel.constant ?? 'variable', o.publisher ? (o.publisher.channel.constant ?? 'variable') : '-', sub.publishFrames ? (sub.publishFrames.channel.constant ?? 'variable') : '-'];
    });
    expect(channels).toEqual([
      ['variable', 'variable', 'variable'],
      ['down', 'up', 'up'],
      ['variable', '-', '-'],
    ]);
  });

  test('subscriber types, first message, ping interval, buffer settings and an id inherited from the server', () => {
    const conf = build(
      'events {}\nhttp {\n  nchan_message_buffer_length 50;\n  server {\n    listen 80;\n    nchan_channel_id $1;\n' +
        '    location ~ ^/ws/(\\w+)$ { nchan_subscriber websocket; nchan_subscriber_first_message newest; nchan_websocket_ping_interval 5; }\n' +
        '    location ~ ^/es/(\\w+)$ { nchan_subscriber eventsource eventsource; }\n' +
        '    location ~ ^/pub/(\\w+)$ { nchan_publisher http; nchan_message_timeout 5m; }\n' +
        '    location ~ ^/quiet/(\\w+)$ { nchan_publisher; nchan_store_messages off; }\n  }\n}\n',
    );
    const [ws, es, pub, quiet] = conf.http.servers[0].locations;
    const wsOpts = ws.handlerOptions as PushSubscriberOptions;
    expect([wsOpts.websocket, wsOpts.eventsource, wsOpts.nchan, wsOpts.wsPingInterval, wsOpts.pingInterval, wsOpts.channel.constant]).toEqual([true, false, { replay: false, cors: { allowOrigin: null, allowCredentials: true }, timeout: 0, lastId: null }, 5000, 0, null]);
    const esOpts = es.handlerOptions as PushSubscriberOptions;
    expect([esOpts.websocket, esOpts.eventsource]).toEqual([false, true]);
    expect((pub.handlerOptions as PushPublisherOptions).limits).toEqual({ bufferLength: 50, timeoutMs: 300_000 });
    expect((quiet.handlerOptions as PushPublisherOptions).limits).toEqual({ bufferLength: 0, timeoutMs: 3_600_000 });
  });

  test('nchan_use_redis takes nchan_redis_url (nchan\'s host:port shorthand too), else nchan\'s 127.0.0.1:6379', () => {
    const redisOf = (http: string) => pushRedisUrlOf(build(site(http, 'nchan_subscriber; nchan_channel_id $1;')).http.confs.get(pushModule));
    expect(redisOf('')).toBeNull();
    expect(redisOf('  nchan_redis_url 10.0.0.2:6380;\n')).toBeNull();
    expect(redisOf('  nchan_redis_url 10.0.0.2:6380;\n  nchan_use_redis on;\n')).toBe('redis://10.0.0.2:6380');
    expect(redisOf('  nchan_redis_url redis://:secret@10.0.0.2:6379/1;\n  nchan_use_redis on;\n')).toBe('redis://:secret@10.0.0.2:6379/1');
    expect(redisOf('  nchan_use_redis on;\n')).toBe('redis://127.0.0.1:6379');
  });

  test.each([
    ['a subscriber type the gateway lacks, at its argument', site('', 'nchan_subscriber websocket longpoll; nchan_channel_id $1;'), 'subscriber type "longpoll" of "nchan_subscriber" is not supported yet in /virtual/nginx.conf:6:34'],
    ['each of the others', site('', 'nchan_subscriber multipart-mixed; nchan_channel_id $1;'), 'subscriber type "multipart-mixed" of "nchan_subscriber" is not supported yet in /virtual/nginx.conf:6:24'],
    ['a value nchan does not know either, in its wording', site('', 'nchan_subscriber eventsource sse; nchan_channel_id $1;'), 'invalid nchan_subscriber value: sse in /virtual/nginx.conf:6:36'],
    ['a WebSocket publisher', site('', 'nchan_publisher http websocket; nchan_channel_id $1;'), 'publisher type "websocket" of "nchan_publisher" is not supported yet in /virtual/nginx.conf:6:28'],
    ['multiplexed channels, at the second id', site('', 'nchan_subscriber; nchan_channel_id "$1" "$2" common;'), 'several channel ids in "nchan_channel_id" (multiplexed channels) are not supported yet in /virtual/nginx.conf:6:47'],
    ['a variable nobody defines', site('', 'nchan_subscriber; nchan_channel_id $nosuch;'), 'unknown "nosuch" variable in "nchan_channel_id" in /virtual/nginx.conf:6:42'],
    ['no channel id', site('', 'nchan_publisher;'), '"nchan_channel_id" directive is required in /virtual/nginx.conf:5:5'],
    ['a first message by count', site('', 'nchan_subscriber; nchan_channel_id $1; nchan_subscriber_first_message -2;'), 'a message count in "nchan_subscriber_first_message" is not supported yet in /virtual/nginx.conf:6:77'],
    ['a buffer length from a variable', site('', 'nchan_publisher; nchan_channel_id $1; nchan_message_buffer_length $arg_n;'), 'a variable in "nchan_message_buffer_length" is not supported yet in /virtual/nginx.conf:6:73'],
    ['a pubsub type the gateway lacks', site('', 'nchan_pubsub http chunked; nchan_channel_id $1;'), 'subscriber type "chunked" of "nchan_pubsub" is not supported yet in /virtual/nginx.conf:6:25'],
    ['another nchan directive', site('', 'nchan_subscriber; nchan_channel_id $1; nchan_channel_group test;'), '"nchan_channel_group" directive is not supported yet in /virtual/nginx.conf:6:46'],
    ['a subscriber that also publishes', site('', 'nchan_subscriber; nchan_publisher; nchan_channel_id $1;'), '"nchan_publisher" beside "nchan_subscriber" in one location is not supported yet (nchan_pubsub is both) in /virtual/nginx.conf:6:25'],
    ['a subscriber with another content handler', site('', 'nchan_subscriber; nchan_channel_id $1; proxy_pass http://127.0.0.1:1;'), '"nchan_subscriber" goes with handler "push-subscriber", not "proxy" in /virtual/nginx.conf:5:5'],
    ['nchan_redis_url in a server', 'events {}\nhttp {\n  server {\n    listen 80;\n    nchan_redis_url 127.0.0.1;\n  }\n}\n', '"nchan_redis_url" directive in a server block is not supported yet (write it in http) in /virtual/nginx.conf:5:5'],
    ['nchan_subscriber in a server', 'events {}\nhttp {\n  server {\n    listen 80;\n    nchan_subscriber;\n  }\n}\n', '"nchan_subscriber" directive in a server block is not supported yet (write it in a location) in /virtual/nginx.conf:5:5'],
    ['nchan_channel_id beside the YAML key', site('', 'nchan_subscriber; nchan_channel_id $1; channel $2;'), '"channel" beside "nchan_channel_id": write one of them in /virtual/nginx.conf:6:54'],
  ])('%s', (_case, text, message) => {
    expect(errorOf(text)).toBe(message);
  });
});

describe("nchan's event-stream pings", () => {
  test('a line for each word that is not empty, as written; a bare comment when none is', () => {
    expect(nchanSsePing('', 'ping', '')).toBe('event: ping\n\n');
    expect(nchanSsePing('still here', '', 'd $1')).toBe(':still here\ndata: d $1\n\n');
    expect(nchanSsePing('', '', '')).toBe(':\n\n');
  });

  test('read from the directives, at a subscriber location', () => {
    const conf = build(site('', 'nchan_subscriber; nchan_channel_id $1; nchan_eventsource_ping_interval 15s; nchan_eventsource_ping_data x;'));
    const options = conf.http.servers[0].locations[0].handlerOptions as PushSubscriberOptions;
    expect([options.pingInterval, options.ssePing, options.wsPingInterval]).toEqual([15_000, 'event: ping\ndata: x\n\n', 0]);
  });
});

describe("nchan's channel info formats", () => {
  test('Accept picks the format as nchan reads it', () => {
    expect(['', 'text/json', 'application/x-json', 'text/html, text/yaml', 'application/xml;q=0.9', '*/*'].map((a) => infoFormat(a || undefined))).toEqual(['plain', 'json', 'json', 'yaml', 'xml', 'plain']);
  });

  test('the four bodies, byte for byte as nchan 1.3 writes them', () => {
    const info = { messages: 2, requested: -1, subscribers: 0, lastMessageId: '1-0' };
    expect(nchanChannelInfo(undefined, info)).toEqual({ contentType: 'text/plain', body: 'queued messages: 2\r\nlast requested: -1 sec. ago\r\nactive subscribers: 0\r\nlast message id: 1-0' });
    expect(nchanChannelInfo('text/json', info).body).toBe('{"messages": 2, "requested": -1, "subscribers": 0, "last_message_id": "1-0" }');
    expect(nchanChannelInfo('text/yaml', info).body).toBe('---\r\nmessages: 2\r\nrequested: -1\r\nsubscribers: 0\r\nlast_message_id: "1-0"\r\n\r\n');
    expect(nchanChannelInfo('text/xml', info).body).toBe(
      '<?xml version="1.0" encoding="UTF-8" ?>\r\n<channel>\r\n  <messages>2</messages>\r\n  <requested>-1</requested>\r\n  <subscribers>0</subscribers>\r\n  <last_message_id>1-0</last_message_id>\r\n</channel>',
    );
  });
});

/** One request; the status, headers and body. */
function request(port: number, method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const NCHAN_SITE = `# An nchan user's file, as written for nginx with nchan.
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 2;
error_log stderr notice;
events { worker_connections 256; }
http {
  access_log off;
  nchan_message_buffer_length 5;
  nchan_message_timeout 10m;
  server {
    listen 127.0.0.1:0;
    location ~ ^/sub/(\\w+)$ {
      nchan_subscriber;
      nchan_channel_id $1;
    }
    location ~ ^/live/(\\w+)$ {
      nchan_subscriber websocket;
      nchan_subscriber_first_message newest;
      nchan_channel_id $1;
    }
    location ~ ^/es/(\\w+)$ {
      nchan_subscriber eventsource;
      nchan_channel_id $1;
    }
    location = /pub {
      nchan_publisher;
      nchan_channel_id $arg_id;
    }
    location ~ ^/pubsub/(\\w+)$ {
      nchan_pubsub;
      nchan_channel_id $1;
    }
    location ~ ^/idle/(\\w+)$ {
      nchan_subscriber;
      nchan_channel_id $1;
      nchan_subscriber_timeout 1;
    }
    location ~ ^/since/(\\w+)$ {
      nchan_subscriber;
      nchan_channel_id $1;
      nchan_subscriber_last_message_id $arg_since $http_x_since;
    }
    location = /either {
      nchan_channel_id either;
      nchan_publisher;
      if ($http_accept ~ event-stream) {
        nchan_subscriber;
      }
    }
  }
}
`;

describe('an nginx.conf with nchan directives, served', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGateway(NCHAN_SITE, { confName: 'nginx.conf' });
    // Both workers hold the listening socket before any descriptor count is taken.
    await waitForWorkers(gw, 2);
  });
  afterAll(() => gw.stop());

  test('EventSource and WebSocket subscribers get what POST publishes; the publisher answers as nchan', async () => {
    const port = gw.ports[0];
    const first = await request(port, 'POST', '/pub?id=room', 'kept');
    expect([first.status, first.headers['content-type']]).toEqual([202, 'text/plain']);
    expect(first.body).toMatch(/^queued messages: 1\r\nlast requested: -1 sec\. ago\r\nactive subscribers: 0\r\nlast message id: \d+-\d+$/);
    // nchan_subscriber_first_message oldest (the default): the kept message first.
    const sse = await sseSubscribe(port, '/sub/room');
    expect(sse.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect((await sse.waitFor(1)).map((m) => m.data)).toEqual(['kept']);
    const ws = await wsSubscribe(port, '/sub/room');
    expect((await ws.waitFor(1)).map((m) => m.data)).toEqual(['kept']);
    // newest: nothing replayed.
    const live = await wsSubscribe(port, '/live/room');
    const second = await request(port, 'POST', '/pub?id=room', 'hello', { Accept: 'text/json' });
    expect([second.status, second.headers['content-type']]).toEqual([201, 'text/json']);
    expect(JSON.parse(second.body)).toMatchObject({ messages: 2, requested: 0, subscribers: 3 });
    expect((await sse.waitFor(2)).map((m) => m.data)).toEqual(['kept', 'hello']);
    expect((await ws.waitFor(2)).map((m) => m.data)).toEqual(['kept', 'hello']);
    expect((await live.waitFor(1)).map((m) => m.data)).toEqual(['hello']);
    const state = await request(port, 'GET', '/pub?id=room', undefined, { Accept: 'text/yaml' });
    expect([state.status, state.headers['content-type']]).toEqual([200, 'text/yaml']);
    expect(state.body).toMatch(/^---\r\nmessages: 2\r\nrequested: 0\r\nsubscribers: 3\r\nlast_message_id: "\d+-\d+"\r\n\r\n$/);
    const deleted = await request(port, 'DELETE', '/pub?id=room');
    expect(deleted.status).toBe(200);
    await Promise.all([sse.ended, ws.ended, live.ended]);
    expect((await request(port, 'GET', '/pub?id=room')).status).toBe(404);
  });

  test('nchan_pubsub: what a WebSocket sends reaches every subscriber, itself included (an echo server); POST publishes there too', async () => {
    const port = gw.ports[0];
    const sse = await sseSubscribe(port, '/pubsub/echo');
    const ws = await wsSubscribe(port, '/pubsub/echo');
    ws.ws.send('said');
    ws.ws.send(Buffer.from([0, 1, 2]));
    expect(await ws.waitFor(2)).toEqual([
      { id: null, data: 'said', binary: false },
      { id: null, data: '000102', binary: true },
    ]);
    const posted = await request(port, 'POST', '/pubsub/echo', 'posted');
    expect(posted.status).toBe(201);
    expect(posted.body).toContain('active subscribers: 2\r\n');
    expect((await sse.waitFor(3)).map((m) => m.data)).toEqual(['said', '\u0000\u0001\u0002', 'posted']);
    expect((await ws.waitFor(3))[2].data).toBe('posted');
    expect((await request(port, 'DELETE', '/pubsub/echo')).status).toBe(200);
    await Promise.all([sse.ended, ws.ended]);
  });

  test('nchan_subscriber inside a location\'s if (nchan allows it there): the condition picks the subscriber', async () => {
    const port = gw.ports[0];
    const sse = await sseSubscribe(port, '/either');
    const published = await request(port, 'POST', '/either', 'chosen');
    expect(published.status).toBe(201);
    expect((await sse.waitFor(1)).map((m) => m.data)).toEqual(['chosen']);
    sse.close();
  });

  test('nchan_subscriber_last_message_id: the first of its values that is not empty names the last id seen', async () => {
    const port = gw.ports[0];
    const first = await request(port, 'POST', '/pub?id=since', 'one', { Accept: 'text/json' });
    await request(port, 'POST', '/pub?id=since', 'two');
    const firstId = JSON.parse(first.body).last_message_id as string;
    const byArg = await sseSubscribe(port, `/since/since?since=${firstId}`);
    const byHeader = await sseSubscribe(port, '/since/since', { 'X-Since': firstId });
    // Last-Event-ID is not among this location's values: everything kept is replayed.
    const neither = await sseSubscribe(port, '/since/since', { 'Last-Event-ID': firstId });
    expect((await byArg.waitFor(1)).map((m) => m.data)).toEqual(['two']);
    expect((await byHeader.waitFor(1)).map((m) => m.data)).toEqual(['two']);
    expect((await neither.waitFor(2)).map((m) => m.data)).toEqual(['one', 'two']);
    for (const s of [byArg, byHeader, neither]) s.close();
  });

  test('nchan_subscriber_timeout: a subscriber a second without a message is let go, a message starts the second again', async () => {
    const port = gw.ports[0];
    const started = Date.now();
    const sse = await sseSubscribe(port, '/idle/quiet');
    const ws = await wsSubscribe(port, '/idle/quiet');
    await new Promise((r) => setTimeout(r, 500));
    expect((await request(port, 'POST', '/pub?id=quiet', 'late')).status).toBe(201);
    const [, closed] = await Promise.all([sse.ended, ws.ended]);
    const lasted = Date.now() - started;
    expect(closed).toEqual({ code: 1000, reason: '408 408 Request Timeout' });
    expect(sse.received.map((m) => m.data)).toEqual(['late']);
    // 0.5 s, then a second after the message (with slack for the timers), well before a hang.
    expect(lasted).toBeGreaterThanOrEqual(1400);
    expect(lasted).toBeLessThan(5000);
  });

  test('pubsub WebSockets that send and vanish mid-stream: the others still hear everything, descriptors come back', async () => {
    const port = gw.ports[0];
    const pids = workerPids(gw.child.pid!);
    const listener = await sseSubscribe(port, '/pubsub/churn');
    const before = fdTotal(pids);
    // Twenty clients each send five messages and, once they hear their own back (published),
    // are cut off without a close frame, other clients' messages still arriving.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/pubsub/churn`);
          let own = 0;
          ws.once('error', reject);
          ws.on('message', (data: Buffer) => {
            if (data.toString().startsWith(`c${i}-`) && ++own === 5) {
              ws.terminate();
              resolve();
            }
          });
          ws.once('open', () => {
            for (let n = 0; n < 5; n++) ws.send(`c${i}-${n}`);
          });
        }),
      ),
    );
    const heard = await listener.waitFor(100, 10000);
    // Each client's messages in the order it sent them.
    for (let i = 0; i < 20; i++) expect(heard.map((m) => m.data).filter((d) => d.startsWith(`c${i}-`))).toEqual([0, 1, 2, 3, 4].map((n) => `c${i}-${n}`));
    for (let i = 0; i < 250 && fdTotal(pids) > before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(fdTotal(pids)).toBeLessThanOrEqual(before);
    listener.close();
  });

  test('what nchan answers 403 or 404 with an empty body, the gateway too', async () => {
    const port = gw.ports[0];
    const cases = await Promise.all([
      request(port, 'GET', '/sub/x'), // a long-poll in nchan: not here, refused
      request(port, 'GET', '/live/x', undefined, { Accept: 'text/event-stream' }), // EventSource at a WebSocket-only location
      request(port, 'POST', '/sub/x', 'm'),
      request(port, 'GET', '/pub?id=nothing'),
      request(port, 'DELETE', '/pub?id=nothing'),
    ]);
    expect(cases.map((c) => [c.status, c.body])).toEqual([
      [403, ''],
      [403, ''],
      [403, ''],
      [404, ''],
      [404, ''],
    ]);
    // nchan's cross-origin headers: the origin echoed, credentials allowed (its defaults).
    const cross = await request(port, 'GET', '/pub?id=nothing', undefined, { Origin: 'http://app.example' });
    expect([cross.status, cross.headers['access-control-allow-origin'], cross.headers['access-control-allow-credentials']]).toEqual([404, 'http://app.example', 'true']);
    const options = await request(port, 'OPTIONS', '/pub?id=x');
    expect([options.status, options.headers.allow, options.body]).toEqual([200, 'GET, POST, PUT, DELETE', '']);
    // A WebSocket asked of a location that takes EventSource only is 403 too (upgrade path).
    await expect(wsSubscribe(port, '/es/x')).rejects.toMatchObject({ status: 403 });
  });
});

describe('nchan_use_redis: two gateways share channels through the Redis nchan_redis_url names', () => {
  const redisSite = (port: number, processes: string) => `${processes}
error_log stderr notice;
events { worker_connections 64; }
http {
  access_log off;
  nchan_redis_url 127.0.0.1:${port};
  nchan_use_redis on;
  server {
    listen 127.0.0.1:0;
    location ~ ^/sub/(\\w+)$ { nchan_subscriber; nchan_channel_id $1; }
    location ~ ^/pub/(\\w+)$ { nchan_publisher; nchan_channel_id $1; }
  }
}
`;
  let redis: RedisServer;
  let withWorkers: GatewayProcess;
  let single: GatewayProcess;
  beforeAll(async () => {
    redis = await RedisServer.start();
    withWorkers = await startGateway(redisSite(redis.port, 'worker_processes 2;'), { confName: 'nginx.conf' });
    single = await startGateway(redisSite(redis.port, 'master_process off;'), { confName: 'nginx.conf' });
  });
  afterAll(async () => {
    await withWorkers?.stop();
    await single?.stop();
    await redis?.close();
  });

  test('a message published on either reaches the subscribers of both', async () => {
    const here = await sseSubscribe(withWorkers.ports[0], '/sub/shared');
    const there = await wsSubscribe(single.ports[0], '/sub/shared');
    const published = await request(single.ports[0], 'POST', '/pub/shared', 'across', { Accept: 'text/json' });
    // 201: a subscriber was there (how many, each gateway tells Redis on its own time).
    expect(published.status).toBe(201);
    expect((await here.waitFor(1)).map((m) => m.data)).toEqual(['across']);
    expect((await there.waitFor(1)).map((m) => m.data)).toEqual(['across']);
    expect((await request(withWorkers.ports[0], 'POST', '/pub/shared', 'back')).status).toBe(201);
    expect((await there.waitFor(2)).map((m) => m.data)).toEqual(['across', 'back']);
    here.close();
    there.close();
  });
});
