'use strict';
/**
 * The benchmark's cases and how one case is measured against one running server.
 *
 * Every measurement reads the server's CPU (utime + stime of its process tree) and the
 * generator core's busy share (/proc/stat) at the edges of the measured window, so that
 * "CPU per request" is server CPU seconds / requests (or messages) and the report can flag a
 * window where the generator's core was saturated. A short unrecorded warm-up precedes each
 * window (V8's JIT, nginx's caches), the same for both servers.
 */
const http = require('node:http');
const path = require('node:path');
const { startPinned, cpuSnapshot, cpuDelta, coreTicks, coreBusy, wakeIpis, sampleRss, sleep, waitQuiet, onJsonLines } = require('./procs');
const { runWrk } = require('./wrk');
const { runH2load } = require('./h2load');

/** The core the servers run on and the core of every load generator (and the backend). */
const SERVER_CORE = 0;
const GENERATOR_CORE = 1;

/** A generator core busier than this during a window is reported as saturated. */
const SATURATED = 0.9;

/**
 * The cases, in report order. `target` is the bound on the ratio gateway cost ÷ nginx
 * cost (nginx throughput ÷ gateway throughput; for memory, gateway bytes ÷ nginx bytes).
 * `floor`: also measured on a bare Node server (floor-server.js), Node's own cost for the job.
 * `twin`: the same job without a script (the report shows what the script adds, for both
 * servers, in CPU per request); `twinTarget`: the bound on that addition (0.05 = 5 %).
 * `peers`: also measured on the Node peers of that kind (peer-servers.js: static, proxy, ws).
 */
const CASES = [
  { id: 'static-1k', kind: 'http', label: 'static 1 KiB', path: '/1k.html', gzip: false, target: 2.5, floor: true, peers: 'static' },
  { id: 'static-1k-limit', kind: 'http', label: 'static 1 KiB behind limit_req', path: '/limited/1k.html', gzip: false, target: null },
  { id: 'static-1k-access-script', kind: 'http', label: 'static 1 KiB behind an access script', path: '/scripted/1k.html', gzip: false, target: null, twin: 'static-1k' },
  { id: 'dict-get', kind: 'http', label: 'shared dict get (content handler / content_by_lua)', path: '/dict', gzip: false, target: null },
  { id: 'static-1k-cold', kind: 'http', label: 'static 1 KiB, no open_file_cache', path: '/cold/1k.html', gzip: false, target: 2.0 },
  { id: 'static-1k-gz', kind: 'http', label: 'static 1 KiB gzip', path: '/1k.html', gzip: true, target: 2.5, peers: 'static' },
  { id: 'static-64k', kind: 'http', label: 'static 64 KiB', path: '/64k.html', gzip: false, target: 1.2, peers: 'static' },
  { id: 'static-64k-gz', kind: 'http', label: 'static 64 KiB gzip', path: '/64k.html', gzip: true, target: 1.2, peers: 'static' },
  { id: 'static-1m', kind: 'http', label: 'static 1 MiB', path: '/1m.html', gzip: false, target: 1.0, peers: 'static' },
  { id: 'static-1m-gz', kind: 'http', label: 'static 1 MiB gzip', path: '/1m.html', gzip: true, target: 1.0, peers: 'static' },
  { id: 'proxy-small', kind: 'http', label: 'proxy small (100 B)', path: '/proxy/small', gzip: false, target: 3.0, proxied: true, floor: true, peers: 'proxy' },
  { id: 'proxy-64k', kind: 'http', label: 'proxy 64 KiB', path: '/proxy/64k', gzip: false, target: 1.5, proxied: true, floor: true, peers: 'proxy' },
  { id: 'proxy-cache-hit', kind: 'http', label: 'proxy_cache hit (100 B)', path: '/cached/small', gzip: false, target: null, proxied: true },
  { id: 'proxy-64k-body-filter', kind: 'http', label: 'proxy 64 KiB through a pass-through body filter', path: '/filtered/64k', gzip: false, target: null, proxied: true, twin: 'proxy-64k', twinTarget: 0.05 },
  { id: 'h2-static-1k', kind: 'h2', label: 'HTTP/2 static 1 KiB (h2c, 10 connections x 10 streams)', path: '/1k.html', target: 2.0 },
  { id: 'h2-proxy-small', kind: 'h2', label: 'HTTP/2 proxy small (h2c, 10 connections x 10 streams)', path: '/proxy/small', target: 3.0, proxied: true },
  { id: 'ws-1x64', kind: 'ws', label: 'WS echo 1 x 64 B', connections: 1, size: 64, target: null },
  { id: 'ws-1x16k', kind: 'ws', label: 'WS echo 1 x 16 KiB', connections: 1, size: 16 * 1024, target: null },
  { id: 'ws-50x64', kind: 'ws', label: 'WS echo 50 x 64 B', connections: 50, size: 64, target: 1.0, floor: true, peers: 'ws' },
  { id: 'ws-50x16k', kind: 'ws', label: 'WS echo 50 x 16 KiB', connections: 50, size: 16 * 1024, target: 0.5, floor: true, peers: 'ws' },
  { id: 'ws-idle', kind: 'idle', label: 'idle WebSockets', target: 0.5 },
];

/** A window's bookends: server CPU, generator core and server core ticks, the generator core's wake-ups. */
function snapshot(server) {
  return { cpu: cpuSnapshot(server.pid), gen: coreTicks(GENERATOR_CORE), srv: coreTicks(SERVER_CORE), ipis: wakeIpis(GENERATOR_CORE), t: performance.now() };
}

/** What two snapshots say: server CPU seconds, wall seconds, the two cores' busy shares, the generator core's wake-up IPIs. */
function window(before, after) {
  return {
    serverCpu: cpuDelta(before.cpu, after.cpu),
    wall: (after.t - before.t) / 1000,
    genCoreBusy: coreBusy(before.gen, after.gen),
    serverCoreBusy: coreBusy(before.srv, after.srv),
    genWakeIpis: after.ipis - before.ipis,
  };
}

/**
 * One request as the case's load sends it, before the window: its status, the names of its
 * response headers (lower case, sorted), its Content-Encoding and body bytes, so that the
 * report can say what each server sends, and a server that does not answer 200 (a peer
 * redirecting, say) is caught before wrk counts its 3xx as successes.
 */
function probe(url, headers) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let length = 0;
      res.on('data', (chunk) => (length += chunk.length));
      res.on('end', () =>
        resolve({ status: res.statusCode, headers: Object.keys(res.headers).sort(), encoding: res.headers['content-encoding'] ?? null, length }),
      );
      res.on('error', reject);
    });
    req.setTimeout(10000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
  });
}

/** One HTTP case with wrk: warm-up, then the recorded run. */
async function measureHttp(server, kase, opts) {
  const url = `http://127.0.0.1:${server.port}${kase.path}`;
  const headers = kase.gzip ? { 'Accept-Encoding': 'gzip' } : {};
  const answer = await probe(url, headers);
  if (answer.status !== 200) throw new Error(`${url} answered ${answer.status}, not 200: the case is not valid`);
  const load = { url, connections: opts.connections, headers, core: GENERATOR_CORE };
  await runWrk({ ...load, seconds: opts.warmup });
  const backendBefore = opts.backendPid ? cpuSnapshot(opts.backendPid) : null;
  const before = snapshot(server);
  const r = await runWrk({ ...load, seconds: opts.seconds });
  const after = snapshot(server);
  const w = window(before, after);
  const count = r.requests;
  if (r.non2xx > count * 0.01) throw new Error(`${r.non2xx} of ${count} responses were not 2xx/3xx: the case is not valid`);
  return {
    throughput: r.rps,
    count,
    p50: r.p50,
    p99: r.p99,
    cpuPerOp: w.serverCpu / count,
    serverCpuShare: w.serverCpu / r.seconds,
    genCpuShare: r.genCpu / r.seconds,
    genCoreBusy: w.genCoreBusy,
    serverCoreBusy: w.serverCoreBusy,
    genWakeIpisPerOp: w.genWakeIpis / count,
    backendCpuShare: backendBefore ? cpuDelta(backendBefore, cpuSnapshot(opts.backendPid)) / w.wall : undefined,
    errors: r.errors + r.non2xx,
    bytesPerResponse: r.bytes / count,
    probe: answer,
  };
}

/** One HTTP/2 case with h2load (cleartext, prior knowledge): warm-up, then the recorded run. */
async function measureH2(server, kase, opts) {
  if (!server.h2Port) throw new Error(`${server.name} has no HTTP/2 listener`);
  const load = { url: `http://127.0.0.1:${server.h2Port}${kase.path}`, connections: 10, streams: 10, core: GENERATOR_CORE };
  await runH2load({ ...load, seconds: opts.warmup });
  const backendBefore = opts.backendPid ? cpuSnapshot(opts.backendPid) : null;
  const before = snapshot(server);
  const r = await runH2load({ ...load, seconds: opts.seconds });
  const after = snapshot(server);
  const w = window(before, after);
  if (r.failed > r.requests * 0.01) throw new Error(`${r.failed} of ${r.requests} requests failed or were not 2xx: the case is not valid`);
  return {
    throughput: r.rps,
    count: r.requests,
    p50: NaN,
    p99: NaN,
    cpuPerOp: w.serverCpu / r.requests,
    serverCpuShare: w.serverCpu / r.seconds,
    genCpuShare: r.genCpu / r.seconds,
    genCoreBusy: w.genCoreBusy,
    serverCoreBusy: w.serverCoreBusy,
    genWakeIpisPerOp: w.genWakeIpis / r.requests,
    backendCpuShare: backendBefore ? cpuDelta(backendBefore, cpuSnapshot(opts.backendPid)) / w.wall : undefined,
    errors: r.failed,
  };
}

/** Starts ws-load.js pinned to the generator core; `onEvent` sees each JSON line it prints. */
function startGenerator(options, onEvent) {
  const child = startPinned('ws-load', GENERATOR_CORE, process.execPath, [path.join(__dirname, 'ws-load.js'), JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const done = new Promise((resolve, reject) => {
    let failure = null;
    onJsonLines(child.stdout, (event) => {
      if (event.event === 'error') failure = new Error(`ws-load: ${event.message}`);
      else onEvent(event, child);
    });
    child.once('exit', (code) => (failure || code !== 0 ? reject(failure ?? new Error(`ws-load exited with ${code}`)) : resolve()));
  });
  return { child, done };
}

/** One WebSocket echo case: the generator's window is bracketed by server CPU snapshots. */
async function measureWs(server, kase, opts) {
  const url = `ws://127.0.0.1:${server.port}${server.wsPath ?? '/s'}`;
  let before = null;
  let after = null;
  let result = null;
  const { done } = startGenerator(
    { mode: 'echo', url, connections: kase.connections, size: kase.size, warmup: opts.warmup, seconds: opts.seconds, protocol: server.wsProtocol },
    (event) => {
      if (event.event === 'start') before = snapshot(server);
      else if (event.event === 'end') after = snapshot(server);
      else if (event.event === 'result') result = event;
    },
  );
  await done;
  if (!result || !before || !after) throw new Error('ws-load gave no result');
  // A window with no echo at all (seen once while other tenants held both cores) has no cost per message.
  if (result.messages === 0) throw new Error('no message was echoed in the window');
  const w = window(before, after);
  return {
    throughput: result.messages / result.seconds,
    count: result.messages,
    p50: result.p50,
    p99: result.p99,
    cpuPerOp: w.serverCpu / result.messages,
    serverCpuShare: w.serverCpu / w.wall,
    genCpuShare: result.genCpu / result.seconds,
    genCoreBusy: w.genCoreBusy,
    serverCoreBusy: w.serverCoreBusy,
    genWakeIpisPerOp: w.genWakeIpis / result.messages,
    errors: result.errors,
  };
}

/** A few echo connections opened and closed, so one-time costs land before the baseline. */
async function warmWebSocket(server) {
  const { done } = startGenerator(
    { mode: 'echo', url: `ws://127.0.0.1:${server.port}/s`, connections: 10, size: 64, warmup: 0.2, seconds: 0.3 },
    () => {},
  );
  await done;
}

/**
 * The idle case on a freshly started server: warm it, read its RSS, open `opts.idle`
 * connections from several 127.0.0.x source addresses, let it settle, read RSS again.
 * Memory per connection = the RSS growth / connections opened. CPU per operation is the
 * server's CPU per accepted WebSocket (handshake and setup).
 */
async function measureIdle(server, kase, opts) {
  await warmWebSocket(server);
  await sleep(1000);
  const baseRss = await sampleRss(server.pid);
  const perAddress = 5000;
  const addresses = Array.from({ length: Math.max(1, Math.ceil(opts.idle / perAddress)) }, (_, i) => `127.0.0.${i + 2}`);
  let before = snapshot(server);
  let ready = null;
  let opened = null;
  const { child, done } = startGenerator(
    { mode: 'idle', url: `ws://127.0.0.1:${server.port}/s`, connections: opts.idle, concurrency: 200, addresses },
    (event) => {
      if (event.event === 'ready') {
        opened = snapshot(server);
        ready?.(event);
      }
    },
  );
  const event = await Promise.race([new Promise((resolve) => (ready = resolve)), done.then(() => null)]);
  if (!event) throw new Error('ws-load ended before the idle connections were open');
  await sleep(opts.settleMs);
  const loadedRss = await sampleRss(server.pid);
  const w = window(before, opened);
  child.stdin.write('close\n');
  await done;
  before = null;
  return {
    throughput: event.opened / event.seconds,
    count: event.opened,
    failed: event.failed,
    firstError: event.firstError,
    p50: NaN,
    p99: NaN,
    cpuPerOp: w.serverCpu / Math.max(1, event.opened),
    serverCpuShare: w.serverCpu / w.wall,
    genCpuShare: NaN,
    genCoreBusy: w.genCoreBusy,
    serverCoreBusy: w.serverCoreBusy,
    errors: event.failed,
    baseRss,
    loadedRss,
    bytesPerConnection: (loadedRss - baseRss) / Math.max(1, event.opened),
    generatorRss: event.genRss,
  };
}

/**
 * Measures `kase` against `server` ({ name, pid, port }), once both cores are quiet (or after
 * waiting 20 s). The result says how long it waited and how busy the cores were at the start.
 */
async function measure(server, kase, opts) {
  const quiet = await waitQuiet([SERVER_CORE, GENERATOR_CORE]);
  let result;
  if (kase.kind === 'http') result = await measureHttp(server, kase, opts);
  else if (kase.kind === 'h2') result = await measureH2(server, kase, opts);
  else if (kase.kind === 'ws') result = await measureWs(server, kase, opts);
  else result = await measureIdle(server, kase, opts);
  return { ...result, quietWaitMs: quiet.waitedMs, busyBefore: quiet.busiest };
}

module.exports = { CASES, measure, SERVER_CORE, GENERATOR_CORE, SATURATED };
