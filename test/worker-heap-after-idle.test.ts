/**
 * A worker that has been idle for a while proxies large responses as it did before: V8's
 * memory reducer (which shrinks an idle heap about 8 s after the last full GC, then keeps it
 * growing slowly) must not leave the worker running a full mark-compact every few hundred
 * requests for as long as the load lasts. Measured by what V8 itself reports (`--trace-gc`,
 * which the worker inherits): the full GCs of the same number of 64 KiB proxied responses
 * before and after a quiet spell (until V8 has shrunk the heap, at most 40 s). No timing is
 * asserted.
 */
import net from 'node:net';
import { startGateway, waitForWorkers, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf } from './helpers/proxy-peers';
import { workerExecArgv } from '../src/process/worker-v8-options';

jest.setTimeout(120_000);

const BODY = Buffer.alloc(64 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789\n');
const ANSWER = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\n\r\n`, 'latin1'), BODY]);
const HEAD_END = Buffer.from('\r\n\r\n');

/** A keep-alive backend on node:net: one canned 64 KiB answer per request head. */
function cannedBackend(): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      for (let end = pending.indexOf(HEAD_END); end >= 0; end = pending.indexOf(HEAD_END)) {
        pending = pending.subarray(end + HEAD_END.length);
        socket.write(ANSWER);
      }
    });
  });
}

/** One keep-alive client connection that sends `count` GETs one after the other and reads each whole answer. */
function clientLoop(port: number, path: string, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const ask = () => socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`);
    let buffered = Buffer.alloc(0);
    let left = count;
    socket.on('connect', ask);
    socket.on('error', reject);
    socket.on('close', () => (left > 0 ? reject(new Error(`connection closed with ${left} answers to go`)) : resolve()));
    socket.on('data', (chunk) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      for (;;) {
        const end = buffered.indexOf(HEAD_END);
        if (end < 0) return;
        const head = buffered.toString('latin1', 0, end);
        if (!head.startsWith('HTTP/1.1 200')) return reject(new Error(`unexpected answer: ${head.split('\r\n')[0]}`));
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1]);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.subarray(end + 4 + length);
        if (--left === 0) return void socket.end();
        ask();
      }
    });
  });
}

/** `total` requests over `connections` keep-alive connections. */
async function load(port: number, connections: number, total: number): Promise<void> {
  await Promise.all(Array.from({ length: connections }, () => clientLoop(port, '/proxy/64k', Math.ceil(total / connections))));
}

describe('a worker after an idle period', () => {
  const backend = cannedBackend();
  let gw: GatewayProcess;
  let gcTrace = '';

  beforeAll(async () => {
    await listen(backend);
    gw = await startGateway(
      `
worker_processes: 1
error_log: stderr notice
http:
  access_log: "off"
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - location: /proxy/
          proxy_pass: http://127.0.0.1:${portOf(backend)}/
          proxy_http_version: "1.1"
          proxy_set_header: { Connection: "" }
`,
      { nodeArgs: ['--trace-gc'] },
    );
    gw.child.stdout!.on('data', (d: Buffer) => (gcTrace += d));
    await waitForWorkers(gw, 1);
  });

  afterAll(async () => {
    await gw?.stop();
    await closeServer(backend);
  });

  /** The worker's full GCs (mark-compacts) reported so far, not counting the master's. */
  const workerFullGcs = (workerPid: string) => (gcTrace.match(new RegExp(`^\\[${workerPid}:.*Mark-Compact`, 'gm')) ?? []).length;

  test('proxies 64 KiB responses with no more full GCs after a quiet spell than before', async () => {
    const workerPid = /worker process (\d+) started/.exec(gw.stderr())?.[1];
    expect(workerPid).toBeDefined();
    const requests = 4000;
    await load(gw.ports[0], 32, 1000); // warm-up: the JIT, the upstream pool
    const beforeStart = workerFullGcs(workerPid!);
    await load(gw.ports[0], 32, requests);
    const before = workerFullGcs(workerPid!) - beforeStart;
    // Quiet: at least 12 s, then until V8 has shrunk the heap (its "(reduce)" GCs, a few timer
    // ticks after the load) and 3 s more, at most 40 s (with the memory reducer off, never).
    const quietFrom = Date.now();
    const reduced = () => new RegExp(`^\\[${workerPid}:.*\\(reduce\\)`, 'm').test(gcTrace);
    while (Date.now() - quietFrom < 40_000 && !(Date.now() - quietFrom >= 12_000 && reduced())) await new Promise((r) => setTimeout(r, 250));
    if (reduced()) await new Promise((r) => setTimeout(r, 3000));
    const afterStart = workerFullGcs(workerPid!);
    await load(gw.ports[0], 32, requests);
    const after = workerFullGcs(workerPid!) - afterStart;
    // Before the fix: about 1 full GC per 150 requests after idleness (25+ here), against a few before.
    expect({ before, after, fine: after <= 2 * before + 6 }).toEqual({ before, after, fine: true });
  });
});

test('the workers get --no-memory-reducer after the master\'s own node options, unless node was given the option either way', () => {
  expect(workerExecArgv([])).toEqual(['--no-memory-reducer']);
  expect(workerExecArgv(['--trace-gc'])).toEqual(['--trace-gc', '--no-memory-reducer']);
  expect(workerExecArgv(['--memory-reducer'])).toEqual(['--memory-reducer']);
  expect(workerExecArgv(['--no_memory_reducer'])).toEqual(['--no_memory_reducer']);
  expect(workerExecArgv(['--memory-reducer-for-small-heaps'])).toEqual(['--memory-reducer-for-small-heaps', '--no-memory-reducer']);
});
