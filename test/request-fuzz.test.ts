/**
 * The request fuzzer: several hundred generated inputs (test/helpers/request-fuzz.ts, a fixed
 * seed) sent as raw bytes to the real `bin/gateway` process, which has a location of each kind
 * (static files, `return`, a proxy to a real backend, a WebSocket script). Whatever comes in,
 * the gateway answers with HTTP/1.1 or closes, never with a 500 or a stack trace, and logs no
 * JavaScript error; after all of them it is still up, serves a well-formed request, and its
 * descriptors are back to where they were. A failure prints the seed and the inputs at fault
 * (`FUZZ_SEED=n` runs another seed).
 */
import http from 'node:http';
import net from 'node:net';
import WebSocket from 'ws';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, request } from './helpers/proxy-peers';
import { eventually, fdCount } from './helpers/raw-socket';
import { fuzzInputs, type FuzzInput } from './helpers/request-fuzz';

/** Seed 2: its inputs made the gateway before these fixes throw (a pipelined upgrade) and leak descriptors (a body cut short). */
const SEED = Number(process.env.FUZZ_SEED ?? 2);
const COUNT = 800;
const CONCURRENCY = 16;
/** How long an input's connection is given before the client lets go of it. */
const WAIT_MS = 300;
/** What the gateway must never log: a JavaScript error, or a level above error. */
const FORBIDDEN_LOG = /TypeError|RangeError|ReferenceError|SyntaxError|unexpected error|Uncaught|ERR_[A-Z_]+|\[alert\]|\[crit\]|\[emerg\]/;

/** What an input was answered with. */
interface Outcome {
  readonly input: FuzzInput;
  readonly received: string;
}

/** Sends one input on its own connection and collects what comes back until the close, or WAIT_MS. */
function send(port: number, input: FuzzInput): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ input, received });
    };
    const timer = setTimeout(done, WAIT_MS);
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('end', done);
    socket.on('close', done);
    socket.on('connect', () => {
      socket.write(input.bytes);
      if (input.ending === 'half-close') socket.end();
      else if (input.ending === 'reset') setTimeout(() => socket.resetAndDestroy(), 10);
    });
  });
}

/** What is wrong with one answer, if anything. */
function problemOf({ received }: Outcome): string | null {
  if (received === '') return null;
  if (!received.startsWith('HTTP/1.1 ')) return `an answer that is not HTTP/1.1: ${JSON.stringify(received.slice(0, 80))}`;
  const statuses = [...received.matchAll(/(?:^|\n)HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
  if (statuses.includes('500')) return 'a 500';
  if (/\bat [^\n]+\.[jt]s:\d+/.test(received)) return 'a stack trace in the answer';
  return null;
}

const shown = (input: FuzzInput) => `#${input.index} (${input.ending}): ${JSON.stringify(input.bytes.toString('latin1').slice(0, 400))}`;

describe(`request fuzzer (seed ${SEED})`, () => {
  const backend = http.createServer((req, res) => {
    res.on('error', () => {});
    req.on('error', () => {});
    req.resume();
    req.on('end', () => res.end(`backend ${req.method} ${req.url}\n`));
  });
  let gw: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    await listen(backend);
    gw = await startGateway(
      `master_process: "off"\nerror_log: stderr info\npid: "off"\nhttp:\n  access_log: "off"\n  client_header_timeout: 2s\n  client_body_timeout: 2s\n  lingering_timeout: 1s\n` +
        `  servers:\n    - listen: 127.0.0.1:0\n      root: www\n      locations:\n` +
        `        - { location: /ret, return: '200 "ret $uri $args\\n"' }\n` +
        `        - { location: /static/, root: www }\n` +
        `        - { location: /proxy/, proxy_pass: "http://127.0.0.1:${portOf(backend)}/", proxy_read_timeout: 2s }\n` +
        `        - { location: /ws, handler: websocket-script, script: echo, timeout: 1000 }\n`,
      { files: { 'www/index.html': 'index\n', 'www/static/file.txt': 'file\n', 'www/static/index.html': 'static index\n' } },
    );
    port = gw.ports[0];
  });
  afterAll(async () => {
    await gw.stop();
    await closeServer(backend);
  });

  test(`${COUNT} inputs: always HTTP/1.1 or a close, never a 500 or a JavaScript error; then serving, descriptors back`, async () => {
    // Warm up every kind of location, so that what opens once for good is open before the count.
    expect((await request(port, '/ret')).status).toBe(200);
    expect((await request(port, '/static/file.txt')).status).toBe(200);
    expect((await request(port, '/proxy/warm')).status).toBe(200);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.close();
    await new Promise((resolve) => ws.once('close', resolve));
    await eventually(() => false, 200);
    const baseline = fdCount(gw.child.pid!);

    const inputs = fuzzInputs(SEED, COUNT);
    const problems: string[] = [];
    // CONCURRENCY inputs in flight at all times (a new one as soon as one is let go, not in
    // batches that wait for their slowest); each input's window in the log is kept, so that a
    // line the gateway should never write is laid at the inputs in flight when it came.
    const logFrom = gw.stderr().length;
    const windows: { input: FuzzInput; from: number; to: number }[] = [];
    const inFlight = new Set<FuzzInput>();
    let next = 0;
    let died: string | null = null;
    const sender = async () => {
      while (next < inputs.length && problems.length <= 5 && died === null) {
        const input = inputs[next++];
        inFlight.add(input);
        const from = gw.stderr().length;
        const outcome = await send(port, input);
        windows.push({ input, from, to: gw.stderr().length });
        const problem = problemOf(outcome);
        if (problem) problems.push(`${problem} for ${shown(outcome.input)}`);
        if (died === null && (gw.child.exitCode !== null || gw.child.signalCode !== null)) {
          died = `the gateway died during inputs ${[...inFlight].map((i) => i.index).join(', ')} (seed ${SEED}):\n${gw.stderr().slice(-3000)}\n${[...inFlight].map(shown).join('\n')}`;
        }
        inFlight.delete(input);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, sender));
    if (died !== null) throw new Error(died);
    if (problems.length <= 5) expect(windows).toHaveLength(COUNT);
    const log = gw.stderr();
    for (const match of log.slice(logFrom).matchAll(new RegExp(FORBIDDEN_LOG, 'g'))) {
      const at = logFrom + match.index!;
      // The inputs whose connection was open when it was logged; else the last ones let go before it.
      let culprits = windows.filter((w) => w.from <= at && at <= w.to);
      if (culprits.length === 0) culprits = windows.filter((w) => w.to <= at).slice(-CONCURRENCY);
      problems.push(`the gateway logged ${JSON.stringify(match[0])} during inputs ${culprits.map((w) => w.input.index).join(', ')}:\n${log.slice(Math.max(logFrom, at - 1500), at + 1500)}\n${culprits.map((w) => shown(w.input)).join('\n')}`);
      if (problems.length > 5) break;
    }
    if (problems.length) throw new Error(`seed ${SEED}:\n${problems.join('\n')}`);

    expect((await request(port, '/ret?after')).body).toBe('ret /ret after\n');
    expect((await request(port, '/proxy/after')).body).toBe('backend GET /after\n');
    const settled = await eventually(() => fdCount(gw.child.pid!) <= baseline, 8000);
    if (!settled) throw new Error(`descriptors: ${fdCount(gw.child.pid!)} open, ${baseline} before the inputs (seed ${SEED})`);
  });
});
