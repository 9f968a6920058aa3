/**
 * Reload as nginx does it, proven under load: 1,000 open WebSockets and a steady HTTP loop
 * through two reloads with a changed configuration; a broken configuration keeps the old one;
 * worker_shutdown_timeout closes what still drains with 1001.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { runCli, startGateway, waitForWorkers, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

const site = (version: string, extra = '') => `
worker_processes: 2
error_log: stderr notice
pid: logs/gateway.pid
${extra}
events:
  worker_connections: 4096
http:
  access_log: "off"
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - { location: /s, handler: websocket-script, script: echo }
        - { location: /version, return: "200 ${version}" }
`;

async function until(check: () => boolean, what: string, ms = 20000): Promise<void> {
  for (const start = Date.now(); !check(); ) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;
/** A worker's own line once it stopped accepting (the master's "... shutting down gracefully" is not one). */
const OLD_WORKER_STOPPING = /worker process \d+ is shutting down gracefully/g;

async function openSockets(port: number, n: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, () => new WebSocket(`ws://127.0.0.1:${port}/s`));
    await Promise.all(batch.map((ws) => new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))));
    sockets.push(...batch);
  }
  return sockets;
}

function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data) => resolve(data.toString()));
    ws.send(text, (err) => err && reject(err));
  });
}

/** Reloads with `gateway -s reload`, then waits until the old generation stopped accepting. */
async function reload(gw: GatewayProcess, version: string): Promise<void> {
  const before = count(gw.stderr(), OLD_WORKER_STOPPING);
  writeFileSync(path.join(gw.prefix, 'conf/test.yaml'), site(version));
  const result = await runCli(['-p', gw.prefix, '-c', 'conf/test.yaml', '-s', 'reload']);
  expect(result).toMatchObject({ code: 0, stderr: '' });
  await until(() => count(gw.stderr(), OLD_WORKER_STOPPING) >= before + 2, `the reload to ${version}`);
}

test('1,000 WebSockets and an HTTP loop survive two reloads; new requests see the new configuration', async () => {
  const gw = await startGateway(site('v1'));
  const port = gw.ports[0];
  let looping = true;
  try {
    const sockets = await openSockets(port, 1000);
    let dropped = 0;
    for (const ws of sockets) ws.once('close', () => dropped++);

    const seen: string[] = [];
    const failures: string[] = [];
    const loop = (async () => {
      while (looping) {
        try {
          const r = await request(port, '/version');
          seen.push(`${r.status} ${r.body}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    })();

    for (const version of ['v2', 'v3']) {
      await reload(gw, version);
      for (let i = 0; i < 20; i++) expect((await request(port, '/version')).body.toString()).toBe(version);
      const replies = await Promise.all(sockets.map((ws, i) => echo(ws, `${version} #${i}`)));
      expect(replies.every((reply, i) => reply === `${version} #${i}`)).toBe(true);
    }
    looping = false;
    await loop;

    expect(failures).toEqual([]);
    expect(dropped).toBe(0);
    expect(new Set(seen)).toEqual(new Set(['200 v1', '200 v2', '200 v3']));
    expect(gw.stderr()).not.toMatch(/\[(crit|alert|emerg)\]/);
    for (const ws of sockets) ws.terminate();
  } finally {
    looping = false;
    await gw.stop();
  }
}, 120000);

test('a reload with a broken configuration is refused, logged, and the old one keeps serving', async () => {
  const gw = await startGateway(site('good'));
  try {
    writeFileSync(path.join(gw.prefix, 'conf/test.yaml'), `${site('bad')}\nbogus_directive: 1\n`);
    // Like `nginx -s reload`, the command itself reads the file first, and refuses.
    const refused = await runCli(['-p', gw.prefix, '-c', 'conf/test.yaml', '-s', 'reload']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^gateway: \[emerg\] unknown directive "bogus_directive" in .*test\.yaml:\d+:\d+\n$/);
    // The master, signalled directly, checks again and keeps the old configuration.
    gw.child.kill('SIGHUP');
    await until(() => gw.stderr().includes('the old configuration keeps serving'), `the refused reload in:\n${gw.stderr()}`);
    expect(gw.stderr()).toMatch(/\[error\] .*reload: unknown directive "bogus_directive" in .*test\.yaml:\d+:\d+; the old configuration keeps serving/);
    expect((await request(gw.ports[0], '/version')).body.toString()).toBe('good');
  } finally {
    await gw.stop();
  }
});

test('worker_shutdown_timeout: an old worker closes its WebSockets with 1001 once it passes', async () => {
  const gw = await startGateway(site('one', 'worker_shutdown_timeout: 500ms'));
  try {
    const [ws] = await openSockets(gw.ports[0], 1);
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    writeFileSync(path.join(gw.prefix, 'conf/test.yaml'), site('two', 'worker_shutdown_timeout: 500ms'));
    gw.child.kill('SIGHUP');
    expect(await closed).toBe(1001);
    expect((await request(gw.ports[0], '/version')).body.toString()).toBe('two');
  } finally {
    await gw.stop();
  }
});

test('a worker restarted after the file was edited (no reload yet) still serves what the master checked', async () => {
  const gw = await startGateway(site('checked').replace('worker_processes: 2', 'worker_processes: 1'));
  try {
    // The master's own line: it has the worker's "ready" (a worker killed before that fails the start).
    await waitForWorkers(gw, 1, 20000);
    const victim = Number(/worker process (\d+) started/.exec(gw.stderr())![1]);
    writeFileSync(path.join(gw.prefix, 'conf/test.yaml'), `${site('edited')}\nbogus_directive: 1\n`);
    process.kill(victim, 'SIGKILL');
    await until(() => count(gw.stderr(), /worker process \d+ started/g) >= 2, 'the replacement worker');
    // The only worker took port 0's socket with it: the replacement listens on a new port.
    const port = () => Number([...gw.stderr().matchAll(/listening on \S+ \(.*:(\d+)\)/g)].pop()![1]);
    expect((await request(port(), '/version')).body.toString()).toBe('checked');
    writeFileSync(path.join(gw.prefix, 'conf/test.yaml'), site('edited'));
    gw.child.kill('SIGHUP');
    await until(() => count(gw.stderr(), OLD_WORKER_STOPPING) >= 1, 'the reload');
    expect((await request(port(), '/version')).body.toString()).toBe('edited');
  } finally {
    await gw.stop();
  }
});

test('a reload picks up a changed handler module (new workers load it afresh)', async () => {
  const handler = (text: string) => `export default {
  configure() { return {}; },
  create() { return { http(_req: any, res: any) { res.writeHead(200, { 'Content-Type': 'text/plain' }).end('${text}'); } }; },
};
`;
  const yaml = site('x').replace('        - { location: /version', '        - { location: /mine, handler: mine }\n        - { location: /version');
  const gw = await startGateway(yaml, { files: { 'handlers/mine.ts': handler('first') } });
  try {
    expect((await request(gw.ports[0], '/mine')).body.toString()).toBe('first');
    writeFileSync(path.join(gw.prefix, 'handlers/mine.ts'), handler('second'));
    gw.child.kill('SIGHUP');
    await until(() => count(gw.stderr(), OLD_WORKER_STOPPING) >= 2, 'the reload');
    expect((await request(gw.ports[0], '/mine')).body.toString()).toBe('second');
  } finally {
    await gw.stop();
  }
});

/** A handler module whose `configure` (run by the check) or `create` (run by a new worker) never returns. */
const stuck = (where: 'configure' | 'create') => `const block = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 600000);
export default {
  configure() { ${where === 'configure' ? 'block(); ' : ''}return {}; },
  create() { ${where === 'create' ? 'block(); ' : ''}return { http(_req: any, res: any) { res.end('stuck'); } }; },
};
`;
const withStuck = (version: string) => site(version).replace('        - { location: /version', '        - { location: /stuck, handler: stuck }\n        - { location: /version');

/** The pids in "worker process N started" lines, in order. */
const startedWorkers = (gw: GatewayProcess) => [...gw.stderr().matchAll(/worker process (\d+) started/g)].map((m) => Number(m[1]));

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a reload check killed half-way: the old generation serves, a killed worker is replaced, a HUP meanwhile is answered, the next reload works', async () => {
  const gw = await startGateway(site('v1'), { files: { 'handlers/stuck.ts': stuck('configure') } });
  try {
    await until(() => startedWorkers(gw).length >= 2, 'the workers');
    writeFileSync(path.join(gw.prefix, 'conf/test.yaml'), withStuck('never'));
    gw.child.kill('SIGHUP');
    await until(() => /reload: checking the configuration in process \d+/.test(gw.stderr()), `the check in:\n${gw.stderr()}`);
    const check = Number(/reload: checking the configuration in process (\d+)/.exec(gw.stderr())![1]);
    expect(isAlive(check)).toBe(true);
    // While the check hangs, the master reaps and replaces a worker...
    const victim = startedWorkers(gw)[0];
    process.kill(victim, 'SIGKILL');
    await until(() => gw.stderr().includes(`worker process ${victim} exited on signal SIGKILL; starting a new one`), 'the dead worker reaped');
    await until(() => startedWorkers(gw).length >= 3, `the replacement in:\n${gw.stderr()}`);
    for (let i = 0; i < 10; i++) expect((await request(gw.ports[0], '/version')).body.toString()).toBe('v1');
    // ...and answers a HUP (done once the running reload ends).
    writeFileSync(path.join(gw.prefix, 'conf/test.yaml'), site('v2'));
    gw.child.kill('SIGHUP');
    process.kill(check, 'SIGKILL');
    await until(() => gw.stderr().includes(`reload: the configuration check (process ${check}) was killed by SIGKILL before it answered; the old configuration keeps serving`), `the killed check in:\n${gw.stderr()}`);
    await until(() => count(gw.stderr(), OLD_WORKER_STOPPING) >= 2, `the pending reload in:\n${gw.stderr()}`);
    expect((await request(gw.ports[0], '/version')).body.toString()).toBe('v2');
    expect(gw.stderr()).not.toMatch(/\[(crit|alert|emerg)\]/);
  } finally {
    await gw.stop();
  }
}, 60000);

// This test and the next run at the same time: each mostly waits, on a check or on workers that
// never answer (blocked in Atomics.wait, idle), for its timeout.
test.concurrent('a reload check that does not finish in time is killed; the old generation serves; a later good reload works', async () => {
  const gw = await startGateway(site('v1'), { files: { 'handlers/stuck.ts': stuck('configure') }, env: { GATEWAY_CHECK_TIMEOUT_MS: '1500' } });
  try {
    writeFileSync(path.join(gw.prefix, 'conf/test.yaml'), withStuck('never'));
    const sent = Date.now();
    gw.child.kill('SIGHUP');
    await until(() => gw.stderr().includes('the configuration check did not finish within 1500 ms; the old configuration keeps serving'), `the timeout in:\n${gw.stderr()}`);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(1400);
    const check = Number(/reload: checking the configuration in process (\d+)/.exec(gw.stderr())![1]);
    await until(() => !isAlive(check), 'the check process killed');
    expect((await request(gw.ports[0], '/version')).body.toString()).toBe('v1');
    writeFileSync(path.join(gw.prefix, 'conf/test.yaml'), site('v2'));
    gw.child.kill('SIGHUP');
    await until(() => count(gw.stderr(), OLD_WORKER_STOPPING) >= 2, `the good reload in:\n${gw.stderr()}`);
    expect((await request(gw.ports[0], '/version')).body.toString()).toBe('v2');
  } finally {
    await gw.stop();
  }
}, 60000);

test.concurrent('new workers that never become ready are killed after the start timeout; the old generation serves', async () => {
  const gw = await startGateway(site('v1'), { files: { 'handlers/stuck.ts': stuck('create') }, env: { GATEWAY_WORKER_START_TIMEOUT_MS: '2000' } });
  try {
    writeFileSync(path.join(gw.prefix, 'conf/test.yaml'), withStuck('never'));
    gw.child.kill('SIGHUP');
    await until(() => gw.stderr().includes('reload: worker processes were not ready within 2000 ms; the old configuration keeps serving'), `the start timeout in:\n${gw.stderr()}`);
    expect((await request(gw.ports[0], '/version')).body.toString()).toBe('v1');
    writeFileSync(path.join(gw.prefix, 'conf/test.yaml'), site('v2'));
    gw.child.kill('SIGHUP');
    await until(() => count(gw.stderr(), OLD_WORKER_STOPPING) >= 2, `the good reload in:\n${gw.stderr()}`);
    expect((await request(gw.ports[0], '/version')).body.toString()).toBe('v2');
  } finally {
    await gw.stop();
  }
}, 60000);

test('a no-break space in the new file: gateway -s reload refuses it in one line, a HUP to the master is refused and logged, nothing spins', async () => {
  const gw = await startGateway(site('v1'));
  try {
    writeFileSync(path.join(gw.prefix, 'conf/test.yaml'), site('v2').replace('listen: "127.0.0.1:0"', 'listen: "127.0.0.1:0\u00a0"'));
    const refused = await runCli(['-p', gw.prefix, '-c', 'conf/test.yaml', '-s', 'reload']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^gateway: \[emerg\] invalid port in "127\.0\.0\.1:0\\u00a0" in .*test\.yaml:\d+:\d+\n$/);
    gw.child.kill('SIGHUP');
    await until(() => gw.stderr().includes('the old configuration keeps serving'), `the refused reload in:\n${gw.stderr()}`);
    expect(gw.stderr()).toMatch(/\[error\] .*reload: invalid port in "127\.0\.0\.1:0\\u00a0" in .*test\.yaml:\d+:\d+; the old configuration keeps serving/);
    expect((await request(gw.ports[0], '/version')).body.toString()).toBe('v1');
  } finally {
    await gw.stop();
  }
}, 60000);

test('a configuration larger than 128 KiB (more than one environment variable holds) starts and reloads', async () => {
  const many = (version: string) => site(version).replace('        - { location: /version', `${Array.from({ length: 4000 }, (_, i) => `        - { location: /l${i}, return: "200 ${version}" }`).join('\n')}\n        - { location: /version`);
  expect(Buffer.byteLength(many('v1'))).toBeGreaterThan(160 * 1024);
  const gw = await startGateway(many('v1'));
  try {
    expect((await request(gw.ports[0], '/l3999')).body.toString()).toBe('v1');
    writeFileSync(path.join(gw.prefix, 'conf/test.yaml'), many('v2'));
    gw.child.kill('SIGHUP');
    // Both old workers stop accepting (each says so) before a request can only reach a new one.
    await until(() => count(gw.stderr(), OLD_WORKER_STOPPING) === 2, 'the old workers to stop accepting');
    expect((await request(gw.ports[0], '/l3999')).body.toString()).toBe('v2');
  } finally {
    await gw.stop();
  }
}, 60000);
