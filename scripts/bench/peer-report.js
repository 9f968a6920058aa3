'use strict';
/**
 * The report's "Node peers" section: for each kind of row (static files, proxy, WebSocket
 * echo), the CPU per operation of each Node peer (peer-servers.js) beside the gateway's and
 * nginx's of the same run, gateway ÷ peer, and where a peer does less than the gateway: the
 * response headers it leaves out or adds (from each server's probe request before its window),
 * pre-compressed gzip, no script API.
 */
const { PEERS, peersFor } = require('./peer-servers');

const us = (n) => (Number.isFinite(n) ? (n * 1e6 >= 100 ? (n * 1e6).toFixed(0) : (n * 1e6).toFixed(1)) : '—');
const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const ratioText = (r) => (r === null || !Number.isFinite(r) ? '—' : r.toFixed(2));
const ok = (side) => (side && !side.error ? side : null);

/** Header names left out of the comparison: connection management, not content or validators. */
const TRANSPORT = new Set(['connection', 'keep-alive', 'transfer-encoding']);

const KINDS = [
  {
    kind: 'static',
    title: 'Static files',
    intro:
      'The same files (a copy, `peer-public/`, with FILE.gz beside each file at gzip level 1 for the peers that gzip as their README shows: they send the pre-compressed file, where nginx and the gateway compress, or take from their cache, per response). The gateway and nginx also write an access log line per request; the peers write none.',
  },
  {
    kind: 'proxy',
    title: 'Proxy',
    intro:
      'The same backend and paths (`/proxy/X` to the backend\'s `/X`, the prefix cut by each peer as `proxy_pass http://backend/` does). The gateway and nginx also apply nginx\'s header rules (`Host`, `Connection`, hop-by-hop headers, `X-Forwarded-*` when configured), timeouts, `proxy_next_upstream`, and write an access log line; the peers pass the headers through, with neither log nor timeouts.',
  },
  {
    kind: 'ws',
    title: 'WebSocket echo',
    intro:
      "The same load (ws-load.js, 50 connections in closed loops). The gateway runs the seed's echo as a script on the lua-resty-websocket API (`recv_frame` / `send_text`, a ping when a read times out), nginx the Lua original; `ws` and uWebSockets.js echo in a callback, with no script API; Socket.IO wraps each message in an event (`42[\"m\",...]`, 9 bytes more each way), which ws-load.js speaks.",
  },
];

/** What a server's probe says beside the gateway's: header names left out / added, gzip. */
function differences(kase, side, gateway, peer) {
  const a = side?.probe;
  const g = gateway?.probe;
  if (!a || !g) return '';
  const names = (p) => new Set(p.headers.filter((h) => !TRANSPORT.has(h)));
  const [mine, theirs] = [names(a), names(g)];
  const lacks = [...theirs].filter((h) => !mine.has(h));
  const adds = [...mine].filter((h) => !theirs.has(h));
  const out = [];
  if (lacks.length) out.push(`no ${lacks.map((h) => `\`${h}\``).join(', ')}`);
  if (adds.length) out.push(`adds ${adds.map((h) => `\`${h}\``).join(', ')}`);
  if (kase.gzip && a.encoding !== 'gzip') out.push('**sent uncompressed**');
  else if (kase.gzip && peer?.kind === 'static') out.push(`pre-compressed file (${int(a.length)} B; gateway ${int(g.length)} B)`);
  if (!kase.gzip && a.length !== g.length) out.push(`body ${int(a.length)} B (gateway ${int(g.length)} B)`);
  return out.join('; ') || 'the same headers';
}

/** The table of one kind: per case, the gateway, nginx, then every peer measured. */
function kindTable(spec, cases, results) {
  const rows = cases.filter((kase) => kase.peers === spec.kind && kase.kind !== 'idle');
  if (rows.length === 0) return null;
  const lines = [];
  const judged = { cheaper: [], dearer: [] };
  for (const kase of rows) {
    const r = results[kase.id] || {};
    const g = ok(r.gateway);
    const n = ok(r.nginx);
    const line = (name, label, side, note) => {
      if (!side) return `| ${kase.label} | ${label} | ${r[name]?.error ? `failed: ${r[name].error}` : 'not measured'} | | | | |`;
      const over = g && side.cpuPerOp > 0 ? g.cpuPerOp / side.cpuPerOp : null;
      const vsNginx = n && n.cpuPerOp > 0 ? side.cpuPerOp / n.cpuPerOp : null;
      return `| ${kase.label} | ${label} | ${int(side.throughput)} | ${us(side.cpuPerOp)} | ${ratioText(over)} | ${ratioText(vsNginx)} | ${note} |`;
    };
    lines.push(line('gateway', 'gateway', g, ''));
    lines.push(line('nginx', 'nginx', n, spec.kind === 'ws' ? '' : differences(kase, n, g, null)));
    for (const peer of peersFor(kase)) {
      const side = ok(r[peer.name]);
      if (!side && !r[peer.name]) continue;
      if (side && g) (g.cpuPerOp < side.cpuPerOp ? judged.cheaper : judged.dearer).push(`${kase.label}: ${peer.label}`);
      lines.push(line(peer.name, peer.label, side, spec.kind === 'ws' ? '' : differences(kase, side, g, peer)));
    }
  }
  const total = judged.cheaper.length + judged.dearer.length;
  const verdict =
    total === 0
      ? 'No peer was measured beside the gateway on these rows.'
      : judged.dearer.length === 0
        ? `The gateway costs less CPU per operation than the peer on all ${total} peer rows.`
        : `The gateway costs less than the peer on ${judged.cheaper.length} of ${total} peer rows; **more** on: ${judged.dearer.join('; ')}.`;
  return [
    `### ${spec.title}`,
    '',
    spec.intro,
    '',
    '| case | server | /s | CPU/op µs | gateway ÷ this | this ÷ nginx | beside the gateway (its probe response) |',
    '| --- | --- | ---: | ---: | ---: | ---: | --- |',
    ...lines,
    '',
    verdict,
  ].join('\n');
}

/** How each peer is set up, from peer-servers.js. */
function setupList() {
  return PEERS.map((peer) => `- **${peer.label}** (scripts/bench/peers/${peer.name}.js): ${peer.does}.`).join('\n');
}

/** The whole section (markdown), or a line saying why there is none. */
function peerSection(cases, results, described) {
  if (!described) return 'No Node peer was measured in this run.';
  if (described.skipped) return `The Node peers were not measured in this run (\`${described.skipped}\`).`;
  const failed = Object.entries(described.failed || {}).map(([name, why]) => `- ${name} did not start: ${why}`);
  const tables = KINDS.map((spec) => kindTable(spec, cases, results)).filter(Boolean);
  if (tables.length === 0) return 'No case of this run has Node peers (static 1 KiB / 64 KiB / 1 MiB with and without gzip, proxy small / 64 KiB, WS echo 50 x 64 B / 50 x 16 KiB).';
  return [
    'The servers users compare the gateway with in Node, each in its own small script as its README shows, started on the server core like the gateway and nginx and measured in the same rounds on the same files, backend and load (the best round by throughput, as above). **gateway ÷ this** is the gateway\'s CPU per operation over the row\'s: below 1 the gateway costs less. The last column compares each server\'s response to the gateway\'s, from one request made before its window (header names; connection management left out): a peer that sends fewer headers or no validators does less than the gateway there.',
    '',
    setupList(),
    ...(failed.length ? ['', ...failed] : []),
    '',
    tables.join('\n\n'),
  ].join('\n');
}

module.exports = { peerSection, differences };
