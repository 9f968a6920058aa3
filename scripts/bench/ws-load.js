'use strict';
/**
 * The WebSocket load generator, a process of its own (`node ws-load.js '<json>'`), pinned by
 * the runner to the generator's core. It speaks JSON lines on stdout.
 *
 * Mode `echo` ({ url, connections, size, warmup, seconds }): opens the connections, then each
 * one runs a closed loop (send a text message of `size` bytes, wait for its echo, send again)
 * for `warmup` seconds unrecorded and `seconds` recorded. It prints `{"event":"start"}` and
 * `{"event":"end"}` around the recorded window (the runner reads the server's CPU at those two
 * lines), then `{"event":"result", messages, seconds, p50, p99, genCpu, errors}`: messages
 * echoed in the window, round-trip percentiles in ms, and its own CPU seconds in the window.
 *
 * With `protocol: 'socket.io'` the echo speaks Socket.IO over its WebSocket transport
 * (engine.io v4 framing): it joins the main namespace (`40`) as soon as the connection is
 * open (the server's open packet, `0{...}`, is not waited for), then each message is an event
 * `42["m","xxx..."]` with `size` characters of payload; the server's pings (`2`) are answered
 * (`3`) and not counted.
 *
 * Mode `idle` ({ url, connections, concurrency, addresses }): opens that many connections
 * (at most `concurrency` handshakes at a time, spread over `addresses` source addresses so one
 * address's ephemeral ports do not run out), prints `{"event":"ready", opened, failed}`, and
 * holds them, taking commands on stdin: `echo` (each connection sends one message and waits for
 * it back: `{"event":"echoed", ok, failed}`) and `close` (drops them all and exits). `rate`
 * (connections per second) and `deadline` (seconds) keep the opening steady and bounded.
 *
 * The client is lean so that it is not the bottleneck: no permessage-deflate, no UTF-8 check of
 * the echoes, and an all-zero masking key (allowed by RFC 6455 to a non-browser client; ws then
 * skips the XOR). Servers still unmask as usual.
 */
const { WebSocket, openWebSocket } = require('./ws-client');

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

/** One echo connection from `localAddress` (messages up to 16 MiB). */
function open(url, localAddress) {
  return openWebSocket(url, localAddress, { maxPayload: 1 << 24 });
}

/** A growable array of doubles (round-trip times in ms). */
class Samples {
  constructor() {
    this.data = new Float64Array(1 << 16);
    this.length = 0;
  }
  push(v) {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
  /** The p-th percentile (0..100), nearest rank. */
  percentile(p) {
    if (this.length === 0) return NaN;
    const sorted = this.data.subarray(0, this.length).sort();
    const rank = Math.min(this.length - 1, Math.max(0, Math.ceil((p / 100) * this.length) - 1));
    return sorted[rank];
  }
}

/** CPU seconds of this process since `since` (a process.cpuUsage() value). */
const cpuSince = (since) => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
};

/** A Socket.IO connection (engine.io v4 over WebSocket), once the main namespace is joined. */
async function openSocketIo(url) {
  const ws = await open(url);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no Socket.IO handshake within 10 s')), 10000);
    const onMessage = (data) => {
      const text = data.toString();
      if (text.startsWith('40')) {
        clearTimeout(timer);
        ws.off('message', onMessage);
        resolve();
      } else if (text.startsWith('44')) reject(new Error(`Socket.IO refused the namespace: ${text}`));
    };
    ws.on('message', onMessage);
    // The open packet (`0{...}`) may come in the same read as the handshake's answer, before
    // this listener exists: the namespace is joined at once, which the server accepts.
    ws.send('40');
  });
  return ws;
}

const PING = 0x32; // '2': an engine.io ping
const PONG = Buffer.from('3');

async function echo({ url, connections, size, warmup, seconds, protocol }) {
  const socketIo = protocol === 'socket.io';
  const payload = socketIo ? Buffer.from(`42["m","${'x'.repeat(size)}"]`) : Buffer.alloc(size, 'x');
  const clients = await Promise.all(Array.from({ length: connections }, () => (socketIo ? openSocketIo(url) : open(url))));
  const samples = new Samples();
  let recording = false;
  let running = true;
  let messages = 0;
  let errors = 0;
  for (const ws of clients) {
    let sentAt = 0;
    const send = () => {
      sentAt = performance.now();
      ws.send(payload, { binary: false, compress: false, fin: true });
    };
    ws.on('message', (data) => {
      if (socketIo && data.length === 1 && data[0] === PING) {
        ws.send(PONG, { binary: false });
        return;
      }
      if (recording) {
        samples.push(performance.now() - sentAt);
        messages++;
      }
      if (running) send();
    });
    ws.on('close', () => running && errors++);
    ws.on('error', () => errors++);
    send();
  }
  await sleep(warmup * 1000);
  emit({ event: 'start' });
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  recording = true;
  await sleep(seconds * 1000);
  recording = false;
  const elapsed = (performance.now() - t0) / 1000;
  const genCpu = cpuSince(cpu);
  emit({ event: 'end' });
  running = false;
  const result = { event: 'result', messages, seconds: elapsed, p50: samples.percentile(50), p99: samples.percentile(99), genCpu, errors };
  await Promise.all(clients.map((ws) => closeClient(ws)));
  emit(result);
}

/** Closes cleanly (the server's script sends its close), or drops after a second. */
function closeClient(ws) {
  return new Promise((resolve) => {
    if (ws.readyState !== WebSocket.OPEN) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      ws.terminate();
      resolve();
    }, 1000);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.close(1000);
  });
}

async function idle({ url, connections, concurrency, addresses, rate = 0, deadline = 0 }) {
  const clients = [];
  let failed = 0;
  let firstError = null;
  let next = 0;
  const t0 = performance.now();
  // `rate` (connections per second, 0: as fast as `concurrency` allows) and `deadline` (seconds,
  // 0: none) keep the open phase steady and bounded: connection i starts at t0 + i / rate.
  const worker = async () => {
    while (next < connections) {
      const i = next++;
      if (rate > 0) {
        const wait = t0 + (i * 1000) / rate - performance.now();
        if (wait > 0) await sleep(wait);
      }
      if (deadline > 0 && performance.now() - t0 > deadline * 1000) {
        failed++;
        firstError ??= `deadline of ${deadline} s passed`;
        continue;
      }
      try {
        const ws = await open(url, addresses[i % addresses.length]);
        ws.on('close', () => {});
        clients.push(ws);
      } catch (err) {
        failed++;
        firstError ??= err.message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, connections) }, worker));
  emit({ event: 'ready', opened: clients.length, failed, firstError, seconds: (performance.now() - t0) / 1000, genRss: process.memoryUsage().rss });
  // Commands, one a line on stdin: `echo` (every connection sends one message and waits for it
  // back; prints `{"event":"echoed", ok, failed}`), `close` (drops them all and exits).
  await new Promise((resolve) => {
    let buffered = '';
    let busy = Promise.resolve();
    const run = (command) => {
      if (command === 'close') resolve();
      else if (command === 'echo') busy = busy.then(() => echoAll(clients)).then((result) => emit({ event: 'echoed', ...result }));
    };
    process.stdin.on('data', (d) => {
      buffered += d;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const command = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        run(command);
      }
    });
    process.stdin.on('end', resolve);
  });
  for (const ws of clients) ws.terminate();
  emit({ event: 'closed' });
}

/**
 * Every open connection sends one short text message and waits for the same text back, within
 * `timeoutMs`. `ok`: echoed as sent; `failed`: closed, timed out or echoed something else.
 */
async function echoAll(clients, timeoutMs = 60000) {
  const t0 = performance.now();
  let ok = 0;
  let failed = 0;
  let firstError = null;
  const one = (ws, i) =>
    new Promise((resolve) => {
      const text = `echo ${i} ${Date.now()}`;
      const settle = (good, why) => {
        clearTimeout(timer);
        ws.off('message', onMessage);
        ws.off('close', onClose);
        if (good) ok++;
        else {
          failed++;
          firstError ??= why;
        }
        resolve();
      };
      const onMessage = (data) => settle(String(data) === text, `echoed "${String(data).slice(0, 40)}" for "${text}"`);
      const onClose = (code) => settle(false, `closed (${code}) before the echo`);
      const timer = setTimeout(() => settle(false, `no echo within ${timeoutMs} ms`), timeoutMs);
      if (ws.readyState !== WebSocket.OPEN) {
        settle(false, `not open (readyState ${ws.readyState})`);
        return;
      }
      ws.on('message', onMessage);
      ws.on('close', onClose);
      ws.send(text, { binary: false, compress: false, fin: true });
    });
  await Promise.all(clients.map(one));
  return { ok, failed, firstError, seconds: (performance.now() - t0) / 1000 };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

if (require.main === module) {
  const options = JSON.parse(process.argv[2] || '{}');
  const job = options.mode === 'idle' ? idle(options) : echo(options);
  job.then(
    () => process.exit(0),
    (err) => {
      emit({ event: 'error', message: err.message });
      process.exit(1);
    },
  );
}

module.exports = { Samples };
