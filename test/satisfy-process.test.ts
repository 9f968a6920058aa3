/**
 * The three access modules together with the gateway as a process: WebSocket upgrades to a
 * location under `satisfy any` (deny all, auth_basic, auth_request to a local 401) refused by
 * every module are answered as HTTP (auth_basic's challenge, `error_page 401`), and so is an
 * upgrade to a location that takes none; clients that keep their end open afterwards
 * (half-open, never closing) do not hold the worker's descriptors: they are back to where they
 * were within nginx's lingering_timeout and a little; an upgrade let in by its password is
 * switched.
 */
import net from 'node:net';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { fdTotal, workerPids } from './helpers/push-clients';

const SITE = `
worker_processes: 1
error_log: stderr notice
pid: "off"
http:
  access_log: "off"
  servers:
    - listen: "127.0.0.1:0"
      root: www
      locations:
        - location: = /auth
          return: "401"
        - location: /ws
          handler: websocket-script
          script: echo
          satisfy: any
          deny: all
          auth_basic: Members
          auth_basic_user_file: users
          auth_request: /auth
          error_page: 401 /open/401.html
        - location: /open/
`;

const basic = (credentials: string) => `Authorization: Basic ${Buffer.from(credentials).toString('base64')}\r\n`;

/** Sends an upgrade on a socket that stays half-open (it never ends its side); resolves with the answer once the gateway ended it, or when its head is complete for a 101. */
function upgrade(port: number, extra: string, target = '/ws'): Promise<{ socket: net.Socket; answer: string; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () =>
      socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n${extra}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`),
    );
    let answer = '';
    const ended = new Promise<void>((done) => socket.once('end', done));
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
      if (answer.startsWith('HTTP/1.1 101') && answer.includes('\r\n\r\n')) resolve({ socket, answer, ended });
    });
    socket.once('end', () => resolve({ socket, answer, ended }));
    socket.on('error', reject);
  });
}

async function until(check: () => boolean, what: string, ms: number): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await startGateway(SITE, { files: { 'conf/users': 'alice:{PLAIN}secret\n', 'www/open/401.html': 'who are you?\n' } });
});
afterAll(() => gw?.stop());

test('refused upgrades are answered as HTTP, and half-open clients do not keep the worker\'s descriptors', async () => {
  const workers = workerPids(gw.child.pid!);
  const baseline = fdTotal(workers);
  const refused = await Promise.all(Array.from({ length: 40 }, () => upgrade(gw.ports[0], basic('alice:wrong'))));
  // An upgrade to a location that takes none is served as a plain request: the same way out.
  const plain = await Promise.all(Array.from({ length: 20 }, () => upgrade(gw.ports[0], '', '/open/401.html')));
  for (const { answer } of plain) expect(answer).toMatch(/^HTTP\/1\.1 200 [^]*\r\n\r\nwho are you\?\n$/);
  for (const { answer } of refused) {
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer.match(/^WWW-Authenticate: .*$/gim)).toEqual(['WWW-Authenticate: Basic realm="Members"']);
    expect(answer.endsWith('\r\n\r\nwho are you?\n')).toBe(true);
  }
  // The clients never close: the gateway must let go of them itself.
  await until(() => fdTotal(workers) <= baseline, `the worker's descriptors back to ${baseline} (now ${fdTotal(workers)})`, 10_000);
  for (const { socket } of [...refused, ...plain]) socket.destroy();
});

test('an upgrade let in by its password is switched', async () => {
  const { socket, answer } = await upgrade(gw.ports[0], basic('alice:secret'));
  expect(answer).toMatch(/^HTTP\/1\.1 101 /);
  socket.destroy();
});

