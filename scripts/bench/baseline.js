'use strict';
/**
 * The side-by-side baseline (`BENCH_BASELINE=/path/to/other/checkout`): another commit of this
 * repository, built (its dist/ and node_modules in place), measured beside the gateway on the
 * same cases. It gets a prefix of its own inside the bench tree (`baseline/`: the same
 * conf/gateway.yaml but for its port, the same public/ bytes, its own logs and pid file), so
 * the two gateways share nothing but the backend.
 *
 * Its configuration is checked first with its own `gateway -t`: a baseline that refuses the
 * YAML of this commit is reported (in the log and in the report) and left out, not fatal.
 */
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { gatewayYaml } = require('./setup');

/** `git -C dir ...`, trimmed, or '' when dir is no checkout. */
function git(dir, args) {
  try {
    return execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

/** The last non-empty line of a failed command's output (the gateway's one-line error). */
function lastLine(err) {
  const text = `${err.stdout || ''}\n${err.stderr || ''}`.trim() || err.message;
  return text.split('\n').filter((l) => l.trim()).pop();
}

/**
 * The checkout at `checkout`: `{ checkout, commit, dirty, bin, refused }`, `refused` saying why
 * it cannot be measured (not built), else null. Throws when `checkout` is not a directory (a
 * typing error, better told before a long run than after it).
 */
function findBaseline(checkout) {
  const dir = path.resolve(checkout);
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`BENCH_BASELINE=${checkout}: no such directory`);
  const bin = path.join(dir, 'bin', 'gateway');
  let refused = null;
  if (!fs.existsSync(bin)) refused = `no bin/gateway in ${dir}`;
  else if (!fs.existsSync(path.join(dir, 'dist', 'cli.js'))) refused = `${dir} is not built (no dist/cli.js): run npm run build there`;
  return {
    checkout: dir,
    commit: git(dir, ['rev-parse', '--short', 'HEAD']) || 'unknown',
    dirty: git(dir, ['status', '--porcelain', '--', 'src']) !== '',
    bin,
    refused,
  };
}

/**
 * Writes the baseline's prefix under `tree.dir` (its `port`, the rest of the configuration as
 * the gateway's) and checks it with the baseline's own `gateway -t`. Sets `baseline.prefix` and
 * `baseline.port`, and `baseline.refused` when the check fails; returns `baseline`.
 */
function prepareBaseline(baseline, { tree, port, backendPort, connections }) {
  if (baseline.refused) return baseline;
  const bin = baseline.bin;
  baseline.prefix = path.join(tree.dir, 'baseline');
  baseline.port = port;
  for (const sub of ['conf', 'logs']) fs.mkdirSync(path.join(baseline.prefix, sub), { recursive: true });
  // The site and the scripts its locations name (the access script, the body filter, the dict reader).
  for (const sub of ['public', 'handlers']) fs.cpSync(path.join(tree.dir, sub), path.join(baseline.prefix, sub), { recursive: true });
  fs.writeFileSync(path.join(baseline.prefix, 'conf', 'gateway.yaml'), gatewayYaml({ port, backendPort, connections }));
  try {
    execFileSync(process.execPath, [bin, '-t', '-p', baseline.prefix, '-c', 'conf/gateway.yaml'], { cwd: baseline.prefix, encoding: 'utf8', stdio: 'pipe', timeout: 60000 });
  } catch (err) {
    baseline.refused = `its gateway -t refuses this commit's conf/gateway.yaml: ${lastLine(err)}`;
  }
  return baseline;
}

/** Why the baseline did not start: `err` and the last line its gateway wrote (logs/gateway.out). */
function startFailure(baseline, err) {
  let said = '';
  try {
    said = fs.readFileSync(path.join(baseline.prefix, 'logs', 'gateway.out'), 'utf8').split('\n').filter((l) => l.trim()).pop() || '';
  } catch {
    /* nothing written */
  }
  return `its gateway did not start: ${err.message}${said ? `; it said: ${said}` : ''}`;
}

/** What the report and results.json keep of the baseline (no paths of the temporary tree). */
function describeBaseline(baseline) {
  if (!baseline) return null;
  return { checkout: baseline.checkout, commit: baseline.commit, dirty: baseline.dirty, refused: baseline.refused };
}

module.exports = { findBaseline, prepareBaseline, startFailure, describeBaseline };
