'use strict';
/**
 * Writes docs/scale-benchmark.md from scale-run.js's results: memory per connection, time to
 * open, CPU per accepted connection, the echo of every connection, bad input under the load,
 * and the reload with the connections open, the gateway beside nginx.
 */
const fs = require('node:fs');
const path = require('node:path');

const MiB = 2 ** 20;
const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const mib = (b) => (Number.isFinite(b) ? `${(b / MiB).toFixed(1)} MiB` : '—');
const kib = (b) => (Number.isFinite(b) ? `${(b / 1024).toFixed(1)} KiB` : '—');
const pct = (x) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '—');
const secs = (s) => (Number.isFinite(s) ? `${s.toFixed(1)} s` : '—');

/** Bytes of RSS per open connection, or NaN. */
const perConnection = (r) => (r && r.open && r.open.opened > 0 ? (r.loadedRss - r.baseRss) / r.open.opened : NaN);

function openTable(results) {
  const rows = Object.values(results).map((r) => {
    if (r.error && !r.open) return `| ${r.name} | failed: ${r.error} | | | | | | | | |`;
    const o = r.open;
    return `| ${r.name} | ${int(o.opened)} | ${int(o.failed)} | ${secs(o.seconds)} | ${int(o.opened / o.seconds)} | ${((o.serverCpu / Math.max(1, o.opened)) * 1e6).toFixed(1)} | ${pct(o.serverCoreBusy)} / ${pct(o.generatorCoreBusy)} | ${mib(r.baseRss)} | ${mib(r.loadedRss)} | **${kib(perConnection(r))}** |`;
  });
  return [
    '| server | connections open | failed | time to open | opened /s | server CPU per accepted connection µs | core busy (server / generators) | RSS before | RSS with them open | memory per connection |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

function echoTable(results) {
  const cell = (e) => (e ? `${int(e.ok)} / ${int(e.failed)}${e.failed ? ` (${e.firstError})` : ''} in ${secs(e.seconds)}` : '—');
  const rows = Object.values(results).map((r) => `| ${r.name} | ${cell(r.echo)} | ${cell(r.bad?.alongside)} | ${cell(r.reload?.echo)} | ${cell(r.reload?.freshEcho)} |`);
  return [
    '| server | all echo once (ok / failed) | again, during the bad input | again, after the reload | 200 new connections after the reload |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

/** The RSS samples after the bad clients left: `1,490 MiB (10 s), ...` (one figure in older runs). */
function afterCells(after) {
  return Array.isArray(after) ? after.map((a) => `${mib(a.rss)} (${a.s} s)`).join(', ') : mib(after);
}

function badTable(results, run) {
  const rows = Object.values(results).map((r) => {
    const b = r.bad;
    const x = b?.result;
    if (!x || x.event !== 'result') return `| ${r.name} | ${b ? `bad-input failed: ${x?.message ?? 'no result'}` : '—'} | | | | | | | |`;
    const silent = x.silent.closed ? `${x.silent.closed} of ${x.silent.count} closed after ${x.silent.minS.toFixed(1)}–${x.silent.maxS.toFixed(1)} s` : `0 of ${x.silent.count} closed`;
    return `| ${r.name} | ${x.slowReaders.cut} of ${x.slowReaders.count} cut (at most ${int(x.slowReaders.maxBytes)} of ${int(run.big.size)} bytes read) | ${silent} | ${int(x.pingFloods.pings)} pings, ${int(x.pingFloods.pongs)} pongs; ${x.pingFloods.pushedBack} of ${x.pingFloods.count} pushed back, ${x.pingFloods.closedEarly} closed | ${x.byteSenders.echoed} of ${x.byteSenders.count} echoed | ${x.downloadS == null ? 'not whole in 60 s' : secs(x.downloadS)} | ${x.errors}${x.firstError ? ` (${x.firstError})` : ''} | ${mib(b.beforeRss)} → peak ${mib(b.peakRss)} → ${afterCells(b.afterRss)} |`;
  });
  return [
    '| server | slow readers of the 32 MiB file | silent connections | ping floods | one byte at a time | the 32 MiB file downloaded meanwhile by a client that reads | client errors | RSS before → peak → after they left |',
    '| --- | --- | --- | --- | --- | ---: | ---: | --- |',
    ...rows,
  ].join('\n');
}

function reloadTable(results) {
  const spread = (s) => (s ? s.map((w) => int(w.sockets)).join(', ') : '—');
  const rows = Object.values(results).map((r) =>
    r.reload ? `| ${r.name} | ${r.reload.oldAlive} of ${r.reload.oldWorkers} | ${r.reload.newWorkers} | ${spread(r.spread)} | ${spread(r.reload.spread)} |` : `| ${r.name} | — | — | ${spread(r.spread)} | — |`,
  );
  return [
    '| server | old workers still running after the reload | new workers | sockets per worker with them open | sockets per worker after the reload (old, then new) |',
    '| --- | ---: | ---: | --- | --- |',
    ...rows,
  ].join('\n');
}

function fullnessTable(results) {
  const rows = Object.values(results).map((r) =>
    r.fullness ? `| ${r.name} | ${int(r.fullness.notEnough)} | ${r.name === 'gateway' ? `${int(r.fullness.stopped)} / ${int(r.fullness.resumed)}` : '— (accept_mutex off: no 7/8 rule)'} |` : `| ${r.name} | — | — |`,
  );
  return [
    '| server | connections closed for want of a slot ("worker_connections are not enough") | a worker past 7/8 of its worker_connections stopped accepting / accepted again (times) |',
    '| --- | ---: | ---: |',
    ...rows,
  ].join('\n');
}

function writeScaleReport({ outDir, run, results }) {
  const g = results.gateway;
  const n = results.nginx;
  const ratio = perConnection(g) / perConnection(n);
  const lines = [
    '# 100,000 WebSockets: the gateway vs nginx + OpenResty Lua',
    '',
    `Generated by \`npm run bench:scale\` (scripts/bench/scale-run.js) on ${run.date}, commit ${run.commit}.`,
    `Machine: ${run.cores} cores, ${run.cpu}, Linux ${run.kernel}; Node ${run.node}; ${run.nginx}.`,
    '',
    '## How it is measured',
    '',
    `- Each server freshly started with the bench's tree (scripts/bench/setup.js: the seed's echo script at \`/s\`, access and error logs on) and ${run.workers} worker processes: this machine lets no process hold more than ${int(run.nofile)} descriptors (the hard \`ulimit -n\`; no CAP_SYS_RESOURCE to raise it, even as root), so ${int(run.n)} connections need several workers. Both: \`worker_processes ${run.workers}\`, \`worker_connections ${int(run.workerConnections)}\`, \`worker_rlimit_nofile ${int(run.nofile)}\`, \`send_timeout 5s\`, \`client_header_timeout 30s\` (at 5 s, handshakes that a starved generator was slow to send were closed), \`listen ... backlog=4096\` (the default 511 overflowed) and no \`so_keepalive\` (the seed's 2 s probes on 100,000 idle connections are 50,000 probes a second). Servers on core 0, every generator on core 1.`,
    `- The connections come from ${Math.ceil(run.n / run.perGenerator)} generator processes (ws-load.js, the \`ws\` client without compression), ${int(run.perGenerator)} at most each, each from its own source address (127.0.0.2…, ~28k ephemeral ports each), opened at ${int(run.rate)} per second in all (at most 100 handshakes in flight per generator), with a deadline of ${run.deadline} s.`,
    '- Warm-up: 200 connections opened, echoed and closed; then the baseline RSS (VmRSS of master + workers, median of 5 samples). Memory per connection = (RSS 3 s after all are open − baseline) ÷ connections open. CPU per accepted connection = the server tree\'s CPU seconds over the open phase ÷ connections opened (handshake, script start, the idle state).',
    `- Echo: every connection sends one short text message and waits for it back (60 s at most). Bad input: ${run.bad} clients of each kind at once from another process, while every connection echoes again: slow readers (ask for ${run.big.path}, ${int(run.big.size)} bytes, read nothing for 10 s, then read what comes), silent connections (connect, never send; watched for 40 s), ping floods (8 s of ping frames as fast as the socket takes them, nothing read), one-byte senders (one text message, a byte every 50 ms), and one client downloading the same large file as fast as it reads, a second in. RSS sampled every 250 ms during it, and 10, 20 and 30 s after the bad clients left (one sample, 10 s after, in the runs before the reducer's young-generation step; 3 s in the runs before the workers' quiet memory reducer).`,
    '- Reload: SIGHUP to the master with all connections open; once the new workers run, every connection echoes again (through the old workers), and 200 new connections echo through the new ones.',
    '',
    '## Memory, time to open, CPU per connection',
    '',
    openTable(results),
    '',
    Number.isFinite(ratio) ? `Memory per connection, gateway ÷ nginx: **${ratio.toFixed(2)}** (targets: ≤ 8 KiB per connection and ≤ 0.5 of nginx's: ${perConnection(g) <= 8192 ? 'met' : '**missed**'} / ${ratio <= 0.5 ? 'met' : '**missed**'}).` : '',
    '',
    'While they were opened:',
    '',
    fullnessTable(results),
    '',
    '## Every connection echoes',
    '',
    echoTable(results),
    '',
    '## Bad input under the load',
    '',
    badTable(results, run),
    '',
    '## Reload with them open',
    '',
    reloadTable(results),
    '',
  ];
  for (const r of Object.values(results)) if (r.error) lines.push(`${r.name} failed: ${r.error}`, '');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'scale-benchmark.md');
  fs.writeFileSync(file, lines.join('\n'));
  return file;
}

module.exports = { writeScaleReport, perConnection };
