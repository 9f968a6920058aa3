/**
 * Two real gateways share one limit through one redis-server (`zone_redis_url`): one with a
 * master and two workers, one single process (`master_process: off`). A request counted on
 * either is counted for both (limit_req and limit_conn); while Redis is stopped each gateway
 * limits on its own (one error line each), and once Redis is back they share again.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';
import { RedisServer } from './helpers/redis-server';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(probe: () => T | Promise<T>, ok: (v: T) => boolean, what: string, ms = 8000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const conf = (redisUrl: string, processes: string, backend: number) => `
${processes}
error_log: stderr notice
pid: off
http:
  access_log: "off"
  zone_redis_url: ${redisUrl}
  limit_req_zone: "$arg_k zone=perkey:1m rate=1r/m"
  limit_conn_zone: "$arg_k zone=conn:1m"
  add_header: ["X-Req $limit_req_status always", "X-Conn $limit_conn_status always"]
  servers:
    - listen: "127.0.0.1:0"
      root: site
      locations:
        - { location: /req/, limit_req: zone=perkey }
        - { location: /conn, limit_conn: conn 1, proxy_pass: "http://127.0.0.1:${backend}" }
`;

let redis: RedisServer;
let a: GatewayProcess;
let b: GatewayProcess;
let backend: http.Server;
const held: http.ServerResponse[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  backend = http.createServer((req, res) => (req.url?.includes('fast') ? res.end('fast\n') : held.push(res)));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const port = (backend.address() as AddressInfo).port;
  const files = { 'site/req/a': 'req\n' };
  a = await startGateway(conf(redis.url, 'worker_processes: 2', port), { files });
  b = await startGateway(conf(redis.url, 'master_process: off', port), { files });
}, 30000);

afterAll(async () => {
  held.forEach((r) => r.destroy());
  await Promise.all([a?.stop(), b?.stop()]);
  backend?.close();
  await redis?.close();
});

const req = async (gw: GatewayProcess, key: string) => {
  const res = await request(gw.ports[0], `/req/a?k=${key}`);
  return [res.status, res.headers['x-req']];
};

test('limit_req: a request counted on one gateway is counted on the other', async () => {
  expect(await req(a, 'one')).toEqual([200, 'PASSED']);
  expect(await req(b, 'one')).toEqual([503, 'REJECTED']);
  expect(await req(a, 'one')).toEqual([503, 'REJECTED']);
  expect(await req(b, 'two')).toEqual([200, 'PASSED']);
  expect(await req(a, 'two')).toEqual([503, 'REJECTED']);
});

test('limit_conn: a slot held through one gateway is held for the other, and given back', async () => {
  const hanging = request(a.ports[0], '/conn?k=x').catch(() => null);
  await until(() => held.length, (n) => n === 1, 'the held request');
  const refused = await request(b.ports[0], '/conn?k=x&fast');
  expect([refused.status, refused.headers['x-conn']]).toEqual([503, 'REJECTED']);
  held.shift()!.end('done\n');
  await hanging;
  const freed = await until(() => request(b.ports[0], '/conn?k=x&fast'), (r) => r.status === 200, 'the slot back');
  expect(freed.headers['x-conn']).toBe('PASSED');
});

test('Redis stopped: each gateway limits alone, with one error line; Redis back: shared again', async () => {
  await redis.stop();
  // Each gateway counts on its own: both pass a new key once, then refuse it.
  expect(await req(a, 'three')).toEqual([200, 'PASSED']);
  expect(await req(b, 'three')).toEqual([200, 'PASSED']);
  expect(await req(a, 'three')).toEqual([503, 'REJECTED']);
  expect(await req(b, 'three')).toEqual([503, 'REJECTED']);
  for (let i = 0; i < 5; i++) await req(b, `more${i}`);
  const outage = /zones: Redis at 127\.0\.0\.1:\d+ unreachable \(.*\); limiting in this gateway only/g;
  for (const gw of [a, b]) expect(gw.stderr().match(outage)?.length).toBe(1);

  await redis.restart();
  for (const gw of [a, b]) await until(() => gw.stderr(), (s) => s.includes('zones: Redis at') && s.includes('is reachable again; limits are shared again'), 'the recovery');
  expect(await req(b, 'four')).toEqual([200, 'PASSED']);
  expect(await req(a, 'four')).toEqual([503, 'REJECTED']);
}, 20000);
