/**
 * The shared zones' arithmetic, without processes: nginx's leaky bucket to the millisecond
 * (excess in 1/1000 requests), burst, delay and nodelay, several limits in one location, an
 * empty key, the LRU eviction when a zone is full and "could not allocate node" when a key
 * cannot fit, limit_conn's slots, and the zone size reckoned as nginx's slab.
 */
import { delayFor, drained, elapsed, excessAfter, formatExcess, zoneRate } from '../src/shared/zones/leaky-bucket';
import { MemoryZones } from '../src/shared/zones/memory-zones';
import { decodeCall, decodeReply, encodeCall, encodeReply, type ZoneCall, type ZoneReply } from '../src/shared/zones/zone-messages';
import { binaryAddress } from '../src/http/variables';
import { MIN_ZONE_SIZE, nodeCost, SlabBudget, slotOf, zonePages } from '../src/shared/zones/sizing';
import type { ReqLimit, ZoneSpec } from '../src/shared/zones/zone-types';

const NODELAY = Number.MAX_SAFE_INTEGER;

function reqZone(name: string, rate: number, size = 1024 * 1024): ZoneSpec {
  return { name, kind: 'limit_req', size, rate, key: '$binary_remote_addr' };
}

/** A store on a clock the test moves. */
function store(...specs: ZoneSpec[]) {
  let now = 1_000_000;
  const zones = new MemoryZones(() => now);
  zones.declare(specs);
  return { zones, advance: (ms: number) => (now += ms) };
}

const one = (zone: string, key: string, burst = 0, delay = 0): ReqLimit => ({ zone, key, burst: burst * 1000, delay: delay * 1000 });

describe('leaky bucket arithmetic (nginx integer math)', () => {
  test('rates in thousandths per second, r/m truncated as nginx', () => {
    expect(zoneRate(10, false)).toBe(10_000);
    expect(zoneRate(1, true)).toBe(16); // 1000 / 60, integer
    expect(zoneRate(30, true)).toBe(500);
  });

  test('excess leaks by rate * ms / 1000 and a request adds 1000', () => {
    expect(excessAfter({ excess: 0, last: 0 }, 1000, 0)).toBe(1000);
    expect(excessAfter({ excess: 1500, last: 0 }, 1000, 500)).toBe(2000);
    expect(excessAfter({ excess: 1500, last: 0 }, 1000, 5000)).toBe(0);
    expect(excessAfter({ excess: 0, last: 0 }, 16, 999)).toBe(985); // floor(16 * 999 / 1000) = 15
  });

  test('a clock that steps back: 0 ms, or 1 ms past a minute', () => {
    expect(elapsed(1000, 1500)).toBe(0);
    expect(elapsed(1000, 70_000)).toBe(1);
    expect(elapsed(2000, 1000)).toBe(1000);
  });

  test('delay = (excess - delay) * 1000 / rate, 0 within delay', () => {
    expect(delayFor(1000, 0, 2000)).toBe(500);
    expect(delayFor(2500, 1000, 1000)).toBe(1500);
    expect(delayFor(1000, 1000, 1000)).toBe(0);
  });

  test('a bucket drains after a minute idle with nothing left', () => {
    expect(drained({ excess: 0, last: 0 }, 1000, 59_999)).toBe(false);
    expect(drained({ excess: 0, last: 0 }, 1000, 60_000)).toBe(true);
    expect(drained({ excess: 70_000_000, last: 0 }, 1000, 60_000)).toBe(false);
  });

  test('excess as nginx logs it', () => {
    expect(formatExcess(500)).toBe('0.500');
    expect(formatExcess(12_034)).toBe('12.034');
    expect(formatExcess(0)).toBe('0.000');
  });
});

describe('limit_req over a zone', () => {
  test('rate 1r/s, no burst: the second request in the same millisecond is refused with excess 1.000', () => {
    const { zones, advance } = store(reqZone('one', 1000));
    expect(zones.limitReq([one('one', 'a')])).toEqual({ kind: 'passed' });
    expect(zones.limitReq([one('one', 'a')])).toEqual({ kind: 'busy', excess: 1000, zone: 'one' });
    advance(500);
    expect(zones.limitReq([one('one', 'a')])).toEqual({ kind: 'busy', excess: 500, zone: 'one' });
    advance(500);
    expect(zones.limitReq([one('one', 'a')])).toEqual({ kind: 'passed' });
    // Another key has its own bucket.
    expect(zones.limitReq([one('one', 'b')])).toEqual({ kind: 'passed' });
  });

  test('a refused request is not accounted', () => {
    const { zones, advance } = store(reqZone('one', 1000));
    zones.limitReq([one('one', 'a')]);
    for (let i = 0; i < 5; i++) zones.limitReq([one('one', 'a')]);
    advance(1000);
    expect(zones.limitReq([one('one', 'a')])).toEqual({ kind: 'passed' });
  });

  test('burst=2: two requests wait 500 ms and 1000 ms at 2r/s, the third over the burst is refused', () => {
    const { zones } = store(reqZone('one', 2000));
    expect(zones.limitReq([one('one', 'a', 2)])).toEqual({ kind: 'passed' });
    expect(zones.limitReq([one('one', 'a', 2)])).toEqual({ kind: 'delayed', delayMs: 500, excess: 1000, zone: 'one' });
    expect(zones.limitReq([one('one', 'a', 2)])).toEqual({ kind: 'delayed', delayMs: 1000, excess: 2000, zone: 'one' });
    expect(zones.limitReq([one('one', 'a', 2)])).toEqual({ kind: 'busy', excess: 3000, zone: 'one' });
  });

  test('nodelay passes within the burst, delay=1 lets the first excess request through', () => {
    const { zones } = store(reqZone('one', 2000), reqZone('two', 2000));
    zones.limitReq([one('one', 'a', 2, NODELAY / 1000)]);
    const nodelay = { zone: 'one', key: 'a', burst: 2000, delay: NODELAY };
    expect(zones.limitReq([nodelay])).toEqual({ kind: 'passed' });
    expect(zones.limitReq([nodelay])).toEqual({ kind: 'passed' });
    expect(zones.limitReq([nodelay])).toEqual({ kind: 'busy', excess: 3000, zone: 'one' });
    zones.limitReq([one('two', 'a', 3, 1)]);
    expect(zones.limitReq([one('two', 'a', 3, 1)])).toEqual({ kind: 'passed' });
    expect(zones.limitReq([one('two', 'a', 3, 1)])).toEqual({ kind: 'delayed', delayMs: 500, excess: 2000, zone: 'two' });
  });

  test('to the millisecond: 1r/s after 999 ms is still over, after 1000 ms it passes', () => {
    const { zones, advance } = store(reqZone('one', 1000));
    zones.limitReq([one('one', 'a')]);
    advance(999);
    expect(zones.limitReq([one('one', 'a')])).toEqual({ kind: 'busy', excess: 1, zone: 'one' });
    advance(1);
    expect(zones.limitReq([one('one', 'a')])).toEqual({ kind: 'passed' });
  });

  test('an empty key is not accounted: declined', () => {
    const { zones } = store(reqZone('one', 1000));
    for (let i = 0; i < 3; i++) expect(zones.limitReq([one('one', '')])).toEqual({ kind: 'declined' });
    expect(zones.size('limit_req', 'one')).toBe(0);
  });

  test('several limits: the last accounts, earlier ones account after it, the longest delay wins; a refusal accounts none', () => {
    const { zones } = store(reqZone('fast', 10_000), reqZone('slow', 1000));
    const limits = [one('slow', 'a', 5), one('fast', 'a', 5)];
    expect(zones.limitReq(limits)).toEqual({ kind: 'passed' });
    // slow: excess 1000 -> 1000 ms; fast: excess 1000 -> 100 ms: slow wins.
    expect(zones.limitReq(limits)).toEqual({ kind: 'delayed', delayMs: 1000, excess: 1000, zone: 'slow' });
    const { zones: z2 } = store(reqZone('fast', 10_000), reqZone('slow', 1000));
    const strict = [one('fast', 'a', 5), one('slow', 'a')];
    expect(z2.limitReq(strict)).toEqual({ kind: 'passed' });
    expect(z2.limitReq(strict)).toEqual({ kind: 'busy', excess: 1000, zone: 'slow' });
    // The refused request left "fast" as it was: one request accounted.
    expect(z2.limitReq([one('fast', 'a', 5)])).toEqual({ kind: 'delayed', delayMs: 100, excess: 1000, zone: 'fast' });
  });

  test('a full zone drops its least recently used key (nginx: forced expiry), keeps the recent ones', () => {
    const { zones } = store(reqZone('small', 1000, MIN_ZONE_SIZE));
    const capacity = 191; // nginx 1.22's own count for a 32k zone (test/parity/limits.test.ts)
    for (let i = 0; i < capacity; i++) zones.limitReq([one('small', `k${String(i).padStart(2, '0')}`)]);
    expect(zones.size('limit_req', 'small')).toBe(capacity);
    // Touch k00 so that k01 is now the oldest.
    zones.limitReq([one('small', 'k00')]);
    expect(zones.limitReq([one('small', 'new!')])).toEqual({ kind: 'passed' });
    expect(zones.size('limit_req', 'small')).toBe(capacity);
    expect(zones.limitReq([one('small', 'k01')])).toEqual({ kind: 'passed' }); // forgotten: a new bucket
    expect(zones.limitReq([one('small', 'k00')]).kind).toBe('busy'); // kept: still over
  });

  test('a key no zone page can hold: could not allocate node', () => {
    const { zones } = store(reqZone('small', 1000, MIN_ZONE_SIZE));
    expect(zones.limitReq([one('small', 'x'.repeat(6 * 4096))])).toEqual({ kind: 'nomem', zone: 'small' });
    expect(zones.limitReq([one('small', 'x'.repeat(4 * 4096))])).toEqual({ kind: 'passed' });
  });

  test('a declaration again (a reload) keeps the buckets; another size starts anew', () => {
    const { zones } = store(reqZone('one', 1000));
    zones.limitReq([one('one', 'a')]);
    zones.declare([reqZone('one', 1000)]);
    expect(zones.limitReq([one('one', 'a')]).kind).toBe('busy');
    zones.declare([reqZone('one', 1000, 2 * 1024 * 1024)]);
    expect(zones.limitReq([one('one', 'a')]).kind).toBe('passed');
  });
});

describe('limit_conn over a zone', () => {
  const conn = (name: string, size = 1024 * 1024): ZoneSpec => ({ name, kind: 'limit_conn', size, rate: 0, key: '$binary_remote_addr' });

  test('N slots per key, given back on release; the key leaves the zone at 0', () => {
    const zones = new MemoryZones();
    zones.declare([conn('c')]);
    const a = zones.acquireConn([{ zone: 'c', key: 'a', conn: 2 }]);
    const b = zones.acquireConn([{ zone: 'c', key: 'a', conn: 2 }]);
    expect(a.kind).toBe('passed');
    expect(b.kind).toBe('passed');
    expect(zones.acquireConn([{ zone: 'c', key: 'a', conn: 2 }])).toEqual({ kind: 'busy', zone: 'c' });
    expect(zones.acquireConn([{ zone: 'c', key: 'b', conn: 2 }]).kind).toBe('passed');
    if (a.kind === 'passed') zones.releaseConn(a.slots);
    expect(zones.acquireConn([{ zone: 'c', key: 'a', conn: 2 }]).kind).toBe('passed');
  });

  test('a zone made anew (a reload changed its size) is not given back the old zone\'s slots', () => {
    const zones = new MemoryZones();
    zones.declare([conn('c')]);
    const old = zones.acquireConn([{ zone: 'c', key: 'a', conn: 1 }]);
    zones.declare([conn('c', 2 * 1024 * 1024)]);
    expect(zones.acquireConn([{ zone: 'c', key: 'a', conn: 1 }]).kind).toBe('passed');
    if (old.kind === 'passed') zones.releaseConn(old.slots);
    expect(zones.acquireConn([{ zone: 'c', key: 'a', conn: 1 }])).toEqual({ kind: 'busy', zone: 'c' });
  });

  test('a refusal by a later limit gives back the slots of earlier ones', () => {
    const zones = new MemoryZones();
    zones.declare([conn('per-ip'), conn('per-uri')]);
    zones.acquireConn([{ zone: 'per-uri', key: '/x', conn: 1 }]);
    expect(zones.acquireConn([{ zone: 'per-ip', key: 'a', conn: 1 }, { zone: 'per-uri', key: '/x', conn: 1 }])).toEqual({ kind: 'busy', zone: 'per-uri' });
    expect(zones.size('limit_conn', 'per-ip')).toBe(0);
  });

  test('an empty key is not counted; a full zone refuses a new key (no eviction of held slots)', () => {
    const zones = new MemoryZones();
    zones.declare([conn('c', MIN_ZONE_SIZE)]);
    expect(zones.acquireConn([{ zone: 'c', key: '', conn: 1 }])).toEqual({ kind: 'passed', slots: [], counted: false });
    const capacity = 40; // nginx 1.22's own count for a 32k zone and 255-byte keys (test/parity/limits.test.ts)
    for (let i = 0; i < capacity; i++) expect(zones.acquireConn([{ zone: 'c', key: String(i).padStart(255, '-'), conn: 1 }]).kind).toBe('passed');
    expect(zones.acquireConn([{ zone: 'c', key: 'x'.padStart(255, '-'), conn: 1 }])).toEqual({ kind: 'nomem', zone: 'c' });
  });
});

describe('zone size, as nginx slab', () => {
  test('pages of a zone, and the slot of a node', () => {
    expect(zonePages(32 * 1024)).toBe(7);
    expect(zonePages(1024 * 1024)).toBe(254);
    expect(nodeCost('limit_req', 4)).toBe(128);
    expect(nodeCost('limit_req', 16)).toBe(128);
    expect(nodeCost('limit_conn', 4)).toBe(64);
    expect(nodeCost('limit_conn', 255)).toBe(512);
    expect(nodeCost('limit_req', 8000)).toBe(2 * 4096); // 8,080 bytes: two whole pages
    expect(slotOf(1)).toBe(8);
  });

  /** How many nodes of one slot fit in a zone's budget. */
  const capacity = (budget: SlabBudget, slot: number) => {
    let n = 0;
    while (budget.fits(slot)) {
      budget.take(slot);
      n++;
    }
    return n;
  };

  test('about 8,000 IPv4 buckets and 16,000 limit_conn keys per megabyte, as nginx documents', () => {
    expect(capacity(SlabBudget.forZone(1024 * 1024, 'limit_req', 'one'), 128)).toBe(253 * 32 - 1);
    expect(capacity(SlabBudget.forZone(1024 * 1024, 'limit_conn', 'addr'), 64)).toBe(253 * 64 - 1);
  });

  test("nginx 1.22's counts for 32k zones: 191 short limit_req keys, 40 limit_conn keys of 255 bytes", () => {
    expect(capacity(SlabBudget.forZone(32 * 1024, 'limit_req', 'lru'), nodeCost('limit_req', 6))).toBe(191);
    expect(capacity(SlabBudget.forZone(32 * 1024, 'limit_conn', 'small'), nodeCost('limit_conn', 255))).toBe(40);
  });

  test('a page whose slots are all given back serves another slot size', () => {
    const budget = new SlabBudget(2);
    for (let i = 0; i < 32; i++) budget.take(128);
    budget.take(64);
    expect(budget.fits(256)).toBe(false);
    for (let i = 0; i < 32; i++) budget.give(128);
    expect(budget.fits(256)).toBe(true);
  });
});

describe('$binary_remote_addr', () => {
  const bytes = (s: string) => [...Buffer.from(s, 'latin1')];
  test('4 bytes for IPv4, 16 for IPv6 (an IPv4-mapped address too, as nginx on a dual-stack socket)', () => {
    expect(bytes(binaryAddress('127.0.0.1'))).toEqual([127, 0, 0, 1]);
    expect(bytes(binaryAddress('::1'))).toEqual([...Array(15).fill(0), 1]);
    expect(bytes(binaryAddress('2001:db8::ff00:42:8329'))).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0x00, 0x00, 0x42, 0x83, 0x29]);
    expect(bytes(binaryAddress('::ffff:10.1.2.3'))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]);
    expect(bytes(binaryAddress('fe80::1%eth0'))).toEqual([0xfe, 0x80, ...Array(13).fill(0), 1]);
  });

  test('an IPv4 key and the IPv6 address with the same bytes never meet', () => {
    expect(binaryAddress('0.0.0.1')).not.toBe(binaryAddress('::1'));
    expect(binaryAddress('10.1.2.3')).not.toBe(binaryAddress('::ffff:10.1.2.3'));
    expect(binaryAddress('')).toBe('');
  });
});

describe('zone calls and replies on the cluster channel', () => {
  test('every call and every answer comes back as it went (flat arrays on the wire)', () => {
    const calls: ZoneCall[] = [
      { op: 'declare', id: 1, specs: [{ name: 'one', kind: 'limit_req', size: 1 << 20, rate: 1000, key: '$uri' }] },
      { op: 'req', id: 2, limits: [one('one', '\x7f\0\0\x01', 5, 2), { zone: 'two', key: '', burst: 0, delay: Number.MAX_SAFE_INTEGER }] },
      { op: 'conn', id: 3, limits: [{ zone: 'c', key: 'k', conn: 10 }] },
      { op: 'release', id: 0, slots: [{ zone: 'c', key: 'k', where: 'local', epoch: 4 }, { zone: 'c', key: 'k', where: 'redis' }] },
    ];
    for (const call of calls) expect(decodeCall(encodeCall(call))).toEqual(call);
    const replies: ZoneReply[] = [
      { id: 1, value: null },
      { id: 2, value: { kind: 'declined' } },
      { id: 3, value: { kind: 'passed' } },
      { id: 4, value: { kind: 'delayed', delayMs: 500, excess: 1000, zone: 'one' } },
      { id: 5, value: { kind: 'busy', excess: 3000, zone: 'one' } },
      { id: 6, value: { kind: 'nomem', zone: 'one' } },
      { id: 7, value: { kind: 'passed', counted: true, slots: [{ zone: 'c', key: 'k', where: 'local', epoch: 1 }] } },
      { id: 8, value: { kind: 'passed', counted: false, slots: [] } },
      { id: 9, value: { kind: 'busy', zone: 'c' } },
      { id: 10, error: 'zones: no such thing' },
    ];
    for (const reply of replies) expect(decodeReply(encodeReply(reply))).toEqual(reply);
  });
});
