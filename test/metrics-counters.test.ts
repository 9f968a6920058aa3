/** The counters, their merge across workers, and both renderings, without sockets. */
import { stubStatusText } from '../src/modules/status/stub-status';
import { closedPart, LATENCY_BUCKETS, LocationCounters, mergeSnapshots, type Snapshot } from '../src/modules/status/counters';
import { renderPrometheus } from '../src/modules/status/prometheus';

function part(counters: LocationCounters, connections: Partial<Snapshot['connections']> = {}, peers: Snapshot['peers'] = []): Snapshot {
  return {
    processes: 1,
    connections: { active: 0, accepted: 0, handled: 0, requests: 0, reading: 0, writing: 0, ...connections },
    locations: [
      {
        server: counters.server,
        location: counters.location,
        statuses: [...counters.statuses],
        latencyBuckets: [...counters.latencyBuckets],
        latencySum: counters.latencySum,
        latencyCount: counters.latencyCount,
        wsOpen: counters.wsOpen,
        wsFramesIn: counters.wsFramesIn,
        wsFramesOut: counters.wsFramesOut,
        wsBytesIn: counters.wsBytesIn,
        wsBytesOut: counters.wsBytesOut,
        closeCodes: Object.fromEntries(counters.closeCodes),
        upstreamErrors: Object.fromEntries(counters.upstreamErrors),
        pushSubscribers: counters.pushSubscribers,
        pushPublished: counters.pushPublished,
        pushDelivered: counters.pushDelivered,
        pushDropped: counters.pushDropped,
        pushOverflowClosed: counters.pushOverflowClosed,
      },
    ],
    peers,
  };
}

test('upstream peers are summed over the processes and rendered as gauges', async () => {
  const peer = (usable: number, active: number) => ({ upstream: 'app', peer: '127.0.0.1:81', usable, active });
  const total = mergeSnapshots([part(new LocationCounters('_', '/'), {}, [peer(1, 2)]), part(new LocationCounters('_', '/'), {}, [peer(0, 1)])]);
  expect(total.peers).toEqual([peer(1, 3)]);
  expect(closedPart(total).peers).toEqual([]);
  const text = await renderPrometheus(total);
  expect(text).toContain('gateway_upstream_peer_usable{upstream="app",peer="127.0.0.1:81"} 1');
  expect(text).toContain('gateway_upstream_peer_active_requests{upstream="app",peer="127.0.0.1:81"} 3');
});

test.each([
  [200, 0.001, 1, 0],
  [204, 0.005, 1, 0],
  [301, 0.0051, 2, 1],
  [404, 0.3, 3, 6],
  [503, 11, 4, LATENCY_BUCKETS.length],
  [499, 10, 3, LATENCY_BUCKETS.length - 1],
])('status %d after %ds: class slot %d, latency bucket %d', (status, seconds, klass, bucket) => {
  const c = new LocationCounters('_', '/');
  c.response(status, seconds);
  expect(c.statuses[klass]).toBe(1);
  expect(c.statuses.reduce((a, b) => a + b)).toBe(1);
  expect(c.latencyBuckets[bucket]).toBe(1);
  expect(c.latencyCount).toBe(1);
});

test('merge sums workers by server and location; a gone worker keeps its counts but nothing open', () => {
  const a = new LocationCounters('example', '/s');
  const b = new LocationCounters('example', '/s');
  a.wsOpened();
  a.wsOpened();
  a.wsClosed(1000);
  a.frame(true, 5);
  b.wsOpened();
  b.wsClosed(1000);
  b.wsOpened();
  b.frame(false, 7);
  b.upgradeEnded(101);
  b.upstreamError('GW_UPSTREAM_TIMEOUT');
  const sum = mergeSnapshots([part(a, { active: 2, accepted: 3, handled: 3, requests: 4, writing: 2 }), part(b, { active: 1, accepted: 1, handled: 1, requests: 1, reading: 1 })]);
  expect(sum.processes).toBe(2);
  expect(sum.connections).toEqual({ active: 3, accepted: 4, handled: 4, requests: 5, reading: 1, writing: 2 });
  expect(sum.locations).toHaveLength(1);
  expect(sum.locations[0]).toMatchObject({ wsOpen: 2, wsFramesIn: 1, wsBytesIn: 5, wsFramesOut: 1, wsBytesOut: 7, closeCodes: { 1000: 2 }, upstreamErrors: { timeout: 1 } });
  expect(sum.locations[0].statuses).toEqual([1, 0, 0, 0, 0]);
  const gone = closedPart(part(a, { active: 2, accepted: 3, handled: 3, requests: 4, writing: 2 }));
  expect(gone).toMatchObject({ processes: 0, connections: { active: 0, writing: 0, reading: 0, accepted: 3, requests: 4 } });
  expect(gone.locations[0].wsOpen).toBe(0);
});

test("stub_status text is nginx's, byte for byte", () => {
  const sum = mergeSnapshots([part(new LocationCounters('_', '/'), { active: 3, accepted: 14, handled: 13, requests: 27, reading: 1, writing: 1 })]);
  expect(stubStatusText(sum)).toBe('Active connections: 3 \nserver accepts handled requests\n 14 13 27 \nReading: 1 Writing: 1 Waiting: 1 \n');
});

test('Prometheus text: counters, gauges, a cumulative histogram, escaped labels', async () => {
  const c = new LocationCounters('example', '~ "\\.php$');
  c.response(200, 0.002);
  c.response(200, 0.2);
  c.response(502, 20);
  const text = await renderPrometheus(mergeSnapshots([part(c, { active: 1, accepted: 2, handled: 2, requests: 3, writing: 1 })]));
  const where = 'server="example",location="~ \\"\\\\.php$"';
  expect(text).toContain('# TYPE gateway_http_requests_total counter\n');
  expect(text).toContain(`gateway_http_requests_total{${where},status="2xx"} 2\n`);
  expect(text).toContain(`gateway_http_requests_total{${where},status="5xx"} 1\n`);
  expect(text).toContain('# TYPE gateway_http_request_duration_seconds histogram\n');
  expect(text).toContain(`gateway_http_request_duration_seconds_bucket{${where},le="0.005"} 1\n`);
  expect(text).toContain(`gateway_http_request_duration_seconds_bucket{${where},le="0.25"} 2\n`);
  expect(text).toContain(`gateway_http_request_duration_seconds_bucket{${where},le="10"} 2\n`);
  expect(text).toContain(`gateway_http_request_duration_seconds_bucket{${where},le="+Inf"} 3\n`);
  expect(text).toContain(`gateway_http_request_duration_seconds_count{${where}} 3\n`);
  expect(text).toContain('gateway_connections{state="waiting"} 0\n');
  expect(text).toContain('gateway_connections_active 1\n');
  expect(text).toContain('gateway_requests_total 3\n');
});
