#!/usr/bin/env node
'use strict';
/**
 * `npm run bench`: the gateway against nginx + the Lua module, side by side, in one run.
 *
 * Writes a fresh tree (static files, both configurations), starts the backend (generator
 * core), the gateway and, when this machine has it, nginx with the equivalent nginx.conf (both
 * on the server core), and a bare Node server (floor-server.js: Node's own cost, on a few
 * cases) and the Node peers (peer-servers.js: fastify, sirv, http-proxy, ws, Socket.IO... on
 * the cases of their kind), then for every case measures them one after the other
 * (alternating which goes first), the idle-WebSocket case on freshly started servers, profiles
 * the gateway on the case where it is furthest behind and on every case whose target it missed, and writes docs/benchmarks.md and
 * docs/benchmarks.svg. Every process it started is stopped by PID at the end, also on failure
 * or Ctrl-C.
 *
 * Environment: BENCH_QUICK=1 (2 s windows, one round, 1,000 idle connections), BENCH_SECONDS,
 * BENCH_REPEAT (rounds per case, best kept; default 3),
 * BENCH_WARMUP, BENCH_CONNECTIONS (wrk, 50), BENCH_IDLE (10000), BENCH_ONLY=id,id (a subset),
 * BENCH_NO_PROFILE=1, BENCH_PROFILE=id,id (profile these cases instead of the furthest behind and the missed ones), BENCH_NO_NGINX=1, BENCH_NO_FLOOR=1 (no bare Node server), BENCH_PEERS=0 (no Node peers), BENCH_KEEP=1 (keep the temporary tree and its logs),
 * BENCH_OUT (the docs directory, default docs/), BENCH_COMMIT (the commit, when run from an export),
 * BENCH_BASELINE=/path/to/checkout (another commit of this repository, built: its bin/gateway is
 * measured beside this one in every case, same rounds, and the report adds gateway ÷ baseline).
 *
 * Push channels are a benchmark of their own (`npm run bench:push`, scripts/bench/push-run.js:
 * another comparison, with nchan and Redis, a few minutes more); this run names it at its end.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const procs = require('./procs');
const { CASES, measure, SERVER_CORE, GENERATOR_CORE } = require('./cases');
const { prepare } = require('./setup');
const { haveWrk, WRK } = require('./wrk');
const { profileCase } = require('./profile');
const { writeReport } = require('./report');
const { findBaseline, prepareBaseline, startFailure, describeBaseline } = require('./baseline');
const { PEERS, peersFor, peersNeeded, preparePeerFiles, startPeers } = require('./peer-servers');

const ROOT = path.resolve(__dirname, '..', '..');
const GATEWAY_BIN = path.join(ROOT, 'bin', 'gateway');

const env = process.env;
const QUICK = env.BENCH_QUICK === '1';
const OPTS = {
  seconds: Number(env.BENCH_SECONDS || (QUICK ? 2 : 5)),
  warmup: Number(env.BENCH_WARMUP || 1),
  connections: Number(env.BENCH_CONNECTIONS || 50),
  idle: Number(env.BENCH_IDLE || (QUICK ? 1000 : 10000)),
  repeat: Math.max(1, Number(env.BENCH_REPEAT || (QUICK ? 1 : 3))),
  settleMs: QUICK ? 1000 : 3000,
};

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

/** Starts the gateway through its real command line (`bin/gateway -p DIR -c conf/...`). */
async function startGateway(tree, port, nodeArgs = []) {
  return { ...(await startGatewayBin('gateway', GATEWAY_BIN, tree.dir, port, nodeArgs)), h2Port: tree.h2Ports.gateway };
}

/** Starts the baseline checkout's bin/gateway on its own prefix and port (baseline.js). */
async function startBaseline(baseline) {
  return startGatewayBin('baseline', baseline.bin, baseline.prefix, baseline.port);
}

/** Starts a gateway's `bin` as `name` with prefix `dir` (conf/gateway.yaml in it), once it listens. */
async function startGatewayBin(name, bin, dir, port, nodeArgs = []) {
  const child = procs.startPinned(name, SERVER_CORE, process.execPath, [...nodeArgs, bin, '-p', dir, '-c', 'conf/gateway.yaml'], {
    cwd: dir,
    logFile: path.join(dir, 'logs', 'gateway.out'),
  });
  await procs.waitForPort(port, '127.0.0.1', 20000, child);
  return { name, pid: child.pid, port, child };
}

/** Starts nginx in the foreground (master and one worker, both pinned by inheritance). */
async function startNginx(tree, port) {
  const child = procs.startPinned('nginx', SERVER_CORE, tree.nginx.bin, ['-p', tree.dir, '-c', tree.nginx.conf, '-g', 'daemon off;'], {
    cwd: tree.dir,
    logFile: path.join(tree.dir, 'logs', 'nginx.out'),
  });
  await procs.waitForPort(port, '127.0.0.1', 20000, child);
  return { name: 'nginx', pid: child.pid, port, h2Port: tree.h2Ports.nginx, child };
}

/** Starts the bare Node server of the `floor` cases (floor-server.js), on the server core. */
async function startFloor(tree, port, backendPort) {
  const child = procs.startPinned('node', SERVER_CORE, process.execPath, [path.join(__dirname, 'floor-server.js'), String(port), String(backendPort), tree.dir]);
  await procs.waitForPort(port, '127.0.0.1', 10000, child);
  return { name: 'node', pid: child.pid, port, child };
}

/**
 * The Node peers the selected cases need (none with BENCH_PEERS=0), on the server core; the
 * static peers' files written first. `described` is what the report says of them.
 */
async function startPeersOf(cases, tree, backendPort, ports) {
  if (env.BENCH_PEERS === '0') return { servers: {}, described: { skipped: 'BENCH_PEERS=0' } };
  const needed = peersNeeded(cases);
  if (needed.some((peer) => peer.kind === 'static')) preparePeerFiles(tree);
  const { servers, failed } = await startPeers(needed, { tree, backendPort, ports, core: SERVER_CORE });
  for (const [name, why] of Object.entries(failed)) log(`peer ${name} NOT MEASURED: ${why}`);
  return { servers, described: { started: Object.keys(servers), failed } };
}

async function startBackend(port) {
  const child = procs.startPinned('backend', GENERATOR_CORE, process.execPath, [path.join(__dirname, 'backend.js'), String(port)]);
  await procs.waitForPort(port, '127.0.0.1', 10000, child);
  return child;
}

/** What the report says about the machine and the run. */
function describeRun(tree) {
  const git = (args) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  let nginxVersion = null;
  if (tree.nginx) {
    try {
      nginxVersion = execFileSync(tree.nginx.bin, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    } catch (err) {
      nginxVersion = String(err.stderr || '').trim() || null;
    }
    if (!nginxVersion) nginxVersion = execFileSync('sh', ['-c', `${tree.nginx.bin} -v 2>&1`], { encoding: 'utf8' }).trim();
  }
  return {
    date: new Date().toISOString(),
    // BENCH_COMMIT names the commit when the tree measured is an export (git archive), not a checkout.
    commit: git(['rev-parse', '--short', 'HEAD']) || env.BENCH_COMMIT || 'unknown',
    dirty: git(['rev-parse', '--short', 'HEAD']) !== '' && git(['status', '--porcelain', '--', 'src']) !== '',
    node: process.version,
    nginx: nginxVersion,
    nginxMissing: tree.nginxMissing,
    cpu: (os.cpus()[0] || {}).model || 'unknown',
    cores: os.cpus().length,
    kernel: os.release(),
    pinned: procs.HAVE_TASKSET,
    wrk: WRK,
    quick: QUICK,
    ...OPTS,
  };
}

async function main() {
  if (!haveWrk()) throw new Error(`wrk is needed (${WRK}); install it (apt-get install wrk) or set BENCH_WRK`);
  const only = env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(',')) : null;
  const cases = CASES.filter((c) => !only || only.has(c.id));
  const [gatewayPort, nginxPort, backendPort, floorPort, baselinePort, gatewayH2Port, nginxH2Port, ...peerPorts] = await procs.freePorts(7 + PEERS.length);
  const baseline = env.BENCH_BASELINE ? findBaseline(env.BENCH_BASELINE) : null;
  const tree = prepare({ gatewayPort, nginxPort, gatewayH2Port, nginxH2Port, backendPort, connections: OPTS.idle + 2000 });
  if (baseline) prepareBaseline(baseline, { tree, port: baselinePort, backendPort, connections: OPTS.idle + 2000 });
  if (env.BENCH_NO_NGINX === '1') {
    tree.nginx = null;
    tree.nginxMissing = 'BENCH_NO_NGINX=1';
  }
  log(`tree ${tree.dir}; nginx: ${tree.nginx ? tree.nginx.bin : `not measured (${tree.nginxMissing})`}`);
  if (baseline) log(`baseline ${baseline.commit} (${baseline.checkout}): ${baseline.refused ? `NOT MEASURED, ${baseline.refused}` : `port ${baselinePort}, prefix ${baseline.prefix}`}`);
  const run = describeRun(tree);
  const backend = await startBackend(backendPort);
  const results = {};
  try {
    let servers = await startServers(tree, gatewayPort, nginxPort, baseline);
    const floor = env.BENCH_NO_FLOOR === '1' ? null : await startFloor(tree, floorPort, backendPort);
    const peers = await startPeersOf(cases, tree, backendPort, peerPorts);
    run.peers = peers.described;
    let turn = 0;
    const serversOf = (kase) => ({
      ...servers,
      ...(kase.floor && floor ? { node: floor } : {}),
      ...Object.fromEntries(peersFor(kase).filter((peer) => peers.servers[peer.name]).map((peer) => [peer.name, peers.servers[peer.name]])),
    });
    const optsOf = (kase) => ({ ...OPTS, backendPid: kase.proxied ? backend.pid : null });
    for (const kase of cases.filter((c) => c.kind !== 'idle')) {
      if (results[kase.id]) continue;
      // A case and its twin (the same job without the script) are measured round by round in
      // turn, so that what the machine's load does over minutes falls on both alike.
      const group = [kase, ...cases.filter((c) => c !== kase && (c.twin === kase.id || kase.twin === c.id))];
      Object.assign(results, await measureGroup(group, serversOf, optsOf, turn++));
    }
    await stopServers({ ...servers, ...(floor ? { node: floor } : {}), ...peers.servers });
    for (const kase of cases.filter((c) => c.kind === 'idle')) {
      results[kase.id] = {};
      const starters = { gateway: () => startGateway(tree, gatewayPort) };
      if (tree.nginx) starters.nginx = () => startNginx(tree, nginxPort);
      if (baseline && !baseline.refused) starters.baseline = () => startBaseline(baseline);
      for (const [name, start] of Object.entries(starters)) {
        try {
          servers = { [name]: await start() };
        } catch (err) {
          if (name !== 'baseline') throw err;
          results[kase.id][name] = { error: startFailure(baseline, err) };
          log(`  baseline: ${results[kase.id][name].error}`);
          continue;
        }
        results[kase.id][name] = await measureOne(servers[name], kase, OPTS);
        await stopServers(servers);
      }
    }
    const profiles = [];
    if (env.BENCH_NO_PROFILE !== '1') {
      const chosen = env.BENCH_PROFILE ? env.BENCH_PROFILE.split(',').map((id) => cases.find((c) => c.id === id)).filter(Boolean) : profiledCases(cases, results);
      for (const kase of chosen) {
        log(`profiling the gateway on ${kase.id}`);
        const profile = await profileCase({
          kase,
          start: (nodeArgs) => startGateway(tree, gatewayPort, nodeArgs),
          measure: (server) => measure(server, kase, { ...OPTS, backendPid: null }),
          dir: path.join(tree.dir, 'prof', kase.id),
          windowMs: OPTS.seconds * 1000,
        });
        profile.ratio = ratioOf(results[kase.id]);
        profiles.push(profile);
      }
    }
    const outDir = path.resolve(ROOT, env.BENCH_OUT || 'docs');
    // Set at the end: a baseline that passed its check may still have failed to start.
    run.baseline = describeBaseline(baseline);
    const files = writeReport({ outDir, run, cases, results, profiles });
    fs.writeFileSync(path.join(tree.dir, 'results.json'), JSON.stringify({ run, results, profiles }, null, 2));
    log(`wrote ${files.join(', ')}`);
    log('push channels (WebSocket subscribers vs nginx + nchan) are measured apart: npm run bench:push -> docs/push-benchmark.md');
  } finally {
    await procs.stopAll();
    if (env.BENCH_KEEP === '1') log(`kept ${tree.dir}`);
    else fs.rmSync(tree.dir, { recursive: true, force: true });
  }
}

/**
 * The gateway, nginx when this machine has it, and the baseline when there is one that accepts
 * the configuration; a baseline that does not start is reported (baseline.refused) and left out.
 */
async function startServers(tree, gatewayPort, nginxPort, baseline) {
  const servers = { gateway: await startGateway(tree, gatewayPort) };
  if (tree.nginx) servers.nginx = await startNginx(tree, nginxPort);
  if (baseline && !baseline.refused) {
    try {
      servers.baseline = await startBaseline(baseline);
    } catch (err) {
      baseline.refused = startFailure(baseline, err);
      log(`baseline NOT MEASURED: ${baseline.refused}`);
    }
  }
  return servers;
}

async function stopServers(servers) {
  for (const server of Object.values(servers)) await procs.stopPid(server.pid, 15000);
}

/** One case on one server; a failure is recorded, not fatal to the run. */
async function measureOne(server, kase, opts) {
  log(`${kase.id} on ${server.name}`);
  try {
    return await measure(server, kase, opts);
  } catch (err) {
    log(`  failed: ${err.message}`);
    return { error: err.message };
  }
}

/**
 * The cases of `group` on every server, `OPTS.repeat` rounds, each round every case in turn
 * (alternating which server goes first); the best round by throughput is kept, every round's
 * throughput (`rounds`) and CPU per operation (`cpuRounds`) listed.
 */
async function measureGroup(group, serversOf, optsOf, turn) {
  const out = Object.fromEntries(group.map((kase) => [kase.id, {}]));
  for (let round = 0; round < OPTS.repeat; round++) {
    for (const kase of group) {
      const servers = serversOf(kase);
      const names = Object.keys(servers);
      for (let shift = (turn + round) % names.length; shift > 0; shift--) names.push(names.shift());
      for (const name of names) {
        const result = await measureOne(servers[name], kase, optsOf(kase));
        const kept = out[kase.id];
        const rounds = [...(kept[name]?.rounds ?? []), result.error ? null : result.throughput];
        const cpuRounds = [...(kept[name]?.cpuRounds ?? []), result.error ? null : result.cpuPerOp];
        const best = kept[name] && !kept[name].error && (result.error || kept[name].throughput >= result.throughput) ? kept[name] : result;
        kept[name] = { ...best, rounds, cpuRounds };
        await procs.sleep(300);
      }
    }
  }
  return out;
}

/** nginx throughput ÷ gateway throughput, or null. */
function ratioOf(result) {
  const g = result?.gateway;
  const n = result?.nginx;
  if (!g || !n || g.error || n.error || !g.throughput) return null;
  return n.throughput / g.throughput;
}

/**
 * The cases profiled: the one where the gateway is furthest behind nginx, then every other
 * whose target it missed, furthest behind first (static 1 KiB when nothing could be measured).
 */
function profiledCases(cases, results) {
  const measured = cases
    .filter((c) => c.kind !== 'idle')
    .map((kase) => ({ kase, ratio: ratioOf(results[kase.id]) }))
    .filter((c) => c.ratio !== null)
    .sort((a, b) => b.ratio - a.ratio);
  if (measured.length === 0) return [cases.find((c) => c.kind === 'http')].filter(Boolean);
  return [measured[0].kase, ...measured.slice(1).filter((c) => c.kase.target && c.ratio > c.kase.target).map((c) => c.kase)];
}

process.once('SIGINT', () => {
  log('interrupted: stopping every process started');
  procs.stopAll().finally(() => process.exit(130));
});

main().catch(async (err) => {
  log(`failed: ${err.stack || err}`);
  await procs.stopAll();
  process.exitCode = 1;
});
