/**
 * The gateway's counters (summed across workers) as Prometheus text, through prom-client (the
 * only importer of prom-client). The counting itself is done by `counters.ts`; here each scrape
 * builds a fresh prom-client `Registry` whose metrics report the summed snapshot, so prom-client
 * writes the exposition format (HELP/TYPE lines, label escaping, histogram series).
 */
import { Registry, type Metric } from 'prom-client';
import { LATENCY_BUCKETS, type LocationSnapshot, type Snapshot } from './counters';

/** The Content-Type of the text format (`text/plain; version=0.0.4; charset=utf-8`). */
export const PROMETHEUS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

type Labels = Record<string, string | number>;
interface Sample {
  labels: Labels;
  value: number;
  /** For histogram series: `_bucket`, `_sum`, `_count`. */
  metricName?: string;
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/** The Prometheus text of a snapshot. */
export function renderPrometheus(sum: Snapshot): Promise<string> {
  const registry = new Registry();
  const add = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', samples: Sample[]) => {
    const values = samples;
    const metric = { name, help, type, get: () => ({ name, help, type, values, aggregator: 'sum' }) };
    registry.registerMetric(metric as unknown as Metric);
  };
  const c = sum.connections;
  const waiting = c.active - c.reading - c.writing;
  add('gateway_worker_processes', 'Processes whose counters are summed in this scrape.', 'gauge', [{ labels: {}, value: sum.processes }]);
  add('gateway_connections_accepted_total', 'Client connections accepted (stub_status "accepts").', 'counter', [{ labels: {}, value: c.accepted }]);
  add('gateway_connections_handled_total', 'Client connections handled, not refused for worker_connections (stub_status "handled").', 'counter', [
    { labels: {}, value: c.handled },
  ]);
  add('gateway_connections', 'Open client connections by state (stub_status "Reading", "Writing", "Waiting").', 'gauge', [
    { labels: { state: 'reading' }, value: c.reading },
    { labels: { state: 'writing' }, value: c.writing },
    { labels: { state: 'waiting' }, value: waiting },
  ]);
  add('gateway_connections_active', 'Open client connections (stub_status "Active connections").', 'gauge', [{ labels: {}, value: c.active }]);
  add('gateway_requests_total', 'Client requests, upgrades included (stub_status "requests").', 'counter', [{ labels: {}, value: c.requests }]);

  const locs = sum.locations;
  const where = (l: LocationSnapshot): Labels => ({ server: l.server, location: l.location });
  add(
    'gateway_http_requests_total',
    'Responses by server, location and status class (499: the client went away first).',
    'counter',
    locs.flatMap((l) => l.statuses.map((value, i) => ({ labels: { ...where(l), status: STATUS_CLASSES[i] }, value })).filter((s) => s.value > 0)),
  );
  add('gateway_http_request_duration_seconds', 'Time from the request head to the end of the response.', 'histogram', locs.filter((l) => l.latencyCount > 0).flatMap(histogram));
  const ws = locs.filter((l) => l.wsOpen > 0 || l.wsFramesIn > 0 || l.wsFramesOut > 0 || Object.keys(l.closeCodes).length > 0);
  add('gateway_websocket_connections_open', 'Open WebSocket sessions of websocket-script locations.', 'gauge', ws.map((l) => ({ labels: where(l), value: l.wsOpen })));
  add('gateway_websocket_frames_total', 'WebSocket messages and control frames, by direction (in: from the client).', 'counter', [
    ...ws.map((l) => ({ labels: { ...where(l), direction: 'in' }, value: l.wsFramesIn })),
    ...ws.map((l) => ({ labels: { ...where(l), direction: 'out' }, value: l.wsFramesOut })),
  ]);
  add('gateway_websocket_payload_bytes_total', 'WebSocket payload bytes, by direction (in: from the client).', 'counter', [
    ...ws.map((l) => ({ labels: { ...where(l), direction: 'in' }, value: l.wsBytesIn })),
    ...ws.map((l) => ({ labels: { ...where(l), direction: 'out' }, value: l.wsBytesOut })),
  ]);
  add(
    'gateway_websocket_closes_total',
    "Closed WebSocket sessions by the client's close code (1005: none given, 1006: no close frame).",
    'counter',
    ws.flatMap((l) => Object.entries(l.closeCodes).map(([code, value]) => ({ labels: { ...where(l), code }, value }))),
  );
  add(
    'gateway_upstream_errors_total',
    'Proxy failures by kind: connect, timeout, reset, closed, invalid, error.',
    'counter',
    locs.flatMap((l) => Object.entries(l.upstreamErrors).map(([kind, value]) => ({ labels: { ...where(l), kind }, value }))),
  );
  const push = locs.filter((l) => l.pushSubscribers > 0 || l.pushPublished > 0 || l.pushDelivered > 0 || l.pushOverflowClosed > 0);
  add('gateway_push_subscribers', 'Push subscribers connected now (WebSocket and EventSource).', 'gauge', push.map((l) => ({ labels: where(l), value: l.pushSubscribers })));
  add('gateway_push_messages_published_total', 'Messages published through the location (HTTP POST or a script).', 'counter', push.map((l) => ({ labels: where(l), value: l.pushPublished })));
  add('gateway_push_messages_delivered_total', "Messages handed to subscribers' connections.", 'counter', push.map((l) => ({ labels: where(l), value: l.pushDelivered })));
  add('gateway_push_messages_dropped_total', 'Messages a slow subscriber never got (overflow: drop_oldest).', 'counter', push.map((l) => ({ labels: where(l), value: l.pushDropped })));
  add('gateway_push_overflow_closes_total', 'Subscribers closed because their send buffer was full (overflow: close).', 'counter', push.map((l) => ({ labels: where(l), value: l.pushOverflowClosed })));
  add(
    'gateway_upstream_peer_usable',
    'Worker processes whose balancer may choose the peer now (0: down, or out for its failures everywhere).',
    'gauge',
    sum.peers.map((p) => ({ labels: { upstream: p.upstream, peer: p.peer }, value: p.usable })),
  );
  add(
    'gateway_upstream_peer_active_requests',
    'Requests on the peer now.',
    'gauge',
    sum.peers.map((p) => ({ labels: { upstream: p.upstream, peer: p.peer }, value: p.active })),
  );
  return registry.metrics();
}

/** A location's latency histogram as `_bucket` (cumulative), `_sum` and `_count` samples. */
function histogram(l: LocationSnapshot): Sample[] {
  const labels = { server: l.server, location: l.location };
  const samples: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i <= LATENCY_BUCKETS.length; i++) {
    cumulative += l.latencyBuckets[i];
    const le = i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i] : '+Inf';
    samples.push({ labels: { ...labels, le }, value: cumulative, metricName: 'gateway_http_request_duration_seconds_bucket' });
  }
  samples.push({ labels, value: l.latencySum, metricName: 'gateway_http_request_duration_seconds_sum' });
  samples.push({ labels, value: l.latencyCount, metricName: 'gateway_http_request_duration_seconds_count' });
  return samples;
}
