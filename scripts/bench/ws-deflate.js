#!/usr/bin/env node
/**
 * permessage-deflate beside no compression on the gateway's echo (`websocket_deflate`): one
 * `ws` client per case sends the bench's text corpus (setup.js `pageText`) message by message,
 * waiting for each echo (each message a new stretch of the corpus), and counts the bytes on the wire both ways (the client socket's
 * bytesWritten + bytesRead, handshake included) and the worker's CPU per message
 * (/proc/<pid>/stat). Usage: node scripts/bench/ws-deflate.js [messages=2000]
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { pageText } = require('./setup');

const ROOT = path.resolve(__dirname, '../..');
const MESSAGES = Number(process.argv[2] ?? 2000);
const SIZES = [64, 1024, 16384];
const TICK_US = 1e6 / 100; // clock ticks of /proc/<pid>/stat (USER_HZ 100)

const CONF = `
worker_processes: 1
error_log: stderr notice
pid: off
http:
  servers:
    - listen: 127.0.0.1:0
      locations:
        - location: /on
          handler: websocket-script
          script: echo
          websocket_deflate: on
        - location: /off
          handler: websocket-script
          script: echo
`;

function start() {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-deflate-'));
  fs.writeFileSync(path.join(prefix, 'gateway.yaml'), CONF);
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/gateway'), '-p', prefix, '-c', path.join(prefix, 'gateway.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      const port = /listening on \S+ \(.*:(\d+)\)/.exec(err);
      const worker = /worker process (\d+) started/.exec(err);
      if (port && worker) resolve({ child, prefix, port: Number(port[1]), worker: Number(worker[1]) });
    });
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${err}`)));
  });
}

function cpuTicks(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function run(port, worker, where, size) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/${where}`, { perMessageDeflate: where === 'on' ? {} : false });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  // Each message a different stretch of the corpus: no message repeats one the window still holds.
  const corpus = pageText(size * (MESSAGES + 1));
  const before = cpuTicks(worker);
  for (let i = 0; i < MESSAGES; i++) {
    const echoed = new Promise((resolve) => ws.once('message', resolve));
    ws.send(corpus.slice(i * size, (i + 1) * size));
    await echoed;
  }
  const cpuUs = ((cpuTicks(worker) - before) * TICK_US) / MESSAGES;
  const socket = ws._socket;
  const bytes = socket.bytesWritten + socket.bytesRead;
  const extensions = ws.extensions;
  await new Promise((resolve) => ws.once('close', resolve).close());
  return { where, size, extensions, bytes, perMessage: bytes / MESSAGES, cpuUs };
}

async function main() {
  const gw = await start();
  try {
    const rows = [];
    for (const size of SIZES) for (const where of ['off', 'on']) rows.push(await run(gw.port, gw.worker, where, size));
    console.log(`${MESSAGES} echoes per row, pageText corpus, threshold 1024 (ws's default)`);
    console.log('size   deflate  bytes on the wire (both ways)  per echo  ratio  worker CPU per echo');
    for (const size of SIZES) {
      const [off, on] = rows.filter((r) => r.size === size);
      for (const r of [off, on]) {
        console.log(`${String(size).padEnd(6)} ${r.where.padEnd(8)} ${String(r.bytes).padStart(12)} ${r.perMessage.toFixed(0).padStart(28)} ${(r.bytes / off.bytes).toFixed(2).padStart(6)} ${r.cpuUs.toFixed(1).padStart(10)} µs`);
      }
    }
  } finally {
    gw.child.kill('SIGTERM');
    await new Promise((resolve) => gw.child.once('exit', resolve));
    fs.rmSync(gw.prefix, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
