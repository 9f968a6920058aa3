'use strict';
/**
 * One profiled run of the gateway: started with `node --cpu-prof`, loaded with one case,
 * stopped with SIGTERM (the gateway exits through `process.exit`, which writes the profile),
 * and the `.cpuprofile` read back into what the report shows: the functions with the most
 * self time, the functions with the most total (inclusive) time, and the time by area (Node's
 * HTTP internals, streams, ws, http-proxy, the gateway's own code, GC). Shares are of the busy
 * samples (not `(idle)`). The profile file stays in the temporary tree; it is not committed.
 */
const fs = require('node:fs');
const path = require('node:path');
const { stopPid } = require('./procs');

const ROOT = path.resolve(__dirname, '..', '..');

/** A short place for a call frame: `src/dispatch.ts:42` style, or `node:internal/...:12`. */
function where(frame) {
  let url = frame.url || '';
  if (!url) return '';
  url = url.replace(/^file:\/\//, '');
  if (url.startsWith(ROOT)) url = path.relative(ROOT, url);
  url = url.replace(/^node_modules\//, '');
  return `${url}:${frame.lineNumber + 1}`;
}

/** The area a frame belongs to, for the "time by area" table. */
function areaOf(frame) {
  const url = frame.url || '';
  const name = frame.functionName;
  if (!url) {
    if (name === '(garbage collector)') return 'garbage collector';
    if (name === '(program)') return 'V8/native (program)';
    if (name === '(idle)') return 'idle';
    return 'native / builtins';
  }
  if (url.includes('node_modules/ws/')) return 'ws (package)';
  if (url.includes('node_modules/http-proxy/')) return 'http-proxy (package)';
  if (url.includes('node_modules/')) return 'other packages';
  if (url.startsWith('node:internal/streams') || url.startsWith('node:stream')) return 'Node streams';
  if (url.startsWith('node:_http') || url.startsWith('node:http') || url.startsWith('node:internal/http')) return 'Node HTTP';
  if (url.startsWith('node:internal/fs') || url.startsWith('node:fs')) return 'Node fs';
  if (url.startsWith('node:zlib') || url.startsWith('node:internal/zlib')) return 'Node zlib';
  if (url.startsWith('node:net') || url.startsWith('node:internal/net') || url.startsWith('node:internal/stream_base')) return 'Node net';
  if (url.startsWith('node:')) return 'other Node internals';
  if (url.includes('/dist/') || url.includes('/src/')) return 'gateway (dist/)';
  return 'other';
}

/**
 * Summarizes a V8 CPU profile: `top` self-time functions, `inclusive` total-time functions
 * (each counted once per stack, so recursion does not inflate it) and `areas`.
 */
function summarize(profile, limit = 15, window = null) {
  const counted = window ? hitsWithin(profile, window) : null;
  if (counted) profile = { ...profile, nodes: profile.nodes.map((n) => ({ ...n, hitCount: counted.get(n.id) || 0 })) };
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const idle = profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').reduce((s, n) => s + (n.hitCount || 0), 0);
  const total = profile.nodes.reduce((s, n) => s + (n.hitCount || 0), 0);
  const busy = Math.max(1, total - idle);
  const key = (f) => `${f.functionName || '(anonymous)'}\u0000${where(f)}`;
  const self = new Map();
  const areas = new Map();
  for (const n of profile.nodes) {
    if (n.callFrame.functionName === '(idle)' || !n.hitCount) continue;
    const k = key(n.callFrame);
    self.set(k, (self.get(k) || 0) + n.hitCount);
    const area = areaOf(n.callFrame);
    areas.set(area, (areas.get(area) || 0) + n.hitCount);
  }
  // Inclusive counts: a depth-first walk that credits a function once per stack.
  const inclusive = new Map();
  const root = profile.nodes[0];
  const walk = (node, active) => {
    let sum = node.callFrame.functionName === '(idle)' ? 0 : node.hitCount || 0;
    const k = key(node.callFrame);
    const first = !active.has(k);
    if (first) active.add(k);
    for (const childId of node.children || []) sum += walk(nodes.get(childId), active);
    if (first) {
      active.delete(k);
      inclusive.set(k, (inclusive.get(k) || 0) + sum);
    }
    return sum;
  };
  walk(root, new Set());
  const rows = (map) =>
    [...map.entries()]
      .filter(([k]) => !k.startsWith('(root)') && !k.startsWith('(program)') && !k.startsWith('(garbage collector)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([k, count]) => {
        const [name, place] = k.split('\u0000');
        return { name, where: place, pct: (100 * count) / busy };
      });
  return {
    samples: total,
    busyShare: busy / Math.max(1, total),
    durationMs: counted ? (window.to - window.from) / 1000 : (profile.endTime - profile.startTime) / 1000,
    windowed: counted !== null,
    top: rows(self),
    inclusive: rows(inclusive).filter((r) => r.pct < 99.5),
    areas: [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([name, count]) => ({ name, pct: (100 * count) / busy })),
    gcPct: ((self.get(key({ functionName: '(garbage collector)', url: '' })) || 0) * 100) / busy,
  };
}

/**
 * The samples taken between `from` and `to` (µs of the monotonic clock, which V8's profile
 * timestamps and process.hrtime share on Linux), counted by node: the measured window alone,
 * without the start-up (module compilation) and the warm-up. Null when none falls there.
 */
function hitsWithin(profile, { from, to }) {
  const counts = new Map();
  let t = profile.startTime;
  let any = false;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    if (t < from || t > to) continue;
    counts.set(profile.samples[i], (counts.get(profile.samples[i]) || 0) + 1);
    any = true;
  }
  return any ? counts : null;
}

/**
 * Runs `kase` against a gateway started with `--cpu-prof`, stops it, and summarizes the
 * profile (its last `windowMs`, the measured window, when given). `start(nodeArgs)` starts the
 * gateway; `measure(server)` loads it once.
 */
async function profileCase({ kase, start, measure, dir, windowMs }) {
  fs.mkdirSync(dir, { recursive: true });
  const server = await start(['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '250']);
  let measured = null;
  let window = null;
  try {
    measured = await measure(server);
    // The measured window ends as measure() returns: its last `windowMs`.
    const end = Number(process.hrtime.bigint() / 1000n);
    if (windowMs) window = { from: end - windowMs * 1000, to: end };
  } finally {
    await stopPid(server.pid, 30000);
  }
  // With a master process there is one profile per process: the worker's is the busy one.
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) return { caseId: kase.id, label: kase.label, error: 'no .cpuprofile was written', measured };
  const summaries = files.map((f) => ({ file: path.join(dir, f), ...summarize(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')), 15, window) }));
  const { file, ...summary } = summaries.sort((a, b) => b.samples * b.busyShare - a.samples * a.busyShare)[0];
  summary.processes = files.length;
  return { caseId: kase.id, label: kase.label, file, measured, ...summary };
}

module.exports = { profileCase, summarize, areaOf };
