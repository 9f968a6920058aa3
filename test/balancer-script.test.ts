/** One try of a `balancer_by` script, in process: what each ngx.balancer call records, and its checks. */
import { HttpError } from '../src/errors';
import { firstFrame, runBalancer, type TryState } from '../src/modules/proxy/balancer-script';
import type { BalancerContext, Logger, RequestContext } from '../src/types';
import type { BalancerRef, UpstreamConf } from '../src/modules/proxy/upstreams';

const lines: string[] = [];
const log = { error: (m: string) => lines.push(m), warn: () => {}, info: () => {}, notice: () => {}, debug: () => {}, crit: () => {} } as Logger;
const upstream = { name: 'u', servers: [] } as unknown as UpstreamConf;
const req = { method: 'POST', headers: { cookie: 'a=1; canary=1', 'x-a': 'b' } } as never;
const ctx = {
  uri: '/p',
  args: 'x=1',
  remoteAddress: '10.0.0.1',
  data: { seen: 'yes' },
  log,
  variable: (n: string) => ({ cookie_canary: '1', arg_x: '1' })[n] ?? '',
} as unknown as RequestContext;
const state = (s: Partial<TryState> = {}): TryState => ({ attempt: 1, limit: 2, maxTries: 0, lastFailure: null, ...s });
const script = (run: (b: BalancerContext) => unknown): BalancerRef => ({ name: 's', file: 'f', position: { file: 'f', line: 1, col: 1 }, run: run as BalancerRef['run'] });

test('the request as the script reads it', async () => {
  let seen: unknown;
  await runBalancer(script((b) => (seen = [b.method, b.uri, b.args, b.headers['x-a'], b.cookie('canary'), b.cookie('none'), b.variable('arg_x'), b.remoteAddress, b.ctx.seen, b.try, b.upstream.name])), upstream, req, ctx, state(), 1000);
  expect(seen).toEqual(['POST', '/p', 'x=1', 'b', '1', undefined, '1', '10.0.0.1', 'yes', 1, 'u']);
});

test('set_current_peer: the last call wins; a bad host or port throws', async () => {
  const d = await runBalancer(script((b) => (b.setCurrentPeer('10.0.0.1', 80), b.setCurrentPeer('[::1]', 8080))), upstream, req, ctx, state(), 1000);
  expect(d.peer).toEqual({ host: '::1', port: 8080 });
  for (const [host, port] of [['', 80], ['a b', 80], ['10.0.0.1', 0], ['10.0.0.1', 70000], ['10.0.0.1', 1.5]] as const) {
    await expect(runBalancer(script((b) => b.setCurrentPeer(host, port)), upstream, req, ctx, state(), 1000)).rejects.toBeInstanceOf(HttpError);
  }
});

test("set_more_tries: within proxy_next_upstream_tries, lua-nginx-module's arithmetic and warning", async () => {
  let warning: string | null = 'unset';
  let d = await runBalancer(script((b) => (warning = b.setMoreTries(3))), upstream, req, ctx, state({ limit: 1, maxTries: 0 }), 1000);
  expect([d.moreTries, warning]).toEqual([3, null]);
  d = await runBalancer(script((b) => (warning = b.setMoreTries(5))), upstream, req, ctx, state({ limit: 1, maxTries: 2 }), 1000);
  expect([d.moreTries, warning]).toEqual([1, 'reduced tries due to limit']);
  d = await runBalancer(script((b) => (warning = b.setMoreTries(5))), upstream, req, ctx, state({ limit: 2, maxTries: 2 }), 1000);
  expect([d.moreTries, warning]).toEqual([0, 'reduced tries due to limit']);
});

test('set_timeouts: milliseconds, the parts given; a bad value throws', async () => {
  const d = await runBalancer(script((b) => (b.setTimeouts(100, null, 250.2), b.setTimeouts(undefined, 50))), upstream, req, ctx, state(), 1000);
  expect(d.timeouts).toEqual({ connect: 100, send: 50, read: 251 });
  await expect(runBalancer(script((b) => b.setTimeouts(-1)), upstream, req, ctx, state(), 1000)).rejects.toMatchObject({ status: 500 });
});

test('get_last_failure', async () => {
  let last: unknown = 'unset';
  await runBalancer(script((b) => (last = b.getLastFailure())), upstream, req, ctx, state({ attempt: 2, lastFailure: { state: 'next', status: 404 } }), 1000);
  expect(last).toEqual({ state: 'next', status: 404 });
});

test('a throw, a rejection, a script past its bound: 500, one line with the name and first frame', async () => {
  lines.length = 0;
  await expect(runBalancer(script(() => { throw new RangeError('bad'); }), upstream, req, ctx, state(), 1000)).rejects.toMatchObject({ status: 500, code: 'GW_BALANCER_SCRIPT' });
  await expect(runBalancer(script(() => Promise.reject(new Error('later'))), upstream, req, ctx, state(), 1000)).rejects.toMatchObject({ status: 500 });
  await expect(runBalancer(script(() => new Promise(() => {})), upstream, req, ctx, state(), 50)).rejects.toMatchObject({ status: 500 });
  expect(lines).toHaveLength(3);
  expect(lines[0]).toMatch(/^balancer_by script "s" failed: RangeError: bad at .*balancer-script\.test\.ts:\d+:\d+\)? while connecting to upstream, client: 10\.0\.0\.1, upstream: "u"$/);
  expect(lines[1]).toMatch(/failed: Error: later at /);
  expect(lines[2]).toBe('balancer_by script "s" did not settle within 50ms while connecting to upstream, client: 10.0.0.1, upstream: "u"');
});

test('firstFrame', () => {
  expect(firstFrame({ stack: 'Error: x\n    at run (/a/b.ts:3:9)\n    at other' })).toBe('run (/a/b.ts:3:9)');
  expect(firstFrame('text')).toBe('');
});
