'use strict';
/**
 * h2load (Debian's nghttp2-client), run and read: one fixed-duration HTTP/2 run against one
 * cleartext URL (prior knowledge), `connections` connections with `streams` concurrent streams
 * each, pinned to the generator's core, under the same `sh` wrapper as wrk's that prints the CPU
 * h2load used.
 */
const { spawn } = require('node:child_process');
const { CLK_TCK, HAVE_TASKSET } = require('./procs');

const H2LOAD = process.env.BENCH_H2LOAD || '/usr/bin/h2load';

/** The sh wrapper: run h2load, then print the CPU its reaped child used; keep its exit status. */
const WRAPPER = 'bin="$1"; shift; "$bin" "$@"; s=$?; echo "H2CPU $(cut -d" " -f16,17 /proc/$$/stat)"; exit $s';

/** Reads h2load's report: requests done, seconds, requests per second, failures (failed, errored, timed out, not 2xx), h2load's CPU. */
function parseH2load(output) {
  const result = { requests: 0, seconds: 0, rps: 0, failed: 0, genCpu: NaN };
  const finished = /finished in ([\d.]+)(ms|s), ([\d.]+) req\/s/.exec(output);
  if (finished) {
    result.seconds = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
    result.rps = Number(finished[3]);
  }
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(output);
  if (requests) {
    result.requests = Number(requests[3]);
    result.failed = Number(requests[5]) + Number(requests[6]) + Number(requests[7]);
  }
  const statuses = /status codes: (\d+) 2xx/.exec(output);
  if (statuses) result.failed += Math.max(0, Number(requests?.[4] ?? 0) - Number(statuses[1]));
  const cpu = /^H2CPU (\d+) (\d+)$/m.exec(output);
  if (cpu) result.genCpu = (Number(cpu[1]) + Number(cpu[2])) / CLK_TCK;
  return result;
}

/** Runs h2load once: `url`, `seconds`, `connections`, `streams` (per connection), `core`. Rejects when it prints no result. */
function runH2load({ url, seconds, connections, streams, core = 1 }) {
  const args = ['-c', String(connections), '-m', String(streams), '-D', String(Math.max(1, Math.round(seconds))), '-T', '10', url];
  const shArgs = ['-c', WRAPPER, 'sh', H2LOAD, ...args];
  const file = HAVE_TASKSET && core !== null ? 'taskset' : 'sh';
  const argv = file === 'taskset' ? ['-c', String(core), 'sh', ...shArgs] : shArgs;
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.once('error', (e) => {
      clearTimeout(killer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(killer);
      const result = parseH2load(out);
      if (code !== 0 || result.requests === 0) {
        reject(new Error(`h2load ${args.join(' ')} failed (exit ${code}): ${(err || out).trim().slice(0, 400)}`));
        return;
      }
      resolve({ ...result, raw: out });
    });
  });
}

module.exports = { runH2load, parseH2load, H2LOAD };
