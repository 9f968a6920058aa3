'use strict';
/**
 * wrk, run and read: one fixed-duration run against one URL, pinned to the generator's core,
 * with `--latency` for the percentiles. wrk runs under a tiny `sh` wrapper that prints the CPU
 * wrk used (the wrapper's cutime + cstime once wrk was reaped), so the report can tell whether
 * the load generator itself was the bottleneck.
 */
const { CLK_TCK, runGenerator } = require('./procs');

const WRK = process.env.BENCH_WRK || '/usr/bin/wrk';

/** A wrk duration (`812.00us`, `1.23ms`, `2.00s`, `1.00m`) in milliseconds. */
function parseDuration(text) {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2]];
  return n * scale;
}

/** A wrk size (`150.00MB`, `12.5KB`, `900B`) in bytes. */
function parseSize(text) {
  const m = /^([\d.]+)([KMGT]?B)$/.exec(text.trim());
  if (!m) return NaN;
  const scale = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[m[2]];
  return Number(m[1]) * scale;
}

/**
 * Reads wrk's report: requests, duration, bytes, requests per second, p50/p99 latency (ms),
 * socket errors and non-2xx/3xx responses, and the CPU seconds of wrk (from the wrapper).
 */
function parseWrk(output) {
  const result = { requests: 0, seconds: 0, bytes: 0, rps: 0, p50: NaN, p99: NaN, errors: 0, non2xx: 0, genCpu: NaN };
  const total = /(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read/.exec(output);
  if (total) {
    result.requests = Number(total[1]);
    result.seconds = parseDuration(total[2]) / 1000;
    result.bytes = parseSize(total[3]);
  }
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  if (rps) result.rps = Number(rps[1]);
  const p50 = /^\s+50%\s+(\S+)/m.exec(output);
  const p99 = /^\s+99%\s+(\S+)/m.exec(output);
  if (p50) result.p50 = parseDuration(p50[1]);
  if (p99) result.p99 = parseDuration(p99[1]);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  if (errors) result.errors = errors.slice(1).reduce((sum, n) => sum + Number(n), 0);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  if (non2xx) result.non2xx = Number(non2xx[1]);
  const cpu = /^WRKCPU (\d+) (\d+)$/m.exec(output);
  if (cpu) result.genCpu = (Number(cpu[1]) + Number(cpu[2])) / CLK_TCK;
  return result;
}

/**
 * Runs wrk once and resolves with the parsed result (plus `raw`, wrk's output). Options:
 * `url`, `seconds`, `connections`, `threads` (1), `headers` (map), `core` (the generator's).
 * Rejects when wrk cannot run or prints no result.
 */
async function runWrk({ url, seconds, connections, threads = 1, headers = {}, core = 1 }) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${Math.max(1, Math.round(seconds))}s`, '--timeout', '10s', '--latency'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  args.push(url);
  const { code, out, err } = await runGenerator({ bin: WRK, args, core, seconds, tag: 'WRKCPU' });
  const result = parseWrk(out);
  if (code !== 0 || result.requests === 0) throw new Error(`wrk ${args.join(' ')} failed (exit ${code}): ${(err || out).trim().slice(0, 400)}`);
  return { ...result, raw: out };
}

/** Whether wrk is installed. */
function haveWrk() {
  try {
    require('node:fs').accessSync(WRK, require('node:fs').constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

module.exports = { runWrk, parseWrk, parseDuration, parseSize, haveWrk, WRK };
