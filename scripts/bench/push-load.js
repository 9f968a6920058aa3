'use strict';
/**
 * The push benchmark's load generator, a process of its own (`node push-load.js '<json>'`),
 * pinned by the runner to the generator core. It holds the WebSocket subscribers *and* the
 * publisher, so that it knows when every subscriber has a message (the publish rate is a rate
 * of messages that reached all their subscribers) and can time each delivery against the
 * publish with one clock (process.hrtime, CLOCK_MONOTONIC).
 *
 * Options: { server: 'http://127.0.0.1:PORT', channels, perChannel, addresses, concurrency,
 * size }. Subscribers connect to `ws://.../sub/c<i>`, the publisher POSTs to `.../pub/c<i>`
 * with a keep-alive http.Agent. Commands arrive as JSON lines on stdin, answers leave as JSON
 * lines on stdout:
 *
 * - `{"cmd":"warm"}`: 20 subscribers on a channel of their own, 20 messages published to them,
 *   then closed (one-time costs land before the memory baseline) → `{"event":"warmed"}`.
 * - `{"cmd":"connect"}`: channels × perChannel subscribers, at most `concurrency` handshakes at
 *   a time, over several source addresses → `{"event":"ready", opened, failed, seconds}`.
 * - `{"cmd":"throughput", warmup, seconds, window, inflight}`: publishes as fast as the
 *   subscribers take it: a new message (round robin over the channels) whenever fewer than
 *   `inflight` POSTs are open and fewer than `window` messages are still missing at some
 *   subscriber. `{"event":"start"}` / `{"event":"end"}` bracket the recorded window (the runner
 *   reads the server's CPU there), then it drains (≤ 5 s) and answers `{"event":"result", ...}`.
 * - `{"cmd":"latency", rate, warmup, seconds}`: publishes at a fixed rate (messages/s) and
 *   records publish-to-receive times of the window's messages at every subscriber.
 * - `{"cmd":"close"}`: drops every connection and exits.
 *
 * A message is `<phase>:<seq>:<hrtime ns>:` padded with `x` to `size` bytes; the phase letter
 * keeps a late message of one phase out of the next one's counts. The handshakes are ws's; the
 * frames are then read by `rawFrames` (option `wsReceiver: true`: by ws, as an event each).
 */
const http = require('node:http');
const readline = require('node:readline');
const { openWebSocket } = require('./ws-client');
const { Samples } = require('./ws-load');

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => process.hrtime.bigint();

const opts = JSON.parse(process.argv[2] || '{}');
const wsBase = opts.server.replace(/^http/, 'ws');
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** Subscribers open per channel index (a closed one no longer counts as expected). */
const openOn = new Int32Array(opts.channels);
const clients = [];
let closedUnexpectedly = 0;
let closeCodes = {};

/** The current phase's bookkeeping; messages of other phases are ignored. */
let phase = null;

function newPhase(letter) {
  phase = {
    letter,
    seq: 0,
    expected: new Int32Array(1 << 16),
    got: new Int32Array(1 << 16),
    sentAt: new Float64Array(1 << 16), // ns since an origin, as a double
    recordFrom: Infinity, // seqs at or after it, and before recordTo, are sampled (latency)
    recordTo: Infinity,
    received: 0,
    completed: 0,
    samples: new Samples(),
    onComplete: null,
  };
  return phase;
}

const ORIGIN = now();
const nsSinceOrigin = () => Number(now() - ORIGIN);

function grow(p, seq) {
  if (seq < p.expected.length) return;
  let size = p.expected.length;
  while (size <= seq) size *= 2;
  for (const key of ['expected', 'got', 'sentAt']) {
    const bigger = new p[key].constructor(size);
    bigger.set(p[key]);
    p[key] = bigger;
  }
}

/** A message arrived at a subscriber. */
function onMessage(data) {
  const p = phase;
  if (!p || data[0] !== p.letter.charCodeAt(0)) return;
  let seq = 0; // the digits after `<phase>:`, read without making a string
  let i = 2;
  for (let c = data[i]; c >= 48 && c <= 57; c = data[++i]) seq = seq * 10 + (c - 48);
  if (i === 2 || seq >= p.got.length) return;
  p.received++;
  if (seq >= p.recordFrom && seq < p.recordTo) p.samples.push((nsSinceOrigin() - p.sentAt[seq]) / 1e6);
  if (++p.got[seq] === p.expected[seq]) {
    p.completed++;
    if (p.onComplete) p.onComplete();
  }
}

/**
 * Reads a subscriber's frames itself instead of through ws's Receiver (a Writable stream and
 * an event per message, which made this process the bottleneck): server frames are unmasked;
 * text and binary frames go to `onFrame`, others (ping, close) are left alone — the servers
 * here send no pings, and a close ends the TCP connection, which ws still sees.
 */
function rawFrames(onFrame) {
  let rest = null;
  return (data) => {
    let chunk = rest ? Buffer.concat([rest, data]) : data;
    rest = null;
    let off = 0;
    while (chunk.length - off >= 2) {
      let len = chunk[off + 1] & 0x7f;
      let head = 2;
      if (len === 126) {
        if (chunk.length - off < 4) break;
        len = chunk.readUInt16BE(off + 2);
        head = 4;
      } else if (len === 127) {
        if (chunk.length - off < 10) break;
        len = Number(chunk.readBigUInt64BE(off + 2));
        head = 10;
      }
      if (chunk.length - off < head + len) break;
      const opcode = chunk[off] & 0x0f;
      if (opcode === 1 || opcode === 2) onFrame(chunk.subarray(off + head, off + head + len));
      off += head + len;
    }
    if (off < chunk.length) rest = chunk.subarray(off);
  };
}

/** Hands the subscriber's incoming frames to `onFrame`, by ws or by `rawFrames`. */
function listen(ws, onFrame) {
  if (opts.wsReceiver) {
    ws.on('message', onFrame);
    return;
  }
  const socket = ws._socket;
  socket.removeAllListeners('data');
  socket.on('data', rawFrames(onFrame));
}

/** Opens one subscriber; resolves with it once open. */
function open(channel, localAddress) {
  return openWebSocket(`${wsBase}/sub/${channel}`, localAddress);
}

/** POSTs one message to a channel; resolves with the status (0 on a transport error). */
function post(channel, body) {
  return new Promise((resolve) => {
    const req = http.request(
      { agent, host: new URL(opts.server).hostname, port: new URL(opts.server).port, method: 'POST', path: `/pub/${channel}`, headers: { 'Content-Type': 'text/plain', 'Content-Length': body.length } },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode));
        res.once('error', () => resolve(0));
      },
    );
    req.once('error', () => resolve(0));
    req.end(body);
  });
}

/** Publishes the phase's next message (round robin over the channels). */
function publishNext(p, stats) {
  const seq = p.seq++;
  grow(p, seq);
  const ch = seq % opts.channels;
  p.expected[seq] = openOn[ch];
  const head = `${p.letter}:${seq}:`;
  const body = Buffer.alloc(Math.max(opts.size, head.length + 24), 'x');
  body.write(head, 0, 'latin1');
  p.sentAt[seq] = nsSinceOrigin();
  stats.inflight++;
  stats.published++;
  return post(`c${ch}`, body).then((status) => {
    stats.inflight--;
    if (status >= 200 && status < 300) stats.acked++;
    else {
      stats.publishErrors++;
      stats.lastStatus = status;
    }
  });
}

/** Waits until every message of the phase is complete, at most `ms`. */
async function drain(p, ms) {
  const deadline = Date.now() + ms;
  while (p.completed < p.seq && Date.now() < deadline) await sleep(20);
}

/** Messages still missing somewhere, summed over subscribers, after the drain. */
function missing(p) {
  let lost = 0;
  let incomplete = 0;
  for (let s = 0; s < p.seq; s++) {
    const d = p.expected[s] - p.got[s];
    if (d > 0) {
      lost += d;
      incomplete++;
    }
  }
  return { lost, incomplete };
}

const cpuSince = (since) => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
};

async function throughput({ warmup, seconds, window, inflight }) {
  const p = newPhase('T');
  const stats = { published: 0, acked: 0, inflight: 0, publishErrors: 0, lastStatus: null };
  let running = true;
  let lastProgress = Date.now();
  let stalls = 0;
  const pump = () => {
    while (running && stats.inflight < inflight && p.seq - p.completed < window) {
      publishNext(p, stats).then(pump);
    }
  };
  p.onComplete = () => {
    lastProgress = Date.now();
    pump();
  };
  // A message some subscriber never gets would stall the window: after 2 s without progress,
  // its missing copies are written off (counted as lost at the end) and publishing resumes.
  const watchdog = setInterval(() => {
    if (running && Date.now() - lastProgress > 2000) {
      stalls++;
      for (let s = 0; s < p.seq; s++) if (p.got[s] < p.expected[s]) p.expected[s] = -1 - p.expected[s];
      p.completed = p.seq;
      lastProgress = Date.now();
      pump();
    }
  }, 250);
  pump();
  await sleep(warmup * 1000);
  emit({ event: 'start' });
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const c0 = p.completed;
  const r0 = p.received;
  const s0 = stats.acked;
  await sleep(seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  const completed = p.completed - c0;
  const received = p.received - r0;
  const acked = stats.acked - s0;
  const genCpu = cpuSince(cpu);
  emit({ event: 'end' });
  running = false;
  clearInterval(watchdog);
  await drain(p, 5000);
  // Written-off messages (negative expected) count as lost with what they were missing then.
  let writtenOff = 0;
  for (let s = 0; s < p.seq; s++) {
    if (p.expected[s] < 0) {
      const exp = -1 - p.expected[s];
      writtenOff += Math.max(0, exp - p.got[s]);
      p.expected[s] = p.got[s];
    }
  }
  const m = missing(p);
  emit({
    event: 'result',
    seconds: elapsed,
    messages: completed,
    deliveries: received,
    acked,
    published: p.seq,
    lost: m.lost + writtenOff,
    incomplete: m.incomplete,
    stalls,
    publishErrors: stats.publishErrors,
    lastStatus: stats.lastStatus,
    genCpu,
    closed: closedUnexpectedly,
    closeCodes,
  });
}

async function latency({ rate, warmup, seconds }) {
  const p = newPhase('L');
  const stats = { published: 0, acked: 0, inflight: 0, publishErrors: 0, lastStatus: null };
  const tickMs = 5;
  let credit = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const t = performance.now();
    credit += ((t - last) / 1000) * rate;
    last = t;
    while (credit >= 1) {
      credit--;
      void publishNext(p, stats);
    }
  }, tickMs);
  await sleep(warmup * 1000);
  p.recordFrom = p.seq;
  emit({ event: 'start' });
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const r0 = p.received;
  await sleep(seconds * 1000);
  p.recordTo = p.seq;
  const elapsed = (performance.now() - t0) / 1000;
  const genCpu = cpuSince(cpu);
  const received = p.received - r0;
  emit({ event: 'end' });
  clearInterval(ticker);
  await drain(p, 5000);
  const m = missing(p);
  const recorded = p.recordTo - p.recordFrom;
  let expected = 0;
  for (let s = p.recordFrom; s < p.recordTo; s++) expected += p.expected[s];
  emit({
    event: 'result',
    seconds: elapsed,
    rate: recorded / elapsed,
    published: recorded,
    deliveries: received,
    samples: p.samples.length,
    expected,
    p50: p.samples.percentile(50),
    p99: p.samples.percentile(99),
    p999: p.samples.percentile(99.9),
    max: p.samples.percentile(100),
    lost: m.lost,
    incomplete: m.incomplete,
    publishErrors: stats.publishErrors,
    lastStatus: stats.lastStatus,
    genCpu,
    closed: closedUnexpectedly,
    closeCodes,
  });
}

async function warm() {
  const warmers = [];
  const letter = 'W';
  newPhase(letter);
  for (let i = 0; i < 20; i++) warmers.push(await open('warm', opts.addresses[0]));
  for (const ws of warmers) ws.on('message', () => {});
  for (let i = 0; i < 20; i++) await post('warm', Buffer.from(`W:${i}:0:`));
  await sleep(200);
  for (const ws of warmers) ws.terminate();
  phase = null;
  emit({ event: 'warmed' });
}

async function connect() {
  const total = opts.channels * opts.perChannel;
  let next = 0;
  let failed = 0;
  let firstError = null;
  const t0 = performance.now();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const ch = i % opts.channels;
      try {
        const ws = await open(`c${ch}`, opts.addresses[i % opts.addresses.length]);
        openOn[ch]++;
        listen(ws, onMessage);
        ws.once('close', (code) => {
          openOn[ch]--;
          if (!closing) {
            closedUnexpectedly++;
            closeCodes[code] = (closeCodes[code] || 0) + 1;
          }
        });
        clients.push(ws);
      } catch (err) {
        failed++;
        firstError ??= err.message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, total) }, worker));
  emit({ event: 'ready', opened: clients.length, failed, firstError, seconds: (performance.now() - t0) / 1000, genRss: process.memoryUsage().rss });
}

let closing = false;

async function main() {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line);
    if (cmd.cmd === 'warm') await warm();
    else if (cmd.cmd === 'connect') await connect();
    else if (cmd.cmd === 'throughput') await throughput(cmd);
    else if (cmd.cmd === 'latency') await latency(cmd);
    else if (cmd.cmd === 'close') break;
  }
  closing = true;
  for (const ws of clients) ws.terminate();
  emit({ event: 'closed' });
}

main().then(
  () => process.exit(0),
  (err) => {
    emit({ event: 'error', message: err.stack || err.message });
    process.exit(1);
  },
);
