/**
 * The main block's worker settings really apply (issue 14, item 4), as nginx's worker process
 * init: `user` (setgid, initgroups, setuid when the master runs as root), `worker_rlimit_nofile`
 * and `worker_rlimit_core` (setrlimit), `worker_priority`, `env` and `working_directory`, read
 * off the worker's /proc entries; the master keeps its own.
 */
import { chmodSync, readFileSync, readlinkSync } from 'node:fs';
import { startGateway, waitForWorkers, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';
import { workerPids } from './helpers/push-clients';

const asRoot = process.geteuid?.() === 0;

function status(pid: number, field: string): string {
  return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1].trim().replace(/\s+/g, ' ');
}

function limit(pid: number, name: string): string {
  return new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))!.slice(1, 3).join(' ');
}

/** The nice value: field 19 of /proc/PID/stat (after the command's closing parenthesis, field 3 is the 1st). */
function nice(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

(asRoot ? describe : describe.skip)('worker settings of the main block, as root', () => {
  let gw: GatewayProcess;
  let worker: number;

  beforeAll(async () => {
    const yaml = [
      'worker_processes: 1',
      'user: nobody nogroup',
      'worker_rlimit_nofile: 1234',
      'worker_rlimit_core: 2m',
      'worker_priority: 5',
      'env: [GATEWAY_TUNING_TEST=applied]',
      'working_directory: /tmp',
      'error_log: stderr notice',
      'pid: "off"',
      'http:',
      '  servers:',
      '    - listen: "127.0.0.1:0"',
      '      root: www',
    ].join('\n');
    gw = await startGateway(yaml, { files: { 'www/index.html': 'served by nobody\n' } });
    chmodSync(gw.prefix, 0o755);
    await waitForWorkers(gw, 1);
    [worker] = workerPids(gw.child.pid!);
  });
  afterAll(() => gw?.stop());

  test('the worker runs as the user and group, with the group list of the user', () => {
    expect(status(worker, 'Uid')).toBe('65534 65534 65534 65534');
    expect(status(worker, 'Gid')).toBe('65534 65534 65534 65534');
    expect(status(worker, 'Groups')).toBe('65534');
    expect(status(gw.child.pid!, 'Uid')).toBe('0 0 0 0');
  });

  test('worker_rlimit_nofile and worker_rlimit_core set the soft and hard limits', () => {
    expect(limit(worker, 'Max open files')).toBe('1234 1234');
    expect(limit(worker, 'Max core file size')).toBe(`${2 * 1024 * 1024} ${2 * 1024 * 1024}`);
    expect(limit(gw.child.pid!, 'Max open files')).not.toBe('1234 1234');
  });

  test('worker_priority, env and working_directory', () => {
    expect(nice(worker)).toBe(5);
    expect(readFileSync(`/proc/${worker}/environ`, 'utf8').split('\0')).toContain('GATEWAY_TUNING_TEST=applied');
    expect(readlinkSync(`/proc/${worker}/cwd`)).toBe('/tmp');
  });

  test('the worker serves as the user', async () => {
    const res = await request(gw.ports[0], '/index.html');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('served by nobody\n');
  });
});
