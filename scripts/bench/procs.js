'use strict';
/**
 * Processes of the benchmark: start one pinned to a core (taskset), wait for its port, stop it
 * by PID (TERM, then KILL), and read what the kernel says it costs: CPU time (utime + stime
 * from /proc/<pid>/stat, summed over the process and its descendants, so nginx's master and
 * worker count together), resident memory (VmRSS from /proc/<pid>/status), and how busy a
 * whole core was (/proc/stat) between two snapshots.
 *
 * Every process started here is remembered in `started` so `stopAll()` can end them at the
 * end of a run, even a failed one; nothing is ever stopped by name.
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const readline = require('node:readline');

/** Clock ticks per second of /proc's CPU times (USER_HZ), asked of the system once. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Whether taskset is there; without it processes run unpinned (and the report says so). */
const HAVE_TASKSET = fs.existsSync('/usr/bin/taskset') || fs.existsSync('/bin/taskset');

/** Whether prlimit is there (util-linux), to raise a started process's open-files limit. */
const HAVE_PRLIMIT = fs.existsSync('/usr/bin/prlimit') || fs.existsSync('/bin/prlimit');

/**
 * The hard open-files limit this process may raise its children's soft limit to (`ulimit -Hn`;
 * above it only a process with CAP_SYS_RESOURCE may go, which a container often lacks).
 */
const HARD_NOFILE = (() => {
  try {
    const text = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
    return text === 'unlimited' ? Infinity : Number(text) || 1024;
  } catch {
    return 1024;
  }
})();

/** Every child started by `startPinned`, by PID, until stopped. */
const started = new Map();

/**
 * Starts `command args` pinned to `core` (or unpinned when core is null or taskset is missing).
 * stdout/stderr go to `logFile` when given, else are ignored. Returns the ChildProcess; its
 * `pid` is the server's own PID (taskset execs the command in place).
 */
function startPinned(name, core, command, args, { cwd, env, logFile, stdio, nofile } = {}) {
  const pinned = HAVE_TASKSET && core !== null && core !== undefined;
  let file = pinned ? 'taskset' : command;
  let argv = pinned ? ['-c', String(core), command, ...args] : args;
  // `nofile`: the open-files limit of the process (at most the hard limit), set by prlimit,
  // which execs it in place as taskset does.
  if (nofile && HAVE_PRLIMIT) {
    const limit = Math.min(nofile, HARD_NOFILE);
    argv = [`--nofile=${limit}:${limit}`, file, ...argv];
    file = 'prlimit';
  }
  let out = 'ignore';
  if (logFile) out = fs.openSync(logFile, 'a');
  const child = spawn(file, argv, { cwd, env: env ?? process.env, stdio: stdio ?? ['ignore', out, out] });
  if (typeof out === 'number') fs.closeSync(out);
  if (!child.pid) throw new Error(`cannot start ${name} (${command})`);
  started.set(child.pid, { name, child });
  child.once('exit', () => started.delete(child.pid));
  return child;
}

/** Resolves once something accepts TCP connections on host:port; rejects after `timeoutMs`. */
function waitForPort(port, host = '127.0.0.1', timeoutMs = 15000, child = null) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child && child.exitCode !== null) {
        reject(new Error(`process ${child.pid} exited (code ${child.exitCode}) before listening on ${port}`));
        return;
      }
      const socket = net.connect({ port, host });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/** A free TCP port on 127.0.0.1 (bound then released; the run starts its servers right after). */
/**
 * `n` distinct free ports: every probe stays bound until all are chosen (one at a time, the
 * kernel may hand the same port twice: nginx was once given the backend's).
 */
async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = net.createServer();
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      servers.push(server);
    }
    return servers.map((server) => server.address().port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Stops one PID: SIGTERM, then SIGKILL after `graceMs`. Resolves once it is gone. */
async function stopPid(pid, graceMs = 5000) {
  if (!pid || !alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) {
    const entry = started.get(pid);
    if (entry && entry.child.exitCode !== null) break;
    await sleep(50);
  }
  const entry = started.get(pid);
  if (entry && entry.child.exitCode === null && entry.child.signalCode === null) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  started.delete(pid);
}

/** Stops every process this module started and that still runs (the end of any run). */
async function stopAll() {
  const pids = [...started.keys()];
  await Promise.all(pids.map((pid) => stopPid(pid)));
}

/** A process's direct children, from /proc/<pid>/task/<tid>/children (Linux 3.5+). */
function childrenOf(pid) {
  const kids = [];
  let tasks = [];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return kids;
  }
  for (const tid of tasks) {
    try {
      const text = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) kids.push(...text.split(/\s+/).map(Number));
    } catch {
      /* the task ended */
    }
  }
  return kids;
}

/** `pid` and all its descendants. */
function processTree(pid) {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...childrenOf(all[i]));
  return all;
}

/** utime + stime of one process in seconds (0 if it is gone). */
function cpuSecondsOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // fields 14 and 15 of stat(5)
  } catch {
    return 0;
  }
}

/**
 * CPU seconds of a process tree, per PID, so a delta can be taken against a later snapshot
 * (a process that appeared in between counts from zero).
 */
function cpuSnapshot(rootPid) {
  const byPid = new Map();
  for (const pid of processTree(rootPid)) byPid.set(pid, cpuSecondsOf(pid));
  return byPid;
}

/** CPU seconds the tree spent between two snapshots. */
function cpuDelta(before, after) {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

/** VmRSS of one process in bytes (0 if it is gone). */
function rssOf(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** VmRSS summed over a process tree (nginx: master plus worker). */
function treeRss(rootPid) {
  return processTree(rootPid).reduce((sum, pid) => sum + rssOf(pid), 0);
}

/** Median of a few VmRSS samples of a process tree, taken `gapMs` apart. */
async function sampleRss(pid, samples = 5, gapMs = 300) {
  const values = [];
  for (let i = 0; i < samples; i++) {
    values.push(treeRss(pid));
    if (i < samples - 1) await sleep(gapMs);
  }
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)];
}

/**
 * The cross-CPU interrupts a core has received (rescheduling and function-call IPIs, from
 * /proc/interrupts): one is how the kernel wakes a task sleeping on another core, which on this
 * VM costs the waker a VM exit (docs/benchmarks.md, "the wake-up tax").
 */
function wakeIpis(core) {
  let total = 0;
  for (const line of fs.readFileSync('/proc/interrupts', 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === 'RES:' || fields[0] === 'CAL:') total += Number(fields[1 + core]) || 0;
  }
  return total;
}

/** Busy and total jiffies of one core, from its `cpuN` line in /proc/stat. */
function coreTicks(core) {
  const line = fs
    .readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${core} `));
  if (!line) return { busy: 0, total: 0 };
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] || 0); // idle + iowait
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // without guest times, already in user
  return { busy: total - idle, total };
}

/** Share (0..1) of a core that was busy between two `coreTicks` snapshots. */
function coreBusy(before, after) {
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : 0;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the given cores are quiet (each less than `threshold` busy over `sampleMs`), at
 * most `maxWaitMs`: on a shared machine, a window should not start while another tenant's job
 * holds a core. Resolves with the busiest share of the last sample and the time waited.
 */
async function waitQuiet(cores, { threshold = 0.15, sampleMs = 500, maxWaitMs = 20000 } = {}) {
  const start = Date.now();
  for (;;) {
    const before = cores.map(coreTicks);
    await sleep(sampleMs);
    const busiest = Math.max(...cores.map((core, i) => coreBusy(before[i], coreTicks(core))));
    const waited = Date.now() - start;
    if (busiest < threshold || waited >= maxWaitMs) return { busiest, waitedMs: waited };
  }
}

/** Calls `onEvent` with each line of a generator's stdout that parses as JSON (others are skipped). */
function onJsonLines(stream, onEvent) {
  readline.createInterface({ input: stream }).on('line', (line) => {
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    onEvent(event, line);
  });
}

/**
 * Runs a load generator (`bin args`) to its end, pinned to `core`, under a tiny `sh` wrapper that
 * prints `TAG utime stime` (in clock ticks) of the reaped generator, so that a report can tell
 * whether the generator was the bottleneck. Killed `seconds` + 30 s on. Resolves with its exit
 * code, its output and its error output; rejects when it cannot start.
 */
function runGenerator({ bin, args, core, seconds, tag }) {
  const wrapper = `gen_bin="$1"; shift; "$gen_bin" "$@"; s=$?; echo "${tag} $(cut -d" " -f16,17 /proc/$$/stat)"; exit $s`;
  const shArgs = ['-c', wrapper, 'sh', bin, ...args];
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
      resolve({ code, out, err });
    });
  });
}

module.exports = {
  runGenerator,
  onJsonLines,
  CLK_TCK,
  HAVE_TASKSET,
  HAVE_PRLIMIT,
  HARD_NOFILE,
  startPinned,
  waitForPort,
  freePort,
  freePorts,
  stopPid,
  stopAll,
  processTree,
  cpuSnapshot,
  cpuDelta,
  rssOf,
  treeRss,
  sampleRss,
  coreTicks,
  coreBusy,
  wakeIpis,
  sleep,
  waitQuiet,
};
