/**
 * Shared dictionaries, timers and init_worker_by with the gateway as a process and two workers:
 * a value set in one worker is read in the other, incr from both adds up exactly, a reload keeps
 * the values, a worker killed while it holds a dict's lock does not wedge the others, expiry,
 * eviction; timers (every, at with arguments, a throwing callback logged, premature on reload);
 * init_worker_by in every worker with its id, again after a reload.
 */
import http from 'node:http';
import path from 'node:path';
import { ROOT, runCli, makePrefix, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(probe: () => T | Promise<T>, ok: (v: T) => boolean, what: string, ms = 8000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(v)})`);
    await sleep(25);
  }
}

/** One keep-alive connection: its requests go to one worker. */
class Connection {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  constructor(private readonly port: number) {}
  get(p: string): Promise<string> {
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: this.port, path: p, agent: this.agent }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
  }
  async json(p: string): Promise<any> {
    return JSON.parse(await this.get(p));
  }
  close(): void {
    this.agent.destroy();
  }
}

/** Keep-alive connections until both workers have one. */
async function connectionsOnEachWorker(port: number): Promise<{ conns: Connection[]; pids: number[] }> {
  const byPid = new Map<number, Connection>();
  for (let round = 0; round < 20 && byPid.size < 2; round++) {
    const batch = Array.from({ length: 10 }, () => new Connection(port));
    const pids = await Promise.all(batch.map(async (c) => Number(await c.get('/pid'))));
    batch.forEach((c, i) => {
      if (byPid.has(pids[i])) c.close();
      else byPid.set(pids[i], c);
    });
  }
  if (byPid.size < 2) throw new Error('the connections all went to one worker');
  return { conns: [...byPid.values()], pids: [...byPid.keys()] };
}

const NATIVE = path.join(ROOT, 'dist/shared/native.js');

/** A content handler that drives a dict through its query string. */
const DICT_HANDLER = `
const { mapShared } = require(${JSON.stringify(NATIVE)});
module.exports = {
  configure(raw, cx) { return {}; },
  create(options, env) {
    return {
      http(req, res, ctx) {
        const q = new URLSearchParams(ctx.args);
        const d = env.shared(q.get('dict') || 'd');
        const k = q.get('k');
        let out;
        switch (ctx.uri) {
          case '/pid': out = process.pid; break;
          case '/set': out = d.set(k, q.get('v'), Number(q.get('ttl') || 0)); break;
          case '/get': out = d.get(k); break;
          case '/missing-dict': out = env.shared('nope'); break;
          case '/incr': {
            for (let i = 0, n = Number(q.get('times') || 1); i < n; i++) out = d.incr(k, 1, 0);
            break;
          }
          case '/fill': {
            let forcible = 0;
            const n = Number(q.get('n'));
            for (let i = 0; i < n; i++) if (d.set('key' + i, 'x'.repeat(100)).forcible) forcible++;
            out = { forcible, first: d.get('key0'), last: d.get('key' + (n - 1)), capacity: d.capacity(), free: d.freeSpace(), keys: d.getKeys(0).length };
            break;
          }
          case '/die-holding-lock': {
            // What a worker killed inside a dict call leaves: the lock held (and, with dirty=1, a write half done).
            const inherited = JSON.parse(process.env.GATEWAY_SHARED_DICTS);
            const at = inherited.findIndex((e) => e.startsWith('d:'));
            const [, size] = inherited[at].split(':');
            const m = mapShared(4 + at, Number(size));
            m.lock();
            if (q.get('dirty')) new Int32Array(m.memory)[23] = 1;
            process.kill(process.pid, 'SIGKILL');
            return;
          }
          default: out = 'unknown';
        }
        res.end(JSON.stringify(out));
      },
    };
  },
};
`;

/** An init_worker_by script: counts its runs, a repeating timer, a timer with arguments, one that throws, one that only fires early. */
const INIT_SCRIPT = `
module.exports = {
  configure(options) {
    if (typeof options.every !== 'number') throw new Error('"every" must be a number');
    return options;
  },
  init(w, options) {
    const d = w.shared.get('d');
    d.incr('init_runs', 1, 0);
    d.set('worker:' + w.worker.id, w.worker.pid + '/' + w.worker.count);
    w.timers.every(options.every, (premature) => { d.incr(premature ? 'every_premature' : 'ticks', 1, 0); });
    w.timers.at(0.05, (premature, a, b) => { d.set('at:' + w.worker.id, premature + ' ' + a + ' ' + b); }, 'x', 'y');
    w.timers.at(3600, (premature) => { if (premature) d.incr('at_premature', 1, 0); });
    w.timers.at(0.01, async () => { throw new Error('boom in a timer'); });
  },
};
`;

const SITE = `
worker_processes: 2
error_log: stderr info
pid: off
http:
  access_log: "off"
  shared_dict: { d: 1m, small: 8k }
  init_worker_by: { script: init, options: { every: 0.05 } }
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - { location: /, handler: dict }
`;

describe('shared dictionaries between two workers', () => {
  let gw: GatewayProcess;
  let conns: Connection[];
  let pids: number[];
  beforeAll(async () => {
    gw = await startGateway(SITE, { files: { 'handlers/dict.js': DICT_HANDLER, 'handlers/init.js': INIT_SCRIPT } });
    await until(() => gw.stderr(), (s) => /master process \d+ started with 2 worker processes/.test(s), 'both workers');
    ({ conns, pids } = await connectionsOnEachWorker(gw.ports[0]));
  }, 30000);
  afterAll(async () => {
    for (const c of conns ?? []) c.close();
    await gw?.stop();
  });

  test('a value set in one worker is read in the other; an unknown dict is null', async () => {
    expect(pids[0]).not.toBe(pids[1]);
    expect(await conns[0].json('/set?k=greeting&v=hello')).toEqual({ ok: true, err: null, forcible: false });
    expect(await conns[1].json('/get?k=greeting')).toBe('hello');
    expect(await conns[1].json('/missing-dict')).toBeNull();
  });

  test('incr from both workers at once adds up exactly', async () => {
    const rounds = await Promise.all([0, 1, 0, 1, 0, 1].map((i) => conns[i].json('/incr?k=hits&times=50000')));
    expect(Math.max(...rounds.map((r) => r.value))).toBe(300000);
    expect(await conns[0].json('/get?k=hits')).toBe(300000);
  });

  test('a key expires for every worker', async () => {
    await conns[0].json('/set?k=short&v=soon&ttl=0.3');
    expect(await conns[1].json('/get?k=short')).toBe('soon');
    await sleep(400);
    expect(await conns[1].json('/get?k=short')).toBeNull();
    expect(await conns[0].json('/get?k=short')).toBeNull();
  });

  test('a full dict evicts the least recently used, never growing past its size', async () => {
    const r = await conns[0].json('/fill?dict=small&n=200');
    expect(r.forcible).toBeGreaterThan(100);
    expect(r.first).toBeNull();
    expect(r.last).toBe('x'.repeat(100));
    expect(r.capacity).toBe(8192);
    expect(r.keys).toBeLessThan(60);
    expect((await conns[1].json('/fill?dict=small&n=0')).keys).toBe(r.keys);
  });

  test('init_worker_by ran in each worker with its id; timers fire, with their arguments; a throwing callback is logged', async () => {
    expect(await conns[0].json('/get?k=init_runs')).toBe(2);
    const workers = [await conns[0].json('/get?k=worker:0'), await conns[0].json('/get?k=worker:1')];
    expect(workers.map((w: string) => Number(w.split('/')[0])).sort()).toEqual([...pids].sort());
    expect(workers.every((w: string) => w.endsWith('/2'))).toBe(true);
    expect(await conns[1].json('/get?k=at:0')).toBe('false x y');
    expect(await conns[1].json('/get?k=at:1')).toBe('false x y');
    const ticks = await conns[0].json('/get?k=ticks');
    await until(() => conns[1].json('/get?k=ticks'), (t) => t >= ticks + 4, 'timer.every ticks');
    expect(gw.stderr()).toMatch(/\[error\] .*timer of "init" failed: boom in a timer \(at .*init\.js:\d+:\d+\)/);
  });

  test('a reload keeps the values; pending timers run once with premature = true; init_worker_by runs in the new workers', async () => {
    await conns[0].json('/set?k=kept&v=across-reloads');
    const before = await conns[0].json('/get?k=hits');
    for (const c of conns) c.close();
    gw.child.kill('SIGHUP');
    await until(() => gw.stderr(), (s) => /new worker processes ready, 2 old ones shutting down/.test(s), 'the reload');
    await until(() => request(gw.ports[0], '/get?k=at_premature').then((r) => r.body.toString()), (b) => b === '2', 'the old workers premature timers');
    ({ conns, pids } = await connectionsOnEachWorker(gw.ports[0]));
    expect(await conns[1].json('/get?k=kept')).toBe('across-reloads');
    expect(await conns[0].json('/get?k=hits')).toBe(before);
    expect(await conns[0].json('/get?k=every_premature')).toBe(2);
    expect(await conns[0].json('/get?k=init_runs')).toBe(4);
  }, 30000);

  test('a worker killed holding the lock wedges nobody: a clean table is kept, a half-written one is emptied with an alert', async () => {
    await conns[0].json('/set?k=survivor&v=yes');
    await expect(conns[0].get('/die-holding-lock')).rejects.toThrow();
    expect(await conns[1].json('/get?k=survivor')).toBe('yes');
    // The replacement listens before the other worker goes (with both gone, the master would close the shared socket).
    const started = (s: string) => s.match(/worker process \d+ started/g)?.length ?? 0;
    const before = started(gw.stderr());
    await until(() => started(gw.stderr()), (n) => n > before, 'the replacement');
    await expect(conns[1].get('/die-holding-lock?dirty=1')).rejects.toThrow();
    const fresh = await until(() => request(gw.ports[0], '/get?k=survivor').catch(() => null), (r) => r !== null && r.status === 200, 'a worker');
    expect(fresh!.body.toString()).toBe('null');
    expect(gw.stderr()).toMatch(/\[alert\] .*a process died holding the lock of shared dict "d" while writing; the dict was emptied/);
  }, 30000);
});

describe('shared dict and init_worker_by configuration errors', () => {
  const check = async (http: string, files: Record<string, string> = {}) => {
    const prefix = makePrefix({ 'conf/t.yaml': `pid: off\nhttp:\n${http}\n  servers: [{ listen: "127.0.0.1:0" }]\n`, ...files });
    return runCli(['-t', '-p', prefix, '-c', path.join(prefix, 'conf/t.yaml')]);
  };
  test.each([
    ['  shared_dict: { d: 8191 }', /invalid lua shared dict size "8191" in .*t\.yaml:3:21/],
    ['  lua_shared_dict: "d 10m"\n  shared_dict: { d: 1m }', /the size 1048576 of shared memory zone "d" conflicts with already declared size 10485760 in .*t\.yaml:4:21/],
    ['  shared_dict: ["d 1m", "d 1m"]', /lua_shared_dict "d" is already defined as "d" in .*t\.yaml:3:25/],
    ['  shared_dict: { d: lots }', /invalid lua shared dict size "lots" in .*t\.yaml:3:21/],
    ['  init_worker_by: nothing-here', /init_worker_by script "nothing-here" not found .* in .*t\.yaml:3:19/],
    ['  init_worker_by: { script: init, options: { every: "often" } }', /init_worker_by script "init": "every" must be a number in .*t\.yaml:3:44/],
  ])('%s', async (http, message) => {
    const r = await check(http, { 'handlers/init.js': INIT_SCRIPT });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')[0]).toMatch(message);
  });
  test('a module that is not a worker script', async () => {
    const r = await check('  init_worker_by: bad', { 'handlers/bad.js': 'module.exports = { run() {} };' });
    expect(r.stderr).toMatch(/init_worker_by script ".*bad\.js" must export a default function or defineWorkerScript\(\{ init \}\) in .*t\.yaml:3:19/);
  });
  test('both forms check', async () => {
    const r = await check('  lua_shared_dict: ["a 10m", "b 8k"]\n  shared_dict: { c: 64k }\n  init_worker_by: [init2, { script: init, options: { every: 1 } }]', {
      'handlers/init.js': INIT_SCRIPT,
      'handlers/init2.js': 'module.exports = () => {};',
    });
    expect(r.stderr + r.stdout).toMatch(/test is successful/);
    expect(r.code).toBe(0);
  });
});
