/**
 * The balancer as tables: nginx's smooth weighted round robin sequence, distributions,
 * passive health (max_fails within fail_timeout), backup peers, least_conn, ip_hash and hash.
 */
import type { BalanceMethod, UpstreamConf } from '../src/modules/proxy/upstreams';
import { KEEPALIVE_DEFAULTS, parseServerLine } from '../src/modules/proxy/upstreams';
import { addressBytes, Balancer, type Peer } from '../src/modules/proxy/balancer';

function upstream(lines: string[], method: BalanceMethod = { kind: 'round_robin' }): UpstreamConf {
  return { name: 'u', servers: lines.map(parseServerLine), keepalive: null, ...KEEPALIVE_DEFAULTS, method, balancerBy: null, position: { file: 't', line: 1, col: 1 } };
}

/** A balancer on a clock the test moves. */
function bench(lines: string[], method?: BalanceMethod) {
  const clock = { now: 1_000_000 };
  const balancer = new Balancer(upstream(lines, method), () => clock.now);
  /** One request: the first peer, released as `ok` (or failed). */
  const pick = (key = '', failed = false): string | null => {
    const s = balancer.begin(key);
    const peer = s.next();
    if (peer) s.done(peer, failed);
    return peer ? peer.conf.host : null;
  };
  return { clock, balancer, pick };
}

const count = (names: (string | null)[]) => names.reduce<Record<string, number>>((acc, n) => ({ ...acc, [String(n)]: (acc[String(n)] ?? 0) + 1 }), {});

describe('smooth weighted round robin', () => {
  test('weights 5,1,1 give nginx\'s sequence a a b a c a a', () => {
    const { pick } = bench(['a:80 weight=5', 'b:80', 'c:80']);
    expect(Array.from({ length: 14 }, () => pick())).toEqual('a a b a c a a a a b a c a a'.split(' '));
  });

  test.each([
    [['a:1', 'b:1', 'c:1'], { a: 300, b: 300, c: 300 }],
    [['a:1 weight=3', 'b:1 weight=2', 'c:1'], { a: 450, b: 300, c: 150 }],
    [['a:1 weight=3', 'b:1 down', 'c:1'], { a: 675, c: 225 }],
  ])('%j is shared out by weight', (lines, expected) => {
    const { pick } = bench(lines);
    expect(count(Array.from({ length: 900 }, () => pick()))).toEqual(expected);
  });

  test('defaults are nginx\'s: weight 1, max_fails 1, fail_timeout 10s, port 80', () => {
    expect(parseServerLine('backend')).toEqual({ name: 'backend:80', host: 'backend', port: 80, socketPath: null, weight: 1, maxFails: 1, failTimeout: 10_000, backup: false, down: false });
    expect(parseServerLine('[::1]:81 weight=2 max_fails=0 fail_timeout=300ms backup')).toMatchObject({ name: '[::1]:81', host: '::1', port: 81, weight: 2, maxFails: 0, failTimeout: 300, backup: true });
    expect(() => parseServerLine('a:1 weight=0')).toThrow('invalid parameter "weight=0"');
    expect(() => parseServerLine('a:1 slow_start=1')).toThrow('invalid parameter');
    expect(() => parseServerLine('a:99999')).toThrow('invalid port');
  });
});

describe('passive health', () => {
  test('a failed peer is out for fail_timeout, then gets one chance', () => {
    const { clock, balancer, pick } = bench(['a:1 fail_timeout=300ms', 'b:1 fail_timeout=300ms']);
    expect(pick('', true)).toBe('a');
    expect(Array.from({ length: 4 }, () => pick())).toEqual(['b', 'b', 'b', 'b']);
    clock.now += 301;
    const picks = Array.from({ length: 4 }, () => pick());
    expect(picks).toContain('a');
    expect(balancer.primary[0].fails).toBe(0);
  });

  test('max_fails=3 needs three failures within fail_timeout', () => {
    const { balancer, pick } = bench(['a:1 max_fails=3', 'b:1 max_fails=3']);
    const a = balancer.primary[0];
    const fail = (peer: Peer) => {
      const s = balancer.begin();
      s.done(peer, true);
    };
    fail(a);
    fail(a);
    expect(count(Array.from({ length: 4 }, () => pick()))).toMatchObject({ b: expect.any(Number) });
    expect(balancer.usable(a, balancer.now())).toBe(true);
    fail(a);
    expect(balancer.usable(a, balancer.now())).toBe(false);
    expect(Array.from({ length: 3 }, () => pick())).toEqual(['b', 'b', 'b']);
  });

  test('max_fails=0 never takes a peer out', () => {
    const { balancer, pick } = bench(['a:1 max_fails=0', 'b:1']);
    for (let i = 0; i < 5; i++) balancer.begin().done(balancer.primary[0], true);
    expect(count(Array.from({ length: 10 }, () => pick()))).toEqual({ a: 5, b: 5 });
  });

  test('a single server is never marked failed, as nginx\'s peers->single', () => {
    const { pick } = bench(['a:1']);
    pick('', true);
    pick('', true);
    expect(pick()).toBe('a');
  });

  test('one request tries each live peer once, then "no live upstreams"', () => {
    const { balancer } = bench(['a:1', 'b:1', 'c:1 down']);
    const s = balancer.begin();
    expect(s.tries).toBe(2);
    const first = s.next()!;
    s.done(first, true);
    const second = s.next()!;
    s.done(second, true);
    expect(new Set([first.conf.host, second.conf.host])).toEqual(new Set(['a', 'b']));
    expect(s.next()).toBeNull();
  });
});

describe('backup', () => {
  test('used only when every primary is down or failed', () => {
    const { balancer, pick } = bench(['a:1', 'b:1', 'z:1 backup']);
    expect(Array.from({ length: 6 }, () => pick())).not.toContain('z');
    const s = balancer.begin();
    const order = [s.next()!, s.next()!, s.next()!].map((p) => p.conf.host);
    expect(order.slice(0, 2).sort()).toEqual(['a', 'b']);
    expect(order[2]).toBe('z');
    pick('', true);
    pick('', true);
    expect(Array.from({ length: 3 }, () => pick())).toEqual(['z', 'z', 'z']);
  });

  test('down is never used, backups included', () => {
    const { pick } = bench(['a:1 down', 'z:1 backup']);
    expect(pick()).toBe('z');
  });
});

describe('least_conn', () => {
  test('the peer with the fewest active requests, weighted; ties by round robin', () => {
    const { balancer } = bench(['a:1', 'b:1 weight=2', 'c:1'], { kind: 'least_conn' });
    const held = [0, 1, 2, 3].map(() => balancer.begin().next()!.conf.host);
    expect(count(held)).toEqual({ a: 1, b: 2, c: 1 });
    const { pick } = bench(['a:1', 'b:1'], { kind: 'least_conn' });
    expect(Array.from({ length: 4 }, () => pick())).toEqual(['a', 'b', 'a', 'b']);
  });
});

describe('ip_hash', () => {
  test('the first three octets of IPv4 choose the peer', () => {
    const { pick } = bench(['a:1', 'b:1', 'c:1'], { kind: 'ip_hash' });
    const first = pick('10.1.2.3');
    expect(pick('10.1.2.200')).toBe(first);
    expect(pick('::ffff:10.1.2.9')).toBe(first);
    const spread = new Set(Array.from({ length: 50 }, (_, i) => pick(`10.1.${i}.1`)));
    expect(spread.size).toBe(3);
    expect(addressBytes('10.1.2.3')).toEqual([10, 1, 2]);
    expect(addressBytes('::1')).toHaveLength(16);
  });

  test('a failed peer passes its clients on, and they come back after fail_timeout', () => {
    const { clock, pick } = bench(['a:1 fail_timeout=1s', 'b:1 fail_timeout=1s', 'c:1 fail_timeout=1s'], { kind: 'ip_hash' });
    const first = pick('192.168.7.1', true);
    const other = pick('192.168.7.1');
    expect(other).not.toBe(first);
    clock.now += 1001;
    expect(pick('192.168.7.1')).toBe(first);
  });
});

describe('hash', () => {
  test('one key, one peer; keys spread over all', () => {
    const { pick } = bench(['a:1', 'b:1', 'c:1'], { kind: 'hash', key: '$arg_x', consistent: false });
    expect(pick('user-1')).toBe(pick('user-1'));
    expect(new Set(Array.from({ length: 60 }, (_, i) => pick(`k${i}`))).size).toBe(3);
  });

  test('consistent: 160 points per weight, and removing a server moves only its keys', () => {
    const three = bench(['a:1', 'b:1', 'c:1'], { kind: 'hash', key: '$arg_x', consistent: true });
    const two = bench(['a:1', 'b:1'], { kind: 'hash', key: '$arg_x', consistent: true });
    expect(three.balancer.points().length).toBeGreaterThan(470);
    const keys = Array.from({ length: 300 }, (_, i) => `key-${i}`);
    const before = keys.map((k) => three.pick(k));
    const after = keys.map((k) => two.pick(k));
    expect(new Set(before).size).toBe(3);
    keys.forEach((_, i) => before[i] !== 'c' && expect(after[i]).toBe(before[i]));
  });
});
