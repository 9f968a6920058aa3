'use strict';
/**
 * The push benchmark's report: docs/push-benchmark.md (how it was measured, the figures per
 * scenario and server, the ratios gateway ÷ nchan, the generator check, the profile) and
 * docs/push-benchmark.svg (the ratios as bars, drawn by svg.js as the main benchmark's chart).
 * The hand-written reading between the analysis markers is carried over from the previous
 * report, as report.js does for docs/benchmarks.md.
 */
const fs = require('node:fs');
const path = require('node:path');
const { SATURATED, SERVER_CORE, GENERATOR_CORE } = require('./cases');
const { ratioChart } = require('./svg');
const { profileSection, keptAnalysis } = require('./report');

const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const ms = (n) => (Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)) : '—');
const us = (n) => (Number.isFinite(n) ? (n * 1e6 >= 100 ? (n * 1e6).toFixed(0) : (n * 1e6).toFixed(1)) : '—');
const pct = (n) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : '—');
const kib = (bytes) => (Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(1)} KiB` : '—');
const mib = (bytes) => (Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : '—');
const ratioText = (r) => (r === null || !Number.isFinite(r) ? '—' : r.toFixed(2));

const ok = (r) => (r && !r.error ? r : null);
const rate = (t) => (t && t.seconds > 0 ? t.messages / t.seconds : NaN);
const deliveries = (t) => (t && t.seconds > 0 ? t.deliveries / t.seconds : NaN);
const cpuPerDelivery = (t) => (t && t.deliveries > 0 ? t.serverCpu / t.deliveries : NaN);
/** Others' share of the server core in a window (busy − the server's own CPU − irq/softirq). */
const others = (w) => (w ? Math.max(0, w.serverCoreBusy - w.serverCpuShare - (w.serverCoreIrq || 0)) : NaN);

/** The metrics compared, each as gateway cost ÷ nchan cost. */
const METRICS = [
  { id: 'rate', label: 'publish rate', value: (r) => rate(r.throughput), inverse: true },
  { id: 'p50', label: 'latency p50', value: (r) => r.latency?.p50 },
  { id: 'p99', label: 'latency p99', value: (r) => r.latency?.p99 },
  { id: 'cpu', label: 'CPU per delivery', value: (r) => cpuPerDelivery(r.throughput) },
  { id: 'mem', label: 'memory per subscriber', value: (r) => r.bytesPerSubscriber },
];

function ratio(metric, g, n) {
  if (!ok(g) || !ok(n)) return null;
  const a = metric.value(g);
  const b = metric.value(n);
  if (!Number.isFinite(a) || !Number.isFinite(b) || a <= 0 || b <= 0) return null;
  return metric.inverse ? b / a : a / b;
}

function resultsTable(scenario, servers, results) {
  const lines = [
    '| server | subscribers | publish rate msg/s | deliveries/s | server CPU | CPU µs / delivery | latency at msg/s | p50 ms | p99 ms | p99.9 ms | lost | memory / subscriber | RSS before → after | CPU µs / connect |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const server of servers) {
    const r = results[scenario.id]?.[server.id];
    if (!ok(r)) {
      lines.push(`| ${server.label} | ${r?.error ? `failed: ${r.error}` : 'not measured'} | | | | | | | | | | | | |`);
      continue;
    }
    const t = r.throughput;
    const l = r.latency;
    const lost = (t?.lost ?? 0) + (l?.lost ?? 0);
    const closed = Math.max(t?.closed ?? 0, l?.closed ?? 0);
    lines.push(
      `| ${server.label} | ${int(r.opened)}${r.failed ? ` (${r.failed} failed)` : ''} | ${int(rate(t))} | ${int(deliveries(t))} | ${pct(t?.serverCpuShare)} | ${us(cpuPerDelivery(t))} | ${int(l?.rate)} | ${ms(l?.p50)} | ${ms(l?.p99)} | ${ms(l?.p999)} | ${int(lost)}${closed ? ` (${closed} closed)` : ''} | ${kib(r.bytesPerSubscriber)} | ${mib(r.baseRss)} → ${mib(r.loadedRss)} | ${us(r.connectCpuPerSub)} |`,
    );
  }
  return lines.join('\n');
}

function ratioTable(scenarios, servers, results) {
  const gateways = servers.filter((s) => s.kind === 'gateway' && servers.some((n) => n.id === s.pair));
  if (gateways.length === 0) return '_nchan was not measured: no ratios._';
  const lines = [`| scenario | gateway run | vs | ${METRICS.map((m) => m.label).join(' | ')} |`, `| --- | --- | --- | ${METRICS.map(() => '---:').join(' | ')} |`];
  for (const scenario of scenarios) {
    for (const g of gateways) {
      const gr = results[scenario.id]?.[g.id];
      const nr = results[scenario.id]?.[g.pair];
      lines.push(`| ${scenario.label} | ${g.label} | ${servers.find((s) => s.id === g.pair).label} | ${METRICS.map((m) => ratioText(ratio(m, gr, nr))).join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

function generatorTable(scenarios, servers, results) {
  const flagged = [];
  const lines = [
    `| scenario | server | phase | generator CPU | core ${GENERATOR_CORE} busy | Redis CPU | server CPU | irq + softirq on core ${SERVER_CORE} | others on core ${SERVER_CORE} | publish errors | flag |`,
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const scenario of scenarios) {
    for (const server of servers) {
      const r = ok(results[scenario.id]?.[server.id]);
      if (!r) continue;
      for (const [name, w] of [
        ['throughput', r.throughput],
        ['latency', r.latency],
      ]) {
        if (!w) continue;
        let flag = '';
        if (w.genCpuShare >= SATURATED) flag = 'saturated';
        else if (w.genCoreBusy >= SATURATED && name === 'throughput' && w.serverCpuShare < SATURATED) flag = 'contended';
        if (flag) flagged.push(`${scenario.label}, ${server.label}, ${name}: ${flag === 'saturated' ? `the generator used ${pct(w.genCpuShare)} of core ${GENERATOR_CORE}` : `core ${GENERATOR_CORE} was ${pct(w.genCoreBusy)} busy (generator ${pct(w.genCpuShare)}${w.redisCpuShare ? `, Redis ${pct(w.redisCpuShare)}` : ''}) while the server used ${pct(w.serverCpuShare)} of its core`}.`);
        lines.push(
          `| ${scenario.label} | ${server.label} | ${name} | ${pct(w.genCpuShare)} | ${pct(w.genCoreBusy)} | ${w.redisCpuShare === null ? '—' : pct(w.redisCpuShare)} | ${pct(w.serverCpuShare)} | ${pct(w.serverCoreIrq)} | ${pct(others(w))}${others(w) >= 0.1 ? ' ⚠' : ''} | ${int(w.publishErrors)} | ${flag} |`,
        );
      }
    }
  }
  const out = [];
  if (flagged.length === 0) out.push('No window was saturated or contended on the generator core.');
  else out.push('Flagged windows (the server may have done more than measured):', '', ...flagged.map((f) => `- ${f}`));
  out.push('', ...lines);
  return out.join('\n');
}

function redisCheck(scenarios, servers, results) {
  const rows = [];
  for (const scenario of scenarios) {
    for (const server of servers.filter((s) => s.redis)) {
      const r = ok(results[scenario.id]?.[server.id]);
      if (r) rows.push(`${scenario.label}, ${server.label}: ${int(r.redisKeys)} keys`);
    }
  }
  return rows.length ? `Keys in Redis with the subscribers connected (Redis is flushed before each run, so these are the server's own): ${rows.join('; ')}.` : '';
}

function masterSection(profile) {
  if (!profile?.others?.length) return '';
  const out = ['', '**The other profiled process** (the master, which relays between the worker and the channel store):', ''];
  for (const o of profile.others) {
    out.push(`${o.file}: ${int(o.samples)} samples, ${pct(o.busyShare)} busy. Areas: ${o.areas.filter((a) => a.name !== 'idle').slice(0, 6).map((a) => `${a.name} ${a.pct.toFixed(1)}%`).join(', ')}.`, '');
    out.push('| function | where | self |', '| --- | --- | ---: |', ...o.top.map((f) => `| \`${f.name}\` | ${f.where || '(native)'} | ${f.pct.toFixed(1)}% |`), '');
  }
  return out.join('\n');
}

function writePushReport({ outDir, run, scenarios, servers, results, profile }) {
  fs.mkdirSync(outDir, { recursive: true });
  const mdFile = path.join(outDir, 'push-benchmark.md');
  const svgFile = path.join(outDir, 'push-benchmark.svg');
  const short = { 'gw-mem': 'mem', 'gw-mem-single': 'mem, 1 proc', 'gw-redis': 'Redis', 'gw-redis-single': 'Redis, 1 proc' };
  const chartRows = [];
  for (const scenario of scenarios) {
    for (const metric of METRICS) {
      for (const g of servers.filter((s) => s.kind === 'gateway' && (s.id === 'gw-mem' || s.id === 'gw-redis'))) {
        const r = ratio(metric, results[scenario.id]?.[g.id], results[scenario.id]?.[g.pair]);
        chartRows.push({ label: `${scenario.channels === 1 ? '1 ch' : `${scenario.channels} ch`}: ${metric.label} (${short[g.id]})`, ratio: r, target: null });
      }
    }
  }
  const subtitle = `${run.date.slice(0, 10)}, ${run.cores} cores (${run.cpu}), Node ${run.node}, ${run.nginx || 'no nginx'}, nchan ${run.nchanVersion || '?'}`;
  fs.writeFileSync(svgFile, ratioChart(chartRows, { title: 'Push channels: the gateway vs nginx + nchan, cost ratio', subtitle, axis: 'gateway cost ÷ nchan cost (log scale; 1 = parity, lower is better)' }));

  const scenarioSections = scenarios.flatMap((s) => [`### ${s.label}`, '', resultsTable(s, servers, results), '']);
  const md = [
    '# Push benchmark: the gateway vs nginx + nchan',
    '',
    `Generated by \`npm run bench:push\` (scripts/bench/push-run.js) on ${run.date}, commit ${run.commit}${run.dirty ? ' with uncommitted changes in src/ (the shared working tree)' : ''}, in ${Math.round(run.seconds_total)} s.`,
    `Machine: ${run.cores} cores, ${run.cpu}, ${mib(run.memory)} RAM, Linux ${run.kernel}; Node ${run.node}; ${run.nginx ? `${run.nginx} (Debian nginx-extras) with nchan ${run.nchanVersion || ''}` : `**nchan not measured: ${run.nchanMissing}**`}; ${run.redis || 'no Redis'}.`,
    `${run.quick ? '**Quick run (BENCH_PUSH_QUICK=1).** ' : ''}${int(run.subscribers)} WebSocket subscribers per scenario; each phase ${run.warmup} s warm-up, then a ${run.seconds} s window; messages of ${run.size} bytes.`,
    '',
    '## How it is measured',
    '',
    `- Servers pinned to core ${SERVER_CORE}, the load generator (scripts/bench/push-load.js, one Node process) and redis-server pinned to core ${GENERATOR_CORE}${run.pinned ? ' (taskset)' : ' (**taskset missing: nothing was pinned**)'}. Each (scenario, server) pair runs on a freshly started server (and a flushed Redis).`,
    '- The gateway: `worker_processes: 1`, `worker_connections: 20000`, `access_log: off`, `push-subscriber` at `~ ^/sub/(\\w+)$` and `push-publisher` at `~ ^/pub/(\\w+)$`, `message_buffer_length: 10`, `message_timeout: 1h`. With the master process (the default) the channels live in the master and the master relays every publish to the worker over IPC (and Redis\'s pub/sub arrives in the master too); `master_process off` runs one process holding channels and subscribers. Redis runs use `push_redis_url: redis://127.0.0.1:PORT`.',
    `- nginx + nchan: \`worker_processes 1\`, \`worker_connections 20000\`, \`worker_rlimit_nofile ${Math.min(65536, run.hardNofile || 65536)}\`, \`access_log off\`, \`nchan_subscriber websocket\` (with \`nchan_subscriber_first_message newest\`, so that a subscriber starts with the next message, as the gateway's does) and \`nchan_publisher\` on the same paths, \`nchan_message_buffer_length 10\`, \`nchan_message_timeout 1h\`; Redis runs add \`nchan_redis_url\` + \`nchan_use_redis on\` (supported by this nchan; its channels then live in Redis).`,
    `- Every process started gets an open-files limit of ${int(Math.min(65536, run.hardNofile || 65536))} (prlimit; the machine's hard limit${run.hardNofile ? ` is ${int(run.hardNofile)}` : ''}).`,
    `- Subscribers: the \`ws\` client (no compression, zero masking key), 200 handshakes at a time from two source addresses (127.0.0.2, 127.0.0.3); once open, ${run.wsReceiver ? "frames are read by ws's receiver (BENCH_PUSH_WS_RECEIVER=1)" : "each subscriber's frames are read by a minimal parser of the generator's own (server frames are unmasked) instead of ws's receiver stream, which saves about a tenth of the generator's CPU; what remains is mostly the socket read per delivery"}. Scenario "1 channel": all on channel c0; scenario "channels × 10": subscriber i on channel c(i mod channels).`,
    '- On loopback the kernel runs the receiving side of TCP in the sender\'s context: each delivery\'s kernel work, send *and* receive, is charged to the server core (as the server\'s system time or as softirq). Both servers pay it equally per delivery; it narrows the ratios of CPU per delivery compared with a real network.',
    '- Publisher: in the same generator process, HTTP POST with a keep-alive `http.Agent` to `/pub/c<n>` (round robin over the channels). A message is `<phase>:<seq>:<publish time in ns>:` padded to the message size.',
    '- **Publish rate**: messages/s that reached *every* subscriber of their channel: the generator publishes a new message only while fewer than a window of messages (16 on one channel, 512 over the channels; at most 8 / 32 POSTs open) are still missing at some subscriber, so the server is never handed more than its subscribers take. Deliveries/s = messages received by all subscribers together.',
    '- **Latency**: a fixed publish rate (1 channel: the rate below; channels: likewise), chosen below the slowest server\'s publish rate, so it is not queueing; publish-to-receive time of every delivery of the window\'s messages, measured at the subscribers (the publish time is `process.hrtime` in the same process, CLOCK_MONOTONIC). **lost**: deliveries that never arrived (drained up to 5 s after each phase).',
    '- **Memory per subscriber**: VmRSS of the server\'s process tree (gateway: master + worker, or the one process; nginx: master + worker; Redis not included), median of 5 samples, after 20 warm-up subscribers came and went and again 2 s after all subscribers connected, the difference ÷ subscribers. nchan\'s shared memory counts as its pages are touched.',
    '- **CPU µs / connect** = server CPU while the subscribers connected ÷ subscribers.',
    '- **CPU per delivery** = server CPU seconds (utime + stime over its process tree, /proc) in the throughput window ÷ deliveries.',
    '- **Ratio** = gateway cost ÷ nchan cost: nchan\'s publish rate ÷ the gateway\'s; the gateway\'s latency, CPU or memory ÷ nchan\'s. 1.0 is parity, lower is better. Gateway runs in memory compare with nchan in memory, Redis runs with nchan with Redis.',
    '',
    '## Results',
    '',
    ...scenarioSections,
    '### Ratios (gateway ÷ nchan)',
    '',
    ratioTable(scenarios, servers, results),
    '',
    '![ratio chart](push-benchmark.svg)',
    '',
    redisCheck(scenarios, servers, results),
    '',
    '## Load generator check',
    '',
    `The generator is one Node process on core ${GENERATOR_CORE}; in Redis runs redis-server shares that core (its CPU is listed apart). A window is **saturated** when the generator used ≥ ${pct(SATURATED)} of the core, **contended** when the core was that busy while the server was not (Redis, or other tenants of this shared machine, took it). Splitting the generator in two processes would not help a saturated window here: both would be on the same core. "irq + softirq" is core ${SERVER_CORE}'s interrupt and softirq time (/proc/stat): loopback packets are processed on the sending core, so part of the receivers' TCP work lands on the server's core there; "others" is what remains of the core's busy time beyond the server's own CPU and that (other tenants of this shared machine). A throughput or latency window where others took ≥ 20% is measured once more on the same subscribers (the better throughput, the quieter latency window kept).`,
    '',
    generatorTable(scenarios, servers, results),
    '',
    '## What the profile shows',
    '',
    profileSection(profile ? { ...profile, ratio: null } : null),
    masterSection(profile),
    '',
    '### Reading',
    '',
    keptAnalysis(mdFile),
    '',
    '## How to reproduce',
    '',
    '```sh',
    'apt-get install nginx-extras redis-server   # nginx with the nchan module (Debian: libnginx-mod-nchan), redis-server',
    'npm ci && npm run bench:push                # builds, runs a few minutes, writes docs/push-benchmark.md and .svg',
    'BENCH_PUSH_QUICK=1 npm run bench:push       # 1,000 subscribers, 2 s windows',
    'BENCH_PUSH_ONLY=gw-mem,nchan-mem BENCH_PUSH_SCENARIOS=one npm run bench:push',
    '```',
    '',
    `Other settings: BENCH_SECONDS, BENCH_WARMUP, BENCH_PUSH_SUBSCRIBERS, BENCH_PUSH_RATE_ONE / BENCH_PUSH_RATE_SPREAD (the latency phase's publish rates), BENCH_NO_PROFILE=1, BENCH_NO_NGINX=1, BENCH_KEEP=1 (keep the temporary tree: configurations, logs, results.json, the .cpuprofile files), BENCH_OUT. \`npm run bench\` (the nginx + Lua comparison) does not run this one; it says so at its end.`,
    '',
  ].join('\n');
  fs.writeFileSync(mdFile, md);
  return [mdFile, svgFile];
}

module.exports = { writePushReport };
