'use strict';
/**
 * Bad clients, a process of its own (`node bad-input.js '<json>'`), pinned by the runner to the
 * generator's core while a server holds its load. Four kinds run at once, `count` of each:
 *
 * - `slowReader`: asks for a large static file (`bigPath`) and reads nothing for `holdS`
 *   seconds; then reads what is left. The server should give up after its `send_timeout`:
 *   `cut` counts the responses that ended short of their length.
 * - `silent`: opens a TCP connection and never sends; `closedAfter` is when the server closed
 *   it (its `client_header_timeout`), null if it had not by the end.
 * - `pingFlood`: a WebSocket that writes ping frames as fast as the socket takes them for
 *   `floodS` seconds and reads nothing; then reads the pongs. The server must push back (stop
 *   reading) rather than queue pongs without bound: `pings` written, `pongs` read after.
 * - `byteSender`: a WebSocket that sends one text message one byte every `byteGapMs`; `echoed`
 *   counts the messages that came back whole.
 *
 * `kinds` (all four by default) picks some of them. Beside them, one client downloads the large
 * file reading as fast as it can, a second in: `downloadS`, the seconds it took (the rest unaffected?).
 *
 * Prints one line `{"event":"result", ...}` with a summary per kind, and exits. Every socket
 * it opened is destroyed before it exits.
 */
const net = require('node:net');
const crypto = require('node:crypto');

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Connects to host:port from `localAddress`; resolves with the socket once connected. */
function connect(port, localAddress) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Resolves with the time (ms from `t0`) at which `socket` closes, or null after `limitMs`. */
function closedWithin(socket, t0, limitMs) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), limitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(performance.now() - t0);
    });
  });
}

/** A client's frame: FIN, `opcode`, masked with a random key, `payload` (< 126 bytes). */
function clientFrame(opcode, payload) {
  const mask = crypto.randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= mask[i & 3];
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | masked.length]), mask, masked]);
}

/** Opens a WebSocket by hand (socket, handshake); resolves with the socket and the bytes after the 101 head. */
async function openRaw(port, path, localAddress) {
  const socket = await connect(port, localAddress);
  const key = crypto.randomBytes(16).toString('base64');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const rest = await new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      if (!head.subarray(0, 12).toString('latin1').includes(' 101')) reject(new Error(`no 101: ${head.subarray(0, 40)}`));
      else resolve(head.subarray(end + 4));
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error('closed during the handshake')));
  });
  return { socket, rest };
}

/** Counts the server frames of `opcode` in `bytes` (unmasked server frames, any length form). */
function countFrames(bytes, opcode) {
  let n = 0;
  let i = 0;
  while (i + 2 <= bytes.length) {
    let len = bytes[i + 1] & 0x7f;
    let at = i + 2;
    if (len === 126) {
      if (at + 2 > bytes.length) break;
      len = bytes.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      if (at + 8 > bytes.length) break;
      len = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    if (at + len > bytes.length) break;
    if ((bytes[i] & 0x0f) === opcode) n++;
    i = at + len;
  }
  return n;
}

/** Reads everything left on `socket` (resumed) until it closes or `limitMs` passes. */
function drain(socket, limitMs) {
  return new Promise((resolve) => {
    const chunks = [];
    let total = 0;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: total, data: Buffer.concat(chunks) });
    };
    const timer = setTimeout(finish, limitMs);
    socket.on('data', (d) => {
      total += d.length;
      if (chunks.length < 4096) chunks.push(d);
    });
    socket.once('close', finish);
    socket.resume();
  });
}

async function slowReader({ port, bigPath, bigSize, holdS, localAddress }) {
  const socket = await connect(port, localAddress);
  socket.pause();
  socket.write(`GET ${bigPath} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  await sleep(holdS * 1000);
  const { bytes } = await drain(socket, 5000);
  return { bytes, cut: bytes < bigSize };
}

async function silent({ port, limitS, localAddress }) {
  const socket = await connect(port, localAddress);
  const closedAfter = await closedWithin(socket, performance.now(), limitS * 1000);
  socket.destroy();
  return { closedAfter };
}

async function pingFlood({ port, wsPath, floodS, localAddress }) {
  const { socket } = await openRaw(port, wsPath, localAddress);
  const ping = clientFrame(0x9, Buffer.from('flood'));
  const until = performance.now() + floodS * 1000;
  let pings = 0;
  let closed = false;
  let error = null;
  socket.once('close', () => (closed = true));
  socket.once('error', (err) => (error ??= err.message));
  while (!closed && performance.now() < until) {
    if (socket.write(ping)) {
      pings++;
      if (pings % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    pings++;
    // The server stopped reading: wait for room, at most until the flood's end.
    await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), sleep(Math.max(0, until - performance.now()))]);
  }
  const writeBlocked = socket.writableLength;
  const closedEarly = closed;
  socket.write(clientFrame(0x8, Buffer.from([0x03, 0xe8])));
  const { data } = await drain(socket, 5000);
  return { pings, pongs: countFrames(data, 0xa), unsentAtEnd: writeBlocked, closedEarly, closeError: error };
}

async function byteSender({ port, wsPath, byteGapMs, localAddress }) {
  const { socket, rest } = await openRaw(port, wsPath, localAddress);
  const text = `one byte at a time ${crypto.randomBytes(8).toString('hex')}`;
  const frame = clientFrame(0x1, Buffer.from(text));
  let received = rest;
  socket.on('data', (d) => (received = Buffer.concat([received, d])));
  socket.resume();
  for (let i = 0; i < frame.length && !socket.destroyed; i++) {
    socket.write(frame.subarray(i, i + 1));
    await sleep(byteGapMs);
  }
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline && !received.includes(text)) await sleep(20);
  const echoed = received.includes(text);
  socket.destroy();
  return { echoed };
}

/** Downloads the large file as fast as it comes, `afterS` into the bad input: seconds it took (null: not whole in 60 s). */
async function download({ port, bigPath, bigSize, localAddress, afterS }) {
  await sleep(afterS * 1000);
  const socket = await connect(port, localAddress);
  const t0 = performance.now();
  socket.write(`GET ${bigPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  const { bytes } = await drain(socket, 60000);
  return bytes > bigSize ? (performance.now() - t0) / 1000 : null;
}

/** Runs `count` of `kind` at once; resolves with their results (a failure to connect counts as { error }). */
function many(kind, count, options) {
  return Promise.all(Array.from({ length: count }, () => kind(options).catch((err) => ({ error: err.message }))));
}

async function main(options) {
  const { count = 20, holdS = 10, kinds = ['slowReader', 'silent', 'pingFlood', 'byteSender'] } = options;
  const t0 = performance.now();
  const some = (name, kind, opts) => (kinds.includes(name) ? many(kind, count, opts) : Promise.resolve([]));
  const [downloadS, slow, quiet, floods, drips] = await Promise.all([
    download({ ...options, afterS: 1 }).catch(() => null),
    some('slowReader', slowReader, { ...options, holdS }),
    some('silent', silent, { ...options, limitS: options.silentS ?? holdS + 5 }),
    some('pingFlood', pingFlood, options),
    some('byteSender', byteSender, options),
  ]);
  const errors = [...slow, ...quiet, ...floods, ...drips].filter((r) => r.error).map((r) => r.error);
  const closeTimes = quiet.filter((r) => !r.error && r.closedAfter !== null).map((r) => r.closedAfter / 1000);
  emit({
    event: 'result',
    seconds: (performance.now() - t0) / 1000,
    slowReaders: { count, cut: slow.filter((r) => r.cut).length, maxBytes: Math.max(0, ...slow.map((r) => r.bytes ?? 0)) },
    silent: { count, closed: closeTimes.length, minS: Math.min(...closeTimes), maxS: Math.max(...closeTimes) },
    pingFloods: {
      count,
      pings: floods.reduce((s, r) => s + (r.pings ?? 0), 0),
      pongs: floods.reduce((s, r) => s + (r.pongs ?? 0), 0),
      pushedBack: floods.filter((r) => r.unsentAtEnd > 0).length,
      closedEarly: floods.filter((r) => r.closedEarly).length,
      closeErrors: [...new Set(floods.map((r) => r.closeError).filter(Boolean))],
    },
    byteSenders: { count, echoed: drips.filter((r) => r.echoed).length },
    downloadS,
    errors: errors.length,
    firstError: errors[0] ?? null,
  });
}

if (require.main === module) {
  main(JSON.parse(process.argv[2] || '{}')).then(
    () => process.exit(0),
    (err) => {
      emit({ event: 'error', message: err.message });
      process.exit(1);
    },
  );
}
