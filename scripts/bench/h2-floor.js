'use strict';
/**
 * Node's HTTP/2 floor beside the gateway and nginx, in one run (`node scripts/bench/h2-floor.js`):
 * the bench's 1 KiB file over h2c, h2load with 10 connections x 10 streams on the generator core,
 * each server alone on the server core, measured one after the other in rounds (the order
 * rotating), CPU per request from /proc over the window. The servers:
 *
 * - `compat`, `core`, `fd`, `file`: h2-floor-server.js's four ways of answering (Node's
 *   compatibility API, the core API from memory, respondWithFD, respondWithFile);
 * - `gateway`: this tree's bin/gateway on the bench's configuration (setup.js);
 * - `nginx`: nginx 1.22 on the same configuration (access log on, open_file_cache);
 * - `baseline`: with H2FLOOR_BASELINE=/path/to/a/built/checkout, that checkout's bin/gateway on
 *   the same configuration in a prefix of its own (its own ports, logs and pid; the same files).
 *
 * Env: H2FLOOR_SECONDS (5), H2FLOOR_ROUNDS (2), H2FLOOR_ONLY (a comma list of servers),
 * H2FLOOR_BASELINE.
 * Prints a Markdown table: best round by throughput, CPU µs per request, ÷ nginx, ÷ core.
 */
const path = require('node:path');
const fs = require('node:fs');
const procs = require('./procs');
const { prepare, gatewayYaml } = require('./setup');
const { runH2load } = require('./h2load');

const SERVER_CORE = 0;
const GENERATOR_CORE = 1;
const SECONDS = Number(process.env.H2FLOOR_SECONDS || 5);
const ROUNDS = Number(process.env.H2FLOOR_ROUNDS || 2);
const ROOT = path.resolve(__dirname, '..', '..');
const log = (msg) => process.stderr.write(`[h2-floor] ${msg}\n`);

async function main() {
  const [gatewayPort, nginxPort, backendPort, gatewayH2Port, nginxH2Port, basePort, baseH2Port, ...floorPorts] = await procs.freePorts(11);
  const tree = prepare({ gatewayPort, nginxPort, gatewayH2Port, nginxH2Port, backendPort, connections: 1024 });
  const file = path.join(tree.dir, 'public', '1k.html');
  const modes = ['compat', 'core', 'fd', 'file'];
  const only = process.env.H2FLOOR_ONLY ? process.env.H2FLOOR_ONLY.split(',') : null;
  const servers = [];
  const want = (name) => !only || only.includes(name);
  try {
    // Node 20's respondWithFD/respondWithFile segfault once clients cut streams (h2load stops with
    // streams in flight): a floor server that died is started again, and its crashes counted.
    const startFloor = async (server) => {
      const child = procs.startPinned(server.name, SERVER_CORE, process.execPath, [path.join(__dirname, 'h2-floor-server.js'), server.name, String(server.port), file]);
      child.once('exit', (code, signal) => {
        server.dead = true;
        if (signal) server.crashes = (server.crashes ?? 0) + 1;
        if (signal) log(`${server.name} died: ${signal}`);
      });
      await procs.waitForPort(server.port, '127.0.0.1', 10000, child);
      server.pid = child.pid;
      server.dead = false;
    };
    for (const [i, mode] of modes.entries()) {
      if (!want(mode)) continue;
      const server = { name: mode, pid: 0, port: floorPorts[i], restart: startFloor, crashes: 0 };
      await startFloor(server);
      servers.push(server);
    }
    if (want('gateway')) {
      const child = procs.startPinned('gateway', SERVER_CORE, process.execPath, [path.join(ROOT, 'bin', 'gateway'), '-p', tree.dir, '-c', 'conf/gateway.yaml'], {
        cwd: tree.dir,
        logFile: path.join(tree.dir, 'logs', 'gateway.out'),
      });
      await procs.waitForPort(gatewayH2Port, '127.0.0.1', 20000, child);
      servers.push({ name: 'gateway', pid: child.pid, port: gatewayH2Port });
    }
    const baseline = process.env.H2FLOOR_BASELINE;
    if (baseline && want('baseline')) {
      const prefix = path.join(tree.dir, 'baseline');
      for (const sub of ['conf', 'logs', 'tmp']) fs.mkdirSync(path.join(prefix, sub), { recursive: true });
      for (const shared of ['public', 'handlers']) fs.symlinkSync(path.join(tree.dir, shared), path.join(prefix, shared));
      fs.writeFileSync(path.join(prefix, 'conf', 'gateway.yaml'), gatewayYaml({ port: basePort, h2Port: baseH2Port, backendPort, connections: 1024 }));
      const child = procs.startPinned('baseline', SERVER_CORE, process.execPath, [path.join(baseline, 'bin', 'gateway'), '-p', prefix, '-c', 'conf/gateway.yaml'], {
        cwd: prefix,
        logFile: path.join(prefix, 'logs', 'gateway.out'),
      });
      await procs.waitForPort(baseH2Port, '127.0.0.1', 20000, child);
      servers.push({ name: 'baseline', pid: child.pid, port: baseH2Port });
    }
    if (want('nginx') && tree.nginx) {
      const child = procs.startPinned('nginx', SERVER_CORE, tree.nginx.bin, ['-p', tree.dir, '-c', tree.nginx.conf, '-g', 'daemon off;'], {
        cwd: tree.dir,
        logFile: path.join(tree.dir, 'logs', 'nginx.out'),
      });
      await procs.waitForPort(nginxH2Port, '127.0.0.1', 20000, child);
      servers.push({ name: 'nginx', pid: child.pid, port: nginxH2Port });
    } else if (want('nginx')) log(`no nginx: ${tree.nginxMissing}`);

    const results = new Map(servers.map((s) => [s.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = servers.map((_, i) => servers[(i + round) % servers.length]);
      for (const server of order) {
        const url = `http://127.0.0.1:${server.port}/1k.html`;
        if (server.dead && server.restart) await server.restart(server);
        await runH2load({ url, seconds: 1, connections: 10, streams: 10, core: GENERATOR_CORE }).catch(() => undefined); // warm-up
        if (server.dead && server.restart) await server.restart(server);
        await procs.waitQuiet([SERVER_CORE], { maxWaitMs: 5000 });
        const cpuBefore = procs.cpuSnapshot(server.pid);
        const core0 = procs.coreTicks(SERVER_CORE);
        let run;
        try {
          run = await runH2load({ url, seconds: SECONDS, connections: 10, streams: 10, core: GENERATOR_CORE });
        } catch (err) {
          log(`${server.name} round ${round + 1}: no result (${server.dead ? 'the server died' : String(err.message).split('\n')[0]})`);
          continue;
        }
        const cpu = procs.cpuDelta(cpuBefore, procs.cpuSnapshot(server.pid));
        const busy = procs.coreBusy(core0, procs.coreTicks(SERVER_CORE));
        const row = { rps: run.rps, cpuUs: (cpu / run.requests) * 1e6, failed: run.failed, serverShare: cpu / run.seconds, coreBusy: busy, genCpu: run.genCpu / run.seconds };
        results.get(server.name).push(row);
        log(`${server.name} round ${round + 1}: ${Math.round(run.rps)}/s, ${row.cpuUs.toFixed(1)} µs/req, failed ${run.failed}, server ${(100 * row.serverShare).toFixed(0)}% of core 0 (busy ${(100 * busy).toFixed(0)}%), h2load ${(100 * row.genCpu).toFixed(0)}%`);
      }
    }
    const best = (name) => results.get(name).reduce((a, b) => (b.rps > a.rps ? b : a), { rps: 0, cpuUs: NaN, genCpu: NaN });
    const nginx = results.has('nginx') ? best('nginx') : null;
    const core = results.has('core') ? best('core') : null;
    const base = results.has('baseline') ? best('baseline') : null;
    const lines = ['| server | req/s (best) | CPU µs/req | ÷ nginx | ÷ core API | ÷ baseline | h2load CPU | crashes | rounds req/s |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |'];
    for (const server of servers) {
      const b = best(server.name);
      const rounds = results.get(server.name).map((r) => `${Math.round(r.rps)} (${r.cpuUs.toFixed(1)} µs)`).join(', ');
      lines.push(`| ${server.name} | ${Math.round(b.rps).toLocaleString('en')} | ${b.cpuUs.toFixed(1)} | ${nginx ? (b.cpuUs / nginx.cpuUs).toFixed(2) : '—'} | ${core ? (b.cpuUs / core.cpuUs).toFixed(2) : '—'} | ${base ? (b.cpuUs / base.cpuUs).toFixed(2) : '—'} | ${(100 * b.genCpu).toFixed(0)}% | ${server.crashes ?? '—'} | ${rounds} |`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const server of servers) if (!server.dead) await procs.stopPid(server.pid);
    fs.rmSync(tree.dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exitCode = 1;
});
