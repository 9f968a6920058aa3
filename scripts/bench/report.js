'use strict';
/**
 * The report: docs/benchmarks.md (how it was measured, the table, Node's floor, the Node peers
 * (peer-report.js), the generator check, the profiles of the worst case and of every missed row, and with BENCH_BASELINE the baseline commit's figures
 * beside the gateway's) and docs/benchmarks.svg (the ratios as bars). Everything in it
 * comes from one run, except the hand-written analysis between the
 * `<!-- analysis:start -->` and `<!-- analysis:end -->` markers, which is carried over from the
 * previous report so a re-run keeps it (dated, so a reader can tell when it was written).
 */
const fs = require('node:fs');
const path = require('node:path');
const { SATURATED, SERVER_CORE, GENERATOR_CORE } = require('./cases');
const { ratioChart } = require('./svg');
const { peerSection } = require('./peer-report');

/** Others' share of the server core above which a window is called noisy. */
const NOISY = 0.1;

const START = '<!-- analysis:start -->';
const END = '<!-- analysis:end -->';

const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const ms = (n) => (Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)) : '—');
const us = (n) => (Number.isFinite(n) ? (n * 1e6 >= 100 ? (n * 1e6).toFixed(0) : (n * 1e6).toFixed(1)) : '—');
const pct = (n) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : '—');
const ratioText = (r) => (r === null || !Number.isFinite(r) ? '—' : r.toFixed(2));
const kib = (bytes) => (Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(1)} KiB` : '—');
const mib = (bytes) => (Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : '—');

/** A measured side, or null when it was not measured or failed. */
const ok = (side) => (side && !side.error ? side : null);

/** gateway cost ÷ nginx cost for a case: throughput inverted, memory direct. */
function ratioFor(kase, result) {
  const g = ok(result?.gateway);
  const n = ok(result?.nginx);
  if (!g || !n) return null;
  if (kase.kind === 'idle') return n.bytesPerConnection > 0 ? g.bytesPerConnection / n.bytesPerConnection : null;
  return g.throughput > 0 ? n.throughput / g.throughput : null;
}

function verdict(ratio, target) {
  if (ratio === null || !target) return '';
  return ratio <= target ? 'met' : '**missed**';
}

/** The main table: throughput cases. */
function throughputTable(cases, results) {
  const lines = [
    '| case | gateway /s | nginx /s | ratio | target | | gateway p50 / p99 ms | nginx p50 / p99 ms | gateway CPU/op µs | nginx CPU/op µs | CPU ratio | generator CPU (gw / nginx) |',
    '| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const kase of cases.filter((c) => c.kind !== 'idle')) {
    const r = results[kase.id] || {};
    const g = ok(r.gateway);
    const n = ok(r.nginx);
    const ratio = ratioFor(kase, r);
    const cpuRatio = g && n && n.cpuPerOp > 0 ? g.cpuPerOp / n.cpuPerOp : null;
    const busy = (s) => (s ? `${pct(generatorShare(s))}${generatorFlag(s) ? ` ⚠ ${generatorFlag(s)}` : ''}` : '—');
    const errs = [g && g.errors ? `gateway ${g.errors} errors` : '', n && n.errors ? `nginx ${n.errors} errors` : '', r.gateway?.error ? 'gateway failed' : '', r.nginx?.error ? 'nginx failed' : '']
      .filter(Boolean)
      .join(', ');
    lines.push(
      `| ${kase.label} | ${g ? int(g.throughput) : '—'} | ${n ? int(n.throughput) : '—'} | ${ratioText(ratio)} | ${kase.target ? `≤ ${kase.target}` : '—'} | ${verdict(ratio, kase.target)}${errs ? ` (${errs})` : ''} | ` +
        `${g ? `${ms(g.p50)} / ${ms(g.p99)}` : '—'} | ${n ? `${ms(n.p50)} / ${ms(n.p99)}` : '—'} | ${g ? us(g.cpuPerOp) : '—'} | ${n ? us(n.cpuPerOp) : '—'} | ${ratioText(cpuRatio)} | ${busy(g)} / ${busy(n)} |`,
    );
  }
  return lines.join('\n');
}

/** The idle-WebSocket table: memory per connection. */
function idleTable(cases, results) {
  const kase = cases.find((c) => c.kind === 'idle');
  if (!kase) return '';
  const r = results[kase.id] || {};
  const row = (name) => {
    const s = ok(r[name]);
    if (!s) return `| ${name} | ${r[name]?.error ? `failed: ${r[name].error}` : 'not measured'} | | | | | |`;
    return `| ${name} | ${int(s.count)}${s.failed ? ` (${s.failed} failed)` : ''} | ${mib(s.baseRss)} | ${mib(s.loadedRss)} | ${kib(s.bytesPerConnection)} | ${us(s.cpuPerOp)} | ${int(s.throughput)} |`;
  };
  const ratio = ratioFor(kase, r);
  return [
    '| server | connections open | RSS before | RSS with them open | memory per connection | CPU per accepted connection µs | accepted /s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    row('gateway'),
    row('nginx'),
    ...(r.baseline ? [row('baseline')] : []),
    '',
    `Memory ratio (gateway ÷ nginx, per connection): **${ratioText(ratio)}** (target ≤ ${kase.target}: ${verdict(ratio, kase.target) || 'not judged'}).`,
  ].join('\n');
}

/** The load generator's own CPU share in a window (wrk or ws-load, plus the backend for proxy rows). */
const generatorShare = (s) => (s.genCpuShare || 0) + (s.backendCpuShare || 0);

/** "saturated" (our generator side used ≥ 90% of its core), "contended" (the core was, by others), or "". */
function generatorFlag(s) {
  if (generatorShare(s) >= SATURATED) return 'saturated';
  if (s.genCoreBusy >= SATURATED) return 'contended';
  return '';
}

/** Per-window details: rounds, the generator side's CPU, both cores' busy shares, and the flags. */
function generatorCheck(cases, results) {
  const flagged = [];
  const noisy = [];
  const lines = [];
  const short = (n) => (n >= 10000 ? `${(n / 1000).toFixed(1)}k` : int(n));
  for (const kase of cases.filter((c) => c.kind !== 'idle')) {
    // The gateway, the baseline, nginx and the bare Node server first, then the peers measured.
    const names = ['gateway', 'baseline', 'nginx', 'node'];
    for (const name of Object.keys(results[kase.id] || {})) if (!names.includes(name)) names.push(name);
    for (const name of names) {
      const s = ok(results[kase.id]?.[name]);
      if (!s) continue;
      const flag = generatorFlag(s);
      if (flag === 'saturated') flagged.push(`${kase.label}, ${name} window: the generator side used ${pct(generatorShare(s))} of core ${GENERATOR_CORE} — ${name}'s figure is a floor.`);
      if (flag === 'contended') flagged.push(`${kase.label}, ${name} window: core ${GENERATOR_CORE} was ${pct(s.genCoreBusy)} busy but the generator side used only ${pct(generatorShare(s))} — other processes on the shared machine competed with it.`);
      const rounds = (s.rounds || []).map((r) => (r === null ? 'failed' : short(r))).join(', ');
      const others = Math.max(0, s.serverCoreBusy - s.serverCpuShare);
      if (others >= NOISY) noisy.push(`${kase.label} (${name}: ${pct(others)})`);
      lines.push(
        `| ${kase.label} | ${name} | ${rounds} | ${pct(s.genCpuShare)} | ${s.backendCpuShare !== undefined ? pct(s.backendCpuShare) : '—'} | ${pct(s.genCoreBusy)} | ${pct(s.serverCpuShare)} | ${pct(others)}${others >= NOISY ? ' ⚠' : ''} | ${s.bytesPerResponse ? int(s.bytesPerResponse) : '—'} | ${Number.isFinite(s.genWakeIpisPerOp) ? s.genWakeIpisPerOp.toFixed(3) : '—'} | ${flag} |`,
      );
    }
  }
  const out = [
    `The generator side is wrk (HTTP) or ws-load.js (WebSocket), plus the backend in the proxy rows, all on core ${GENERATOR_CORE}. A window is **saturated** when that side used ≥ ${pct(SATURATED)} of the core (the server might have done more), **contended** when the core was ≥ ${pct(SATURATED)} busy while the generator side was not (other tenants of this shared machine took it). The idle case is left out: there the generator only bounds how fast connections open, not the memory measured. **Wake-ups of core ${GENERATOR_CORE} per operation**: the rescheduling and function-call IPIs core ${GENERATOR_CORE} received over the window (/proc/interrupts), ÷ operations: how often the server's writes found the generator asleep and had to wake it; on this VM each costs the server's core a VM exit, about 10 µs (see "the wake-up tax" in the reading).`,
    '',
  ];
  if (flagged.length === 0) out.push('No window was saturated or contended: the load generators were not the bottleneck.');
  else out.push('Flagged windows:', '', ...flagged.map((f) => `- ${f}`));
  out.push('');
  if (noisy.length === 0) out.push(`In every reported window the server had core ${SERVER_CORE} to itself (others used < ${pct(NOISY)} of it).`);
  else out.push(`Reported windows where other processes took ≥ ${pct(NOISY)} of the server core (core ${SERVER_CORE} busy − server CPU), so the server's figure is pessimistic (the difference also holds the kernel's softirq work for the server's own packets, a few per cent): ${noisy.join('; ')}.`);
  out.push(
    '',
    `| case | server | throughput of each round /s | generator CPU | backend CPU | core ${GENERATOR_CORE} busy | server CPU | others on core ${SERVER_CORE} | bytes read per response | wake-ups of core ${GENERATOR_CORE} per operation | flag |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...lines,
  );
  return out.join('\n');
}

/**
 * The bare Node server's figures on the `floor` cases (floor-server.js), beside the gateway's
 * and nginx's of the same run: how much of a gap is Node's own, how much the gateway's.
 */
function floorTable(cases, results) {
  const rows = cases.filter((c) => c.floor && ok(results[c.id]?.node));
  if (rows.length === 0) return 'The bare Node server was not measured in this run (`BENCH_NO_FLOOR=1`).';
  const lines = rows.map((kase) => {
    const r = results[kase.id];
    const [g, n, b] = [ok(r.gateway), ok(r.nginx), ok(r.node)];
    const per = (side) => (side ? us(side.cpuPerOp) : '—');
    const over = (a, c) => (a && c ? ratioText(a.cpuPerOp / c.cpuPerOp) : '—');
    return `| ${kase.label} | ${int(b.throughput)} | ${per(b)} | ${per(g)} | ${per(n)} | ${over(b, n)} | ${over(g, b)} |`;
  });
  return [
    'The least a Node server does for the same job, on the same core in the same run (scripts/bench/floor-server.js): the 1 KiB file sent from memory with two headers, `http.request` on a keep-alive agent piped back, a bare `ws` echo. No routing, validators, filters, timeouts or logs.',
    '',
    '| case | bare Node /s | bare Node CPU/op µs | gateway CPU/op µs | nginx CPU/op µs | bare Node ÷ nginx | gateway ÷ bare Node |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...lines,
  ].join('\n');
}

/**
 * What a script adds to the same job (the cases with a `twin`): CPU per request with the script
 * and without it, for the gateway and for nginx + Lua, and the addition in % of the twin's.
 */
function scriptCostTable(cases, results) {
  const rows = cases.filter((c) => c.twin && results[c.id]);
  if (rows.length === 0) return 'No script case was measured in this run.';
  const signed = (n) => (n === null ? '—' : `${n >= 0 ? '+' : ''}${(n * 100).toFixed(1)} %`);
  const lines = rows.map((kase) => {
    const twinCase = cases.find((c) => c.id === kase.twin);
    const [g, n] = [pairedCost(results[kase.id].gateway, results[kase.twin]?.gateway), pairedCost(results[kase.id].nginx, results[kase.twin]?.nginx)];
    const judged = kase.twinTarget && g ? (g.added <= kase.twinTarget ? 'met' : '**missed**') : '';
    const side = (p) => (p ? `${us(p.twin)} → ${us(p.side)}` : '—');
    const adds = (p) => (p ? `${signed(p.added)} (${p.micro >= 0 ? '+' : ''}${(p.micro * 1e6).toFixed(1)} µs)` : '—');
    const each = (p) => (p ? p.each.map(signed).join(', ') : '—');
    return (
      `| ${kase.label} | ${twinCase ? twinCase.label : kase.twin} | ${side(g)} | ${adds(g)} | ${each(g)} | ` +
      `${kase.twinTarget ? `≤ ${kase.twinTarget * 100} %` : '—'} | ${judged} | ${side(n)} | ${adds(n)} | ${each(n)} |`
    );
  });
  return [
    'The same job with and without the script, in the same run: CPU per request of the plain case → with the script, and what the script adds (gateway: `access_by` / `body_filter_by` with a script that does nothing; nginx: an empty `access_by_lua_block` / `body_filter_by_lua_block`). Both keep the backend\'s Content-Length: nginx as OpenResty does while the script does not clear it, the gateway because the pass-through script says `keepsLength` (without it, the response is sent chunked: about 7 % more CPU on this case, measured apart).',
    '',
    'A case and its twin are measured one after the other in each round, so each round gives one pair; the figures are the medians over the rounds (CPU per request of each, and what the script adds), each round\'s addition listed. A difference of a few percent is within what one window varies from the next on this machine, which the pairing and the median keep out of the result better than the best round by throughput (the Results table) would.',
    '',
    '| case | without the script | gateway CPU/op µs | gateway adds | each round | target | | nginx CPU/op µs | nginx adds | each round |',
    '| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |',
    ...lines,
  ].join('\n');
}

/** The middle value of `values` (the mean of the two middle ones for an even count); null when empty. */
function median(values) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * What a script case costs beside its twin on one server, round by round: for each round where
 * both were measured, CPU per request of each and the ratio; returns the medians (`twin`,
 * `side`, `added`, `micro`: the difference in seconds) and each round's addition, or null when
 * no round has both. Results without `cpuRounds` (older runs) count as one round, the best.
 */
function pairedCost(sideResult, twinResult) {
  const [side, twin] = [ok(sideResult), ok(twinResult)];
  if (!side || !twin) return null;
  const sides = side.cpuRounds ?? [side.cpuPerOp];
  const twins = twin.cpuRounds ?? [twin.cpuPerOp];
  const pairs = sides.map((s, i) => [s, twins[i]]).filter(([s, t]) => s > 0 && t > 0);
  if (pairs.length === 0) return null;
  const each = pairs.map(([s, t]) => s / t - 1);
  return {
    side: median(pairs.map(([s]) => s)),
    twin: median(pairs.map(([, t]) => t)),
    added: median(each),
    micro: median(pairs.map(([s, t]) => s - t)),
    each,
  };
}

/** gateway ÷ baseline above this is called out in the baseline table (beyond the usual noise). */
const SLOWER = 1.05;

/**
 * The baseline commit (BENCH_BASELINE) beside the gateway, case by case: CPU per operation of
 * each and their ratio (> 1: this commit costs more), throughput, and nginx's CPU per operation
 * for scale; the idle case by CPU per accepted connection and memory per connection. '' when
 * the run had no baseline.
 */
function baselineSection(cases, results, baseline) {
  if (!baseline) return '';
  const name = `\`${baseline.commit}\`${baseline.dirty ? ' (with uncommitted changes in src/)' : ''}`;
  if (baseline.refused) return `## Against the baseline

**The baseline, commit ${name} (${baseline.checkout}), was not measured**: ${baseline.refused}.
`;
  const over = (a, b, field) => (a && b && b[field] > 0 ? a[field] / b[field] : null);
  const mark = (r) => (r !== null && r > SLOWER ? `**${ratioText(r)}**` : ratioText(r));
  const lines = cases.map((kase) => {
    const r = results[kase.id] || {};
    const [g, b, n] = [ok(r.gateway), ok(r.baseline), ok(r.nginx)];
    const label = kase.kind === 'idle' ? `${kase.label} (per accepted connection)` : kase.label;
    const failed = r.baseline?.error ? ` (baseline failed: ${r.baseline.error})` : '';
    return `| ${label}${failed} | ${g ? us(g.cpuPerOp) : '—'} | ${b ? us(b.cpuPerOp) : '—'} | ${mark(over(g, b, 'cpuPerOp'))} | ${g ? int(g.throughput) : '—'} | ${b ? int(b.throughput) : '—'} | ${n ? us(n.cpuPerOp) : '—'} |`;
  });
  const idle = cases.find((c) => c.kind === 'idle');
  const [gi, bi] = idle ? [ok(results[idle.id]?.gateway), ok(results[idle.id]?.baseline)] : [null, null];
  const memory = gi && bi ? ['', `Idle WebSockets, memory per connection: gateway ${kib(gi.bytesPerConnection)}, baseline ${kib(bi.bytesPerConnection)} (gateway ÷ baseline ${ratioText(over(gi, bi, 'bytesPerConnection'))}).`] : [];
  return [
    '## Against the baseline',
    '',
    `The baseline is commit ${name}, another checkout of this repository (${baseline.checkout}), its own \`bin/gateway\` run with the same conf/gateway.yaml (but for its port) in a prefix of its own, measured in the same rounds as the gateway and nginx (the order rotating), the idle case on a fresh start like the others. **gateway ÷ baseline** is CPU per operation of this commit ÷ the baseline's: above 1 this commit costs more; above ${SLOWER} it is in bold (each throughput figure is the best of its rounds, every round listed under "Load generator check"; the idle case is one measurement: a single row above ${SLOWER} is worth re-running alone, \`BENCH_ONLY=id BENCH_REPEAT=5\`, before calling it a regression).`,
    '',
    '| case | gateway CPU/op µs | baseline CPU/op µs | gateway ÷ baseline | gateway /s | baseline /s | nginx CPU/op µs |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...lines,
    ...memory,
    '',
  ].join('\n');
}

function profileSection(profile) {
  if (!profile) return 'No profile in this run (`BENCH_NO_PROFILE=1`).';
  if (profile.error) return `Profiling failed: ${profile.error}.`;
  const out = [
    `Case profiled: **${profile.label}** (ratio ${ratioText(profile.ratio)}), the gateway run once more with \`node --cpu-prof\` (${profile.processes > 1 ? `${profile.processes} processes profiled, the busiest — the worker — shown; ` : ""}250 µs sampling, ${profile.windowed ? 'the measured window only: ' : ''}${int(profile.samples)} samples, ${pct(profile.busyShare)} of them busy). Shares below are of busy samples.`,
    '',
    '**Time by area**',
    '',
    '| area | share |',
    '| --- | ---: |',
    ...profile.areas.filter((a) => a.name !== 'idle').slice(0, 12).map((a) => `| ${a.name} | ${a.pct.toFixed(1)}% |`),
    '',
    '**Top functions by self time**',
    '',
    '| function | where | self |',
    '| --- | --- | ---: |',
    ...profile.top.map((f) => `| \`${f.name}\` | ${f.where || '(native)'} | ${f.pct.toFixed(1)}% |`),
    '',
    '**Top functions by total time** (callees included)',
    '',
    '| function | where | total |',
    '| --- | --- | ---: |',
    ...profile.inclusive.slice(0, 12).map((f) => `| \`${f.name}\` | ${f.where || '(native)'} | ${f.pct.toFixed(1)}% |`),
  ];
  return out.join('\n');
}

/**
 * The profiles of the run: the first (the case furthest behind) in full, then each other case
 * whose target was missed in short (its areas, and the functions with the most self time).
 */
function profilesSection(profiles) {
  if (!profiles.length) return profileSection(null);
  const [first, ...rest] = profiles;
  const out = [profileSection(first)];
  if (rest.length) {
    out.push('', '### The other rows that missed their target', '', 'Each profiled the same way, in this run, after the measured rounds (shares of busy samples).');
    for (const p of rest) {
      out.push('', `#### ${p.label} (ratio ${ratioText(p.ratio)})`, '');
      if (p.error) {
        out.push(`Profiling failed: ${p.error}.`);
        continue;
      }
      const areas = p.areas.filter((a) => a.name !== 'idle' && a.pct >= 1).map((a) => `${a.name} ${a.pct.toFixed(1)}%`);
      out.push(`${int(p.samples)} samples, ${pct(p.busyShare)} busy. By area: ${areas.join(', ')}.`, '');
      out.push('| function | where | self |', '| --- | --- | ---: |', ...p.top.slice(0, 8).map((f) => `| \`${f.name}\` | ${f.where || '(native)'} | ${f.pct.toFixed(1)}% |`));
    }
  }
  return out.join('\n');
}

/** The hand-written analysis kept from the previous report, or a placeholder. */
function keptAnalysis(file) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const a = text.indexOf(START);
    const b = text.indexOf(END);
    if (a >= 0 && b > a) return text.slice(a, b + END.length);
  } catch {
    /* first report */
  }
  return `${START}\n_No analysis written yet for these numbers._\n${END}`;
}

/** Writes the markdown and the SVG; returns their paths. */
function writeReport({ outDir, run, cases, results, profiles }) {
  fs.mkdirSync(outDir, { recursive: true });
  const mdFile = path.join(outDir, 'benchmarks.md');
  const svgFile = path.join(outDir, 'benchmarks.svg');
  const rows = cases.map((kase) => ({ label: kase.kind === 'idle' ? 'idle WS memory/conn' : kase.label, ratio: ratioFor(kase, results[kase.id]), target: kase.target }));
  const subtitle = `${run.date.slice(0, 10)}, ${run.cores} cores (${run.cpu}), Node ${run.node}, ${run.nginx || 'no nginx'}`;
  fs.writeFileSync(svgFile, ratioChart(rows, { title: 'The gateway vs nginx + Lua: cost ratio per case', subtitle }));
  const md = [
    '# Benchmarks: the gateway vs nginx + OpenResty Lua',
    '',
    `Generated by \`npm run bench\` (scripts/bench/) on ${run.date}, commit ${run.commit}${run.dirty ? ' with uncommitted changes in src/ (the shared working tree)' : ''}${run.baseline ? `, beside the baseline commit ${run.baseline.commit}${run.baseline.refused ? ' (not measured: see "Against the baseline")' : ' (see "Against the baseline")'}` : ''}.`,
    `Machine: ${run.cores} cores, ${run.cpu}, Linux ${run.kernel}; Node ${run.node}; ${run.nginx ? `${run.nginx} with the Lua module` : `**nginx not measured: ${run.nginxMissing}** — the gateway's own numbers only`}.`,
    `${run.quick ? '**Quick run (BENCH_QUICK=1)**: short windows, fewer idle connections. ' : ''}Each case: ${run.warmup} s warm-up, then a ${run.seconds} s window; wrk with 1 thread and ${run.connections} connections.`,
    'Push channels (WebSocket subscribers against nginx + nchan, in memory and through Redis) have a benchmark of their own: `npm run bench:push`, [push-benchmark.md](push-benchmark.md).',
    '',
    '## How it is measured',
    '',
    `- Every figure comes from this one run, the gateway and nginx measured one after the other on each case (alternating which goes first). Servers on core ${SERVER_CORE}, every load generator (wrk, ws-load.js) and the proxy backend on core ${GENERATOR_CORE}${run.pinned ? ' (taskset)' : ' (**taskset missing: nothing was pinned**)'}.`,
    '- Both servers run the seed\'s configuration: one worker process, `error_log logs/error.log info`, `gzip on; gzip_min_length 1` (level 1, text/html), `listen ... so_keepalive=2s:2s:8`, the seed\'s echo script at `/s` (the Lua as written for nginx, `script: echo` for the gateway), the same `public/` directory, `open_file_cache max=1000 inactive=20s` with `open_file_cache_valid 2s` (conf/site.yaml\'s; nginx keeps the descriptor and its stat, the gateway the bytes of a small file too), except under `/cold/` where it is off in both (the "no open_file_cache" row). **Access logs are on in both** (`access_log logs/access.log combined`, nginx\'s default), the gateway started through its real command line (`bin/gateway -p DIR -c conf/gateway.yaml`).',
    '- Both set `keepalive_requests 1000000` (no reconnection every 1,000 requests in a window; a baseline commit older than the gateway\'s `keepalive_requests` has no such limit). nginx differences kept on purpose: `sendfile` left off (the seed\'s default), temp paths in the tree. Proxy: nginx `upstream { keepalive 64; }` + `proxy_http_version 1.1` + `proxy_set_header Connection ""`; the gateway `proxy_http_version: "1.1"` + `proxy_set_header: { Connection: "" }` (its keep-alive agent). Both proxy to the same backend, a canned-response server on `node:net` (scripts/bench/backend.js) pinned to the generator core, so it takes nothing from the server measured.',
    '- Static "gzip" rows send `Accept-Encoding: gzip` to the same files (HTML-like text); the others send none.',
    '- WebSocket echo: ws-load.js (the `ws` client, no compression, no UTF-8 check of echoes, zero masking key) runs a closed loop per connection, one text message in flight each; latency is the round trip. Messages/s counts echoes received in the window.',
    `- Idle WebSockets: each server freshly started, warmed with 10 echo connections, VmRSS (median of 5 samples) before and ${run.settleMs / 1000} s after ${int(run.idle)} connections are open, from ${Math.max(1, Math.ceil(run.idle / 5000))} source addresses (127.0.0.2…) so that ephemeral ports never run short; worker_connections ${int(run.idle + 2000)} in both, nginx \`worker_rlimit_nofile\` likewise.`,
    '- CPU per operation = server CPU seconds (utime + stime from /proc/PID/stat over the window, summed over the process tree: master + worker for both) ÷ requests or messages. "Generator CPU" is the generator\'s own CPU share of its core (wrk: its cutime + cstime read by a wrapping shell; ws-load: process.cpuUsage), plus the backend\'s in proxy rows; core busy shares come from /proc/stat.',
    `- Each case runs ${run.repeat} round(s) per server, alternating which server goes first; the best round by throughput is reported (noise only takes away), every round is listed under "Load generator check".`,
    '- **ratio** = gateway cost ÷ nginx cost = nginx throughput ÷ gateway throughput (for memory: gateway bytes ÷ nginx bytes). 1.0 is parity, lower is better; the targets are the issue\'s (the same target for a static size with and without gzip).',
    '',
    '## Results',
    '',
    throughputTable(cases, results),
    '',
    '### Idle WebSockets',
    '',
    idleTable(cases, results),
    '',
    '![ratio chart](benchmarks.svg)',
    '',
    '### What a script adds',
    '',
    scriptCostTable(cases, results),
    '',
    "### Node's floor",
    '',
    floorTable(cases, results),
    '',
    '## Node peers',
    '',
    peerSection(cases, results, run.peers),
    '',
    ...(run.baseline ? [baselineSection(cases, results, run.baseline)] : []),
    '## Load generator check',
    '',
    generatorCheck(cases, results),
    '',
    '## What the profiles show',
    '',
    profilesSection(profiles),
    '',
    '### Reading of the profile',
    '',
    keptAnalysis(mdFile),
    '',
  ].join('\n');
  fs.writeFileSync(mdFile, md);
  return [mdFile, svgFile];
}

module.exports = { writeReport, ratioFor, profileSection, profilesSection, keptAnalysis };
