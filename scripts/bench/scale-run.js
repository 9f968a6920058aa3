#!/usr/bin/env node
'use strict';
/**
 * `npm run bench:scale`: 100,000 WebSockets held by one gateway, beside nginx, in one run.
 *
 * For each server, freshly started with the bench's tree (scale-report.js says how it is
 * configured): open SCALE_N echo WebSockets at a steady rate from several generator processes
 * (ws-load.js, idle mode, each from its own 127.0.0.x source address, each under this
 * machine's per-process open-files limit), then
 *   1. memory per connection (VmRSS of the server's tree over its warmed baseline / N), the
 *      time to open them, the server's CPU per accepted connection;
 *   2. all of them echo one message (failures counted);
 *   3. bad input under that load (bad-input.js): slow readers of a large file, silent
 *      connections, ping floods, one-byte-at-a-time senders, while all of them echo again;
 *      the tree's peak RSS during it, and its RSS once the bad clients are gone;
 *   4. a reload (SIGHUP to the master) with them open: they all echo again (old workers keep
 *      theirs), and new connections reach the new workers.
 * Writes docs/scale-benchmark.md. Every process it started is stopped by PID at the end.
 *
 * Environment: SCALE_N (100000), SCALE_RATE (connections opened per second, all generators
 * together; 2000), SCALE_DEADLINE (seconds to open them; 240), SCALE_SERVERS (gateway,nginx),
 * SCALE_BAD (bad clients of each kind; 50), SCALE_WORKERS (worker processes of both; enough for N), SCALE_OUT (docs/), SCALE_KEEP=1 (keep the tree).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const procs = require('./procs');
const { prepare, pageText } = require('./setup');
const { writeScaleReport } = require('./scale-report');

const ROOT = path.resolve(__dirname, '..', '..');
const GATEWAY_BIN = path.join(ROOT, 'bin', 'gateway');
const SERVER_CORE = 0;
const GENERATOR_CORE = 1;

const env = process.env;
const N = Number(env.SCALE_N || 100000);
const RATE = Number(env.SCALE_RATE || 2000);
const DEADLINE = Number(env.SCALE_DEADLINE || 240);
const BAD = Number(env.SCALE_BAD || 50);
/**
 * When, after the bad clients left, the RSS is sampled again (seconds): a quiet worker gives back
 * in two steps, a full GC after 3 quiet seconds and, past V8's 5 s allocation window, one that
 * shrinks the young generation (src/process/quiet-memory-reducer.ts).
 */
const AFTER_BAD_S = [10, 20, 30];
/** The per-process open-files limit: a worker holds at most this many descriptors, a generator likewise. */
const NOFILE = Math.min(procs.HARD_NOFILE, 1_000_000);
/** Connections per generator process (each from its own source address: ~28k ephemeral ports each). */
const PER_GENERATOR = Math.min(16000, NOFILE - 2000);
/**
 * Worker processes of both servers: enough that none needs more descriptors than the limit,
 * with room for an uneven spread (workers share one listening socket; none is told its share).
 */
const WORKERS = Number(env.SCALE_WORKERS) || Math.max(2, Math.ceil(N / Math.floor(NOFILE * 0.7)));
const SCALE = { workers: WORKERS, rlimitNofile: NOFILE, sendTimeout: '5s', headerTimeout: '30s', backlog: 4096 };
const WORKER_CONNECTIONS = NOFILE - 500;
/** The large static file of the slow readers (bigger than any socket buffers of loopback). */
const BIG = { path: '/32m.html', size: 32 * 1024 * 1024 };

const log = (msg) => process.stderr.write(`[scale] ${new Date().toISOString().slice(11, 19)} ${msg}\n`);

/** Starts a generator (ws-load.js idle mode) on the generator core; `events` collects its JSON lines. */
function startHolder(url, connections, address, rate) {
  const options = { mode: 'idle', url, connections, concurrency: 100, addresses: [address], rate, deadline: DEADLINE };
  const child = procs.startPinned(`ws-load ${address}`, GENERATOR_CORE, process.execPath, [path.join(__dirname, 'ws-load.js'), JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    nofile: NOFILE,
  });
  const waiting = [];
  const backlog = [];
  procs.onJsonLines(child.stdout, (event) => {
    const i = waiting.findIndex((w) => w.name === event.event);
    if (i >= 0) waiting.splice(i, 1)[0].resolve(event);
    else backlog.push(event);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  /** The next event called `name` (or an error once the generator exits without it). */
  const next = (name) => {
    const i = backlog.findIndex((e) => e.event === name);
    if (i >= 0) return Promise.resolve(backlog.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      waiting.push({ name, resolve });
      exited.then((code) => reject(new Error(`generator ${address} exited (${code}) before "${name}"`)));
    });
  };
  return {
    child,
    ready: next('ready'),
    async echo() {
      child.stdin.write('echo\n');
      return next('echoed');
    },
    async close() {
      child.stdin.write('close\n');
      await exited;
    },
  };
}

/** Opens `total` connections from `count` generators (`base`, `base`+1... as 127.0.0.x); resolves once all are ready. */
async function openAll(url, total, baseAddress) {
  const count = Math.ceil(total / PER_GENERATOR);
  const holders = Array.from({ length: count }, (_, i) => {
    const share = Math.floor(total / count) + (i < total % count ? 1 : 0);
    return startHolder(url, share, `127.0.0.${baseAddress + i}`, RATE / count);
  });
  const ready = await Promise.all(holders.map((h) => h.ready));
  return { holders, ready };
}

/** Every holder's connections echo once; the sums. */
async function echoAll(holders) {
  const results = await Promise.all(holders.map((h) => h.echo()));
  return {
    ok: results.reduce((s, r) => s + r.ok, 0),
    failed: results.reduce((s, r) => s + r.failed, 0),
    firstError: results.find((r) => r.firstError)?.firstError ?? null,
    seconds: Math.max(...results.map((r) => r.seconds)),
  };
}

/** The socket descriptors of each worker (the master's children), by PID. */
function socketsPerWorker(masterPid) {
  return procs.processTree(masterPid).slice(1).map((pid) => {
    let sockets = 0;
    try {
      for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        try {
          if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
        } catch {
          /* closed meanwhile */
        }
      }
    } catch {
      /* gone */
    }
    return { pid, sockets };
  });
}

/** The error log's size now: where the next phase's lines begin. */
function logOffset(tree) {
  try {
    return fs.statSync(path.join(tree.dir, 'logs', 'error.log')).size;
  } catch {
    return 0;
  }
}

/**
 * What the error log says since `offset` about full workers: connections closed for want of a
 * slot ("worker_connections are not enough"), and (the gateway) workers that stopped accepting
 * past 7/8 of theirs and accepted again.
 */
function fullnessSince(tree, offset) {
  let text = '';
  try {
    const fd = fs.openSync(path.join(tree.dir, 'logs', 'error.log'), 'r');
    const size = fs.fstatSync(fd).size;
    const buffer = Buffer.alloc(Math.max(0, size - offset));
    fs.readSync(fd, buffer, 0, buffer.length, offset);
    fs.closeSync(fd);
    text = buffer.toString('latin1');
  } catch {
    /* no log */
  }
  const count = (what) => text.split(what).length - 1;
  return { notEnough: count('worker_connections are not enough'), stopped: count('stopped accepting'), resumed: count('accepting again') };
}

/** Starts a server (master + workers) on the server core; resolves once it listens. */
async function startServer(name, tree, port) {
  const [command, args] =
    name === 'gateway'
      ? [process.execPath, [GATEWAY_BIN, '-p', tree.dir, '-c', 'conf/gateway.yaml']]
      : [tree.nginx.bin, ['-p', tree.dir, '-c', tree.nginx.conf, '-g', 'daemon off;']];
  const child = procs.startPinned(name, SERVER_CORE, command, args, { cwd: tree.dir, logFile: path.join(tree.dir, 'logs', `${name}.out`) });
  await procs.waitForPort(port, '127.0.0.1', 30000, child);
  // Every worker up (the port answers as soon as the first one listens).
  const deadline = Date.now() + 30000;
  while (procs.processTree(child.pid).length < 1 + WORKERS && Date.now() < deadline) await procs.sleep(100);
  return { name, pid: child.pid, port };
}

/** Runs bad-input.js against `port` while `during` runs; samples the tree's RSS meanwhile. */
async function badInput(server, during) {
  const options = { port: server.port, bigPath: BIG.path, bigSize: BIG.size, wsPath: '/s', count: BAD, holdS: 10, silentS: 40, floodS: 8, byteGapMs: 50, localAddress: '127.0.0.1' };
  const child = procs.startPinned('bad-input', GENERATOR_CORE, process.execPath, [path.join(__dirname, 'bad-input.js'), JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    nofile: NOFILE,
  });
  let result = null;
  procs.onJsonLines(child.stdout, (event) => {
    if (event.event === 'result' || event.event === 'error') result = event;
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let peakRss = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakRss = Math.max(peakRss, procs.treeRss(server.pid));
      await procs.sleep(250);
    }
  })();
  const [, alongside] = await Promise.all([exited, during()]);
  sampling = false;
  await sampler;
  return { result, peakRss, alongside };
}

/** Sends SIGHUP to the master and waits for the new generation of workers beside the old one. */
async function reload(server) {
  const before = new Set(procs.processTree(server.pid).slice(1));
  process.kill(server.pid, 'SIGHUP');
  const deadline = Date.now() + 30000;
  let fresh = [];
  while (Date.now() < deadline) {
    fresh = procs.processTree(server.pid).slice(1).filter((pid) => !before.has(pid));
    // nginx's cache loader/manager do not exist here; new children are the new workers.
    if (fresh.length >= WORKERS) break;
    await procs.sleep(200);
  }
  await procs.sleep(2000);
  const oldAlive = [...before].filter((pid) => fs.existsSync(`/proc/${pid}`));
  return { newWorkers: fresh.length, oldWorkers: before.size, oldAlive: oldAlive.length };
}

/** The whole sequence on one freshly started server. */
async function measureServer(name, tree, port, baseAddress) {
  log(`${name}: starting (${WORKERS} workers)`);
  const server = await startServer(name, tree, port);
  const url = `ws://127.0.0.1:${port}/s`;
  const out = { name };
  let holders = [];
  try {
    // Warm up: one-time costs (JIT, first handshake paths) before the baseline.
    const warm = await openAll(url, 200, baseAddress);
    await echoAll(warm.holders);
    await Promise.all(warm.holders.map((h) => h.close()));
    await procs.sleep(1500);
    out.baseRss = await procs.sampleRss(server.pid);

    await procs.waitQuiet([SERVER_CORE, GENERATOR_CORE]);
    log(`${name}: opening ${N} connections at ${RATE}/s`);
    const logAt = logOffset(tree);
    const cpu0 = procs.cpuSnapshot(server.pid);
    const cores0 = [procs.coreTicks(SERVER_CORE), procs.coreTicks(GENERATOR_CORE)];
    const t0 = performance.now();
    const opened = await openAll(url, N, baseAddress);
    holders = opened.holders;
    const wall = (performance.now() - t0) / 1000;
    const cpu = procs.cpuDelta(cpu0, procs.cpuSnapshot(server.pid));
    out.open = {
      opened: opened.ready.reduce((s, r) => s + r.opened, 0),
      failed: opened.ready.reduce((s, r) => s + r.failed, 0),
      firstError: opened.ready.find((r) => r.firstError)?.firstError ?? null,
      seconds: Math.max(...opened.ready.map((r) => r.seconds)),
      wall,
      serverCpu: cpu,
      serverCoreBusy: procs.coreBusy(cores0[0], procs.coreTicks(SERVER_CORE)),
      generatorCoreBusy: procs.coreBusy(cores0[1], procs.coreTicks(GENERATOR_CORE)),
      generators: holders.length,
      generatorRss: opened.ready.reduce((s, r) => s + r.genRss, 0),
    };
    log(`${name}: ${out.open.opened} open (${out.open.failed} failed) in ${out.open.seconds.toFixed(1)} s`);
    await procs.sleep(3000);
    out.loadedRss = await procs.sampleRss(server.pid);
    out.spread = socketsPerWorker(server.pid);
    out.fullness = fullnessSince(tree, logAt);
    log(`${name}: ${JSON.stringify(out.fullness)}`);
    log(`${name}: RSS ${(out.baseRss / 2 ** 20).toFixed(1)} -> ${(out.loadedRss / 2 ** 20).toFixed(1)} MiB`);

    out.echo = await echoAll(holders);
    log(`${name}: echo ${out.echo.ok} ok, ${out.echo.failed} failed`);

    log(`${name}: bad input (${BAD} of each kind) while all echo`);
    const bad = await badInput(server, () => echoAll(holders));
    const afterRss = [];
    for (const [i, s] of AFTER_BAD_S.entries()) {
      await procs.sleep((s - (AFTER_BAD_S[i - 1] ?? 0)) * 1000);
      afterRss.push({ s, rss: await procs.sampleRss(server.pid) });
    }
    out.bad = { ...bad, beforeRss: out.loadedRss, afterRss };
    log(`${name}: bad input ${JSON.stringify(bad.result)}; alongside echo ${bad.alongside.ok} ok ${bad.alongside.failed} failed`);

    log(`${name}: reload (SIGHUP)`);
    out.reload = await reload(server);
    out.reload.spread = socketsPerWorker(server.pid);
    out.reload.echo = await echoAll(holders);
    const fresh = await openAll(url, 200, baseAddress + 40);
    out.reload.freshEcho = await echoAll(fresh.holders);
    await Promise.all(fresh.holders.map((h) => h.close()));
    log(`${name}: after reload echo ${out.reload.echo.ok} ok, ${out.reload.echo.failed} failed; new connections ${out.reload.freshEcho.ok} ok`);
  } catch (err) {
    out.error = err.message;
    log(`${name}: FAILED ${err.message}`);
  } finally {
    await Promise.all(holders.map((h) => h.close().catch(() => {})));
    await procs.stopPid(server.pid, 20000);
  }
  return out;
}

async function main() {
  const running = execFileSync('sh', ['-c', 'pgrep -af scripts/bench || true'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l && !l.includes('scale-run') && !l.includes('pgrep') && !l.includes(String(process.pid)));
  if (running.length && env.SCALE_FORCE !== '1') throw new Error(`another bench is running (SCALE_FORCE=1 to go on):\n${running.join('\n')}`);
  const [gatewayPort, nginxPort, gatewayH2Port, nginxH2Port, backendPort] = await procs.freePorts(5);
  const tree = prepare({ gatewayPort, nginxPort, gatewayH2Port, nginxH2Port, backendPort, connections: WORKER_CONNECTIONS, scale: SCALE });
  fs.writeFileSync(path.join(tree.dir, 'public', BIG.path.slice(1)), pageText(BIG.size));
  log(`tree ${tree.dir}; ${N} connections, ${WORKERS} workers each, worker_connections ${WORKER_CONNECTIONS}, worker_rlimit_nofile ${NOFILE}`);
  const names = (env.SCALE_SERVERS || 'gateway,nginx').split(',').filter((n) => n !== 'nginx' || tree.nginx);
  const results = {};
  try {
    for (const [i, name] of names.entries()) {
      results[name] = await measureServer(name, tree, name === 'gateway' ? gatewayPort : nginxPort, 2 + i * 50);
    }
    const run = {
      date: new Date().toISOString(),
      commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(),
      node: process.version,
      nginx: tree.nginx ? execFileSync('sh', ['-c', `${tree.nginx.bin} -v 2>&1`], { encoding: 'utf8' }).trim() : tree.nginxMissing,
      cpu: (os.cpus()[0] || {}).model || 'unknown',
      cores: os.cpus().length,
      kernel: os.release(),
      n: N,
      rate: RATE,
      deadline: DEADLINE,
      workers: WORKERS,
      workerConnections: WORKER_CONNECTIONS,
      nofile: NOFILE,
      perGenerator: PER_GENERATOR,
      bad: BAD,
      big: BIG,
    };
    const outDir = path.resolve(ROOT, env.SCALE_OUT || 'docs');
    fs.writeFileSync(path.join(tree.dir, 'scale-results.json'), JSON.stringify({ run, results }, null, 2));
    log(`wrote ${writeScaleReport({ outDir, run, results })}`);
  } finally {
    await procs.stopAll();
    if (env.SCALE_KEEP === '1') log(`kept ${tree.dir}`);
    else fs.rmSync(tree.dir, { recursive: true, force: true });
  }
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    procs.stopAll().finally(() => process.exit(130));
  });
}

main().then(
  () => process.exit(0),
  (err) => {
    log(err.stack || err.message);
    procs.stopAll().finally(() => process.exit(1));
  },
);
