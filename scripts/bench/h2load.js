'use strict';
/**
 * h2load (Debian's nghttp2-client), run and read: one fixed-duration HTTP/2 run against one
 * cleartext URL (prior knowledge), `connections` connections with `streams` concurrent streams
 * each, pinned to the generator's core (procs.js's runGenerator, which also reads the CPU h2load
 * used).
 */
const { CLK_TCK, runGenerator } = require('./procs');

const H2LOAD = process.env.BENCH_H2LOAD || '/usr/bin/h2load';

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
async function runH2load({ url, seconds, connections, streams, core = 1 }) {
  const args = ['-c', String(connections), '-m', String(streams), '-D', String(Math.max(1, Math.round(seconds))), '-T', '10', url];
  const { code, out, err } = await runGenerator({ bin: H2LOAD, args, core, seconds, tag: 'H2CPU' });
  const result = parseH2load(out);
  if (code !== 0 || result.requests === 0) throw new Error(`h2load ${args.join(' ')} failed (exit ${code}): ${(err || out).trim().slice(0, 400)}`);
  return { ...result, raw: out };
}

module.exports = { runH2load, parseH2load, H2LOAD };
