/**
 * Client certificates beside nginx 1.22: the same four servers (`ssl_verify_client on`,
 * `optional_no_ca` with depth 2, `optional` with depth 0, `optional`), the same CA and the same
 * clients (`openssl s_client`: no certificate, one the CA signs, a self-signed one, one behind
 * an intermediate sent with its chain, the same without its chain); the status, the body (the
 * `$ssl_client_*` variables) or nginx's 400 page, and the error log's verify lines must be the
 * same. nginx missing is an error, never a skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makePrefix, startGateway, type GatewayProcess } from '../helpers/gateway-process';
import { makePki } from '../helpers/tls-pki';
import { findNginx } from './pair';
import { freePort } from '../helpers/ports';

const VARIABLES = '$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn|$ssl_client_serial|$ssl_client_fingerprint|$ssl_client_s_dn_legacy|$ssl_client_i_dn_legacy|$ssl_client_v_start|$ssl_client_v_end|$ssl_client_v_remain|$ssl_server_name|$ssl_protocol|$ssl_cipher|$ssl_session_reused';

/** The servers: verify mode, depth, what the location answers. */
const SERVERS = [
  { verify: 'on', depth: null, body: VARIABLES },
  { verify: 'optional_no_ca', depth: 2, body: '$ssl_client_verify|$ssl_client_s_dn' },
  { verify: 'optional', depth: 0, body: '$ssl_client_verify|$ssl_client_s_dn' },
  { verify: 'optional', depth: null, body: '$ssl_client_verify|$ssl_client_s_dn|$ssl_client_escaped_cert' },
];

const CLIENTS: Record<string, string[]> = {
  none: [],
  signed: ['-cert', 'client.pem', '-key', 'client.key'],
  'self-signed': ['-cert', 'rogue.pem', '-key', 'rogue.key'],
  'intermediate with chain': ['-cert', 'deep.pem', '-key', 'deep.key', '-cert_chain', 'inter.pem'],
  'intermediate without chain': ['-cert', 'deep.pem', '-key', 'deep.key'],
};

/** One request through `openssl s_client -quiet`: the status line and the body, the page's signature left out. */
function exchange(port: number, args: string[], pki: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'a.test', '-tls1_2', '-quiet', ...args], { cwd: pki });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', () => {});
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      const text = out.replace(/\r/g, '');
      const split = text.indexOf('\n\n');
      resolve(`${text.split('\n')[0]}\n${text.slice(split + 2).replace(/<hr><center>[^<]*<\/center>/, '<hr>')}`);
    });
    child.stdin.end('GET / HTTP/1.0\r\nHost: a.test\r\n\r\n');
  });
}

/** The verify lines of an error log, in order. */
const verifyLines = (log: string) => [...log.matchAll(/client (SSL certificate verify error: \(\d+:[^)]*\)|sent no required SSL certificate)/g)].map((m) => m[1]);

describe('client certificates beside nginx 1.22', () => {
  let prefix: string;
  let pki: string;
  let nginx: ChildProcess;
  let nginxLog = '';
  let gateway: GatewayProcess;
  const nginxPorts: number[] = [];
  const gatewayPorts: number[] = [];

  beforeAll(async () => {
    const binary = findNginx();
    prefix = makePrefix();
    pki = makePki(prefix);
    for (let i = 0; i < SERVERS.length; i++) {
      nginxPorts.push(await freePort());
      gatewayPorts.push(await freePort());
    }
    const nginxServers = SERVERS.map(
      (s, i) => `  server { listen 127.0.0.1:${nginxPorts[i]} ssl; server_name a.test; ssl_verify_client ${s.verify};${s.depth === null ? '' : ` ssl_verify_depth ${s.depth};`}
    location / { return 200 "${s.body}\\n"; } }`,
    );
    writeFileSync(
      path.join(prefix, 'nginx.conf'),
      `daemon off; master_process off; pid ${prefix}/nginx.pid; error_log stderr info;
events {}
http {
  access_log off;
  ssl_protocols TLSv1.2;
  ssl_certificate ${pki}/server.pem; ssl_certificate_key ${pki}/server.key; ssl_client_certificate ${pki}/ca.pem;
${nginxServers.join('\n')}
}
`,
    );
    const check = spawnSync(binary, ['-t', '-p', `${prefix}/`, '-c', `${prefix}/nginx.conf`, '-e', 'stderr'], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`nginx rejects the configuration:\n${check.stderr}`);
    nginx = spawn(binary, ['-p', `${prefix}/`, '-c', `${prefix}/nginx.conf`, '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'pipe'] });
    nginx.stderr!.on('data', (d: Buffer) => (nginxLog += d));
    const gatewayServers = SERVERS.map(
      (s, i) => `    - listen: "127.0.0.1:${gatewayPorts[i]} ssl"
      server_name: a.test
      ssl_verify_client: ${s.verify}
${s.depth === null ? '' : `      ssl_verify_depth: ${s.depth}\n`}      locations:
        - { location: /, return: '200 "${s.body}\\n"' }`,
    );
    gateway = await startGateway(
      `error_log: stderr info
pid: off
worker_processes: 1
http:
  access_log: "off"
  ssl_protocols: TLSv1.2
  ssl_certificate: pki/server.pem
  ssl_certificate_key: pki/server.key
  ssl_client_certificate: pki/ca.pem
  servers:
${gatewayServers.join('\n')}
`,
      { prefix, listeners: SERVERS.length },
    );
    // nginx is up once it answers.
    for (let i = 0; i < 50 && !/^HTTP/.test(await exchange(nginxPorts[3], [], pki)); i++) await new Promise((r) => setTimeout(r, 100));
  }, 60000);

  afterAll(async () => {
    nginx?.kill('SIGTERM');
    await gateway?.stop();
    rmSync(prefix, { recursive: true, force: true });
  });

  test.each(SERVERS.map((s, i) => [`${s.verify}${s.depth === null ? '' : ` depth ${s.depth}`}`, i] as const))('ssl_verify_client %s: every client answered as nginx answers it', async (_name, i) => {
    const nginxBefore = verifyLines(nginxLog).length;
    const gatewayBefore = verifyLines(gateway.stderr()).length;
    for (const [client, args] of Object.entries(CLIENTS)) {
      const expected = await exchange(nginxPorts[i], args, pki);
      const actual = await exchange(gatewayPorts[i], args, pki);
      expect(`${client}: ${actual}`).toBe(`${client}: ${expected}`);
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(verifyLines(gateway.stderr()).slice(gatewayBefore)).toEqual(verifyLines(nginxLog).slice(nginxBefore));
  }, 60000);
});
