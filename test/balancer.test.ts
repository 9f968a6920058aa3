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
function bench(lines: string[], method?: BalanceMethod, random?: () => number) {
  const clock = { now: 1_000_000 };
  const balancer = new Balancer(upstream(lines, method), () => clock.now, random);
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
    expect(parseServerLine('backend')).toEqual({ name: 'backend:80', host: 'backend', port: 80, socketPath: null, weight: 1, maxConns: 0, maxFails: 1, failTimeout: 10_000, backup: false, down: false });
    expect(parseServerLine('a:1 max_conns=3')).toMatchObject({ maxConns: 3 });
    expect(() => parseServerLine('a:1 slow_start=30s')).toThrow('invalid parameter "slow_start=30s"');
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

describe('max_conns', () => {
  /** Takes `n` peers at once (none released): their hosts, null once none is left. */
  const hold = (balancer: Balancer, n: number) => Array.from({ length: n }, () => balancer.begin().next()?.conf.host ?? null);

  test.each([
    ['round robin', undefined],
    ['least_conn', { kind: 'least_conn' } as BalanceMethod],
    ['random', { kind: 'random', two: false } as BalanceMethod],
    ['random two', { kind: 'random', two: true } as BalanceMethod],
  ])('%s: a full peer is skipped; all full: none (no live upstreams)', (_name, method) => {
    const { balancer } = bench(['a:1 max_conns=1', 'b:1 max_conns=2'], method);
    expect(count(hold(balancer, 4))).toEqual({ a: 1, b: 2, null: 1 });
  });

  test('a single peer: at most max_conns, then its backup... none without one', () => {
    const { balancer } = bench(['a:1 max_conns=2']);
    expect(hold(balancer, 3)).toEqual(['a', 'a', null]);
    const withBackup = bench(['a:1 max_conns=1', 'b:1 backup']).balancer;
    expect(hold(withBackup, 3)).toEqual(['a', 'b', 'b']);
  });

  test('a released request frees its place', () => {
    const { balancer } = bench(['a:1 max_conns=1']);
    const s = balancer.begin();
    const peer = s.next()!;
    expect(balancer.begin().next()).toBeNull();
    s.done(peer, false);
    expect(balancer.begin().next()?.conf.host).toBe('a');
  });

  test('hash and ip_hash skip a full peer too', () => {
    for (const method of [{ kind: 'hash', key: '$x', consistent: false }, { kind: 'hash', key: '$x', consistent: true }, { kind: 'ip_hash' }] as BalanceMethod[]) {
      const { balancer } = bench(['a:1 max_conns=1', 'b:1 max_conns=1'], method);
      const key = method.kind === 'ip_hash' ? '10.0.0.1' : 'k';
      const picks = Array.from({ length: 3 }, () => balancer.begin(key).next()?.conf.host ?? null);
      expect(count(picks)).toEqual({ a: 1, b: 1, null: 1 });
    }
  });
});

describe('random', () => {
  /** A source that yields `values` in turn (then the last again). */
  const draws = (...values: number[]) => {
    let i = 0;
    return () => values[Math.min(i++, values.length - 1)];
  };

  test('draws by weight: a range per peer', () => {
    // weights 1, 3: a holds [0, 1), b [1, 4) of 4.
    const { pick } = bench(['a:1', 'b:1 weight=3'], { kind: 'random', two: false }, draws(0.1, 0.3, 0.6, 0.99, 0.2));
    expect(Array.from({ length: 5 }, () => pick())).toEqual(['a', 'b', 'b', 'b', 'a']);
  });

  test('shares out by weight over many draws', () => {
    const { pick } = bench(['a:1', 'b:1 weight=3'], { kind: 'random', two: false });
    const got = count(Array.from({ length: 4000 }, () => pick()));
    expect(got.b / got.a).toBeGreaterThan(2.5);
    expect(got.b / got.a).toBeLessThan(3.5);
  });

  test('a tried, down or failed peer is drawn again; 20 misses: round robin', () => {
    const { balancer } = bench(['a:1', 'b:1 down', 'c:1'], { kind: 'random', two: false }, draws(0.0, 0.5, 0.5, 0.9));
    const s = balancer.begin();
    expect(s.next()?.conf.host).toBe('a');
    // b (down) is drawn, then c.
    expect(s.next()?.conf.host).toBe('c');
    const stuck = bench(['a:1', 'b:1'], { kind: 'random', two: false }, () => 0).balancer.begin();
    expect(stuck.next()?.conf.host).toBe('a');
    // Always a again, which is tried: 21 misses, then round robin gives b.
    expect(stuck.next()?.conf.host).toBe('b');
  });

  test('two: of two draws, the one with fewer requests per weight; a tie goes to the second', () => {
    const { balancer } = bench(['a:1', 'b:1', 'c:1'], { kind: 'random', two: true }, draws(0.0, 0.5, 0.0, 0.5, 0.9, 0.0));
    // a and b, none busy: b (the second).
    expect(balancer.begin().next()?.conf.host).toBe('b');
    // a and b again, b busy: a.
    expect(balancer.begin().next()?.conf.host).toBe('a');
    // c and a, a and b busy, c idle: c.
    expect(balancer.begin().next()?.conf.host).toBe('c');
  });
});
