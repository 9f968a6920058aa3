/**
 * The worker's heap under a proxying load, as V8 itself reports it (`--trace-gc`,
 * `--trace-gc-nvp`, which the worker inherits). No timing is asserted.
 *
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

const HEAD_END = Buffer.from('\r\n\r\n');

/** A whole keep-alive answer with `body`. */
function answerOf(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'), body]);
}

/** A keep-alive backend on node:net: one canned answer per request head. */
function cannedBackend(answer: Buffer): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      for (let end = pending.indexOf(HEAD_END); end >= 0; end = pending.indexOf(HEAD_END)) {
        pending = pending.subarray(end + HEAD_END.length);
        socket.write(answer);
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

/** The gateway's configuration: one worker proxying /proxy/ to `backend`. */
function proxyConf(backend: net.Server, accessLog: string): string {
  return `
worker_processes: 1
error_log: stderr notice
http:
  access_log: ${accessLog}
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - location: /proxy/
          proxy_pass: http://127.0.0.1:${portOf(backend)}/
          proxy_http_version: "1.1"
          proxy_set_header: { Connection: "" }
`;
}

describe('a worker after an idle period', () => {
  const backend = cannedBackend(answerOf(Buffer.alloc(64 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789\n')));
  let gw: GatewayProcess;
  let gcTrace = '';

  beforeAll(async () => {
    await listen(backend);
    gw = await startGateway(proxyConf(backend, '"off"'), { nodeArgs: ['--trace-gc'] });
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

/**
 * A proxied request's objects die young: V8's allocation-site pretenuring had decided, from
 * the listener arrays of long-lived emitters made at start (Node's events.js makes every
 * two-listener array at one site), that such arrays live long, and made the ones added to a
 * response per request in the old generation: from there they kept the request's whole graph
 * (closures, the exchange, the request state) alive through every scavenge until the next
 * full GC. Measured on small proxied responses: about 2.3 MB promoted per scavenge (6 KB per
 * request), scavenges of 5-10 ms instead of about 1, and a full GC every second or so.
 */
describe('a worker proxying small responses', () => {
  const backend = cannedBackend(answerOf(Buffer.from('{"ok":true}\n')));
  let gw: GatewayProcess;
  let gcTrace = '';

  beforeAll(async () => {
    await listen(backend);
    gw = await startGateway(proxyConf(backend, 'logs/access.log combined'), { nodeArgs: ['--trace-gc-nvp'] });
    gw.child.stdout!.on('data', (d: Buffer) => (gcTrace += d));
    await waitForWorkers(gw, 1);
  });

  afterAll(async () => {
    await gw?.stop();
    await closeServer(backend);
  });

  /** The bytes the worker's scavenges (`gc=s`) promoted to the old generation, in `trace` (its lines only). */
  const promotedBy = (trace: string, workerPid: string) =>
    [...trace.matchAll(new RegExp(`^\\[${workerPid}:[^\\n]* gc=s [^\\n]*\\bpromoted=(\\d+)`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);

  test('promotes almost nothing of its requests to the old generation', async () => {
    const workerPid = /worker process (\d+) started/.exec(gw.stderr())?.[1];
    expect(workerPid).toBeDefined();
    await load(gw.ports[0], 32, 3000); // warm-up: the JIT, the upstream pool, V8's allocation feedback
    const from = gcTrace.length;
    const requests = 8000;
    await load(gw.ports[0], 32, requests);
    const trace = gcTrace.slice(from);
    const scavenges = (trace.match(new RegExp(`^\\[${workerPid}:[^\\n]* gc=s `, 'gm')) ?? []).length;
    const perRequest = Math.round(promotedBy(trace, workerPid!) / requests);
    // Before: ~6,000 bytes per request. What a request may leave behind: less than a kilobyte.
    expect({ scavenges: scavenges > 0, perRequest, fine: perRequest < 1024 }).toEqual({ scavenges: true, perRequest, fine: true });
  });
});

test('the workers get --no-memory-reducer and --no-allocation-site-pretenuring after the master\'s own node options, unless node was given an option either way', () => {
  const both = ['--no-memory-reducer', '--no-allocation-site-pretenuring'];
  expect(workerExecArgv([])).toEqual(both);
  expect(workerExecArgv(['--trace-gc'])).toEqual(['--trace-gc', ...both]);
  expect(workerExecArgv(['--memory-reducer'])).toEqual(['--memory-reducer', '--no-allocation-site-pretenuring']);
  expect(workerExecArgv(['--no_memory_reducer'])).toEqual(['--no_memory_reducer', '--no-allocation-site-pretenuring']);
  expect(workerExecArgv(['--allocation-site-pretenuring'])).toEqual(['--allocation-site-pretenuring', '--no-memory-reducer']);
  expect(workerExecArgv(['--memory-reducer-for-small-heaps'])).toEqual(['--memory-reducer-for-small-heaps', ...both]);
});
