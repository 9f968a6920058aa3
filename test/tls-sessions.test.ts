/**
 * TLS session resumption across worker processes, with `openssl s_client`: a session made by
 * one worker resumes on the other, by session id (`ssl_session_cache shared:`) and by ticket
 * (the ticket keys every worker gets from the master). How the test crosses workers: every
 * answer says `$pid`; the first connection's pid is noted, and resumptions are tried until one
 * is answered by another pid (the kernel spreads accepts over the two workers); that one must
 * be `Reused`. The same walk with `ssl_session_cache builtin` (each worker its own) shows the
 * other worker does NOT resume, which is what makes the shared case mean something.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { makePrefix, startGateway, waitForWorkers, type GatewayProcess } from './helpers/gateway-process';
import { makePki, sClient, type SClientResult } from './helpers/tls-pki';

const site = (extra: string) => `
error_log: stderr info
pid: off
worker_processes: 2
http:
  access_log: "off"
  servers:
    - listen: "127.0.0.1:0 ssl"
      server_name: a.test
      ssl_certificate: pki/server.pem
      ssl_certificate_key: pki/server.key
${extra}
      locations:
        - { location: /, return: "200 '$pid $ssl_session_reused $ssl_session_id $ssl_protocol'" }
`;

/** The pid, `$ssl_session_reused` and `$ssl_session_id` an answer gave. */
function answer(result: SClientResult): { pid: string; reused: string; id: string } {
  const [pid, reused, id] = result.body.split(' ');
  return { pid, reused, id };
}

/**
 * Makes a session (`args`, saving it), then resumes it until another worker answers; returns the
 * first connection's answer and that other worker's.
 */
async function acrossWorkers(port: number, dir: string, args: string[]): Promise<{ first: SClientResult; other: SClientResult; tries: number }> {
  const file = path.join(dir, `session-${Math.random().toString(36).slice(2)}`);
  const first = await sClient(port, [...args, '-sess_out', file], dir);
  expect(first.session).toBe('New');
  const pid = answer(first).pid;
  for (let tries = 1; tries <= 60; tries++) {
    const next = await sClient(port, [...args, '-sess_in', file], dir);
    if (answer(next).pid && answer(next).pid !== pid) return { first, other: next, tries };
  }
  throw new Error('60 connections were all answered by the worker that made the session');
}

describe('TLS sessions across two workers', () => {
  let prefix: string;
  beforeAll(() => {
    prefix = makePrefix();
    makePki(prefix);
  }, 60000);
  afterAll(() => rmSync(prefix, { recursive: true, force: true }));

  async function withGateway(extra: string, run: (gw: GatewayProcess) => Promise<void>): Promise<void> {
    const gw = await startGateway(site(extra), { prefix });
    try {
      await waitForWorkers(gw, 2);
      await run(gw);
    } finally {
      await gw.stop();
    }
  }

  test('by session id: ssl_session_cache shared resumes a TLSv1.2 session on the other worker', async () => {
    await withGateway('      ssl_session_cache: "shared:SSL:1m"\n      ssl_session_tickets: off\n      ssl_session_timeout: 10m', async (gw) => {
      const { first, other } = await acrossWorkers(gw.ports[0], prefix, ['-tls1_2', '-no_ticket']);
      expect(answer(first).reused).toBe('.');
      expect(other.session).toBe('Reused');
      expect(answer(other).reused).toBe('r');
      // $ssl_session_id is the session's id, lowercase hex as nginx's, the same on both workers.
      expect(answer(first).id).toMatch(/^[0-9a-f]{64}$/);
      expect(answer(other).id).toBe(answer(first).id);
      expect(first.out).toContain(`Session-ID: ${answer(first).id.toUpperCase()}`);
    });
  }, 60000);

  test('by session id: ssl_session_cache builtin is each worker\'s own, so the other worker does not resume', async () => {
    await withGateway('      ssl_session_cache: builtin:1000\n      ssl_session_tickets: off', async (gw) => {
      const { other } = await acrossWorkers(gw.ports[0], prefix, ['-tls1_2', '-no_ticket']);
      expect(other.session).toBe('New');
      expect(answer(other).reused).toBe('.');
    });
  }, 60000);

  test('by ticket: TLSv1.3 and TLSv1.2 tickets made by one worker resume on the other', async () => {
    await withGateway('      ssl_session_cache: "off"', async (gw) => {
      for (const version of ['-tls1_3', '-tls1_2']) {
        const { other } = await acrossWorkers(gw.ports[0], prefix, [version]);
        expect(other.session).toBe('Reused');
        expect(answer(other).reused).toBe('r');
      }
    });
  }, 60000);

  test('ssl_session_tickets off and no cache: nothing resumes', async () => {
    await withGateway('      ssl_session_tickets: off', async (gw) => {
      const file = path.join(prefix, 'session-none');
      await sClient(gw.ports[0], ['-tls1_2', '-sess_out', file], prefix);
      const again = await sClient(gw.ports[0], ['-tls1_2', '-sess_in', file], prefix);
      expect(again.session).toBe('New');
    });
  }, 60000);

  test('ssl_session_ticket_key: a ticket made under the key file resumes after a restart with the same file', async () => {
    const key = Buffer.alloc(48, 7);
    require('node:fs').writeFileSync(path.join(prefix, 'pki/ticket.key'), key);
    const file = path.join(prefix, 'session-keyfile');
    await withGateway('      ssl_session_ticket_key: pki/ticket.key', async (gw) => {
      expect((await sClient(gw.ports[0], ['-tls1_3', '-sess_out', file], prefix)).session).toBe('New');
    });
    await withGateway('      ssl_session_ticket_key: pki/ticket.key', async (gw) => {
      expect((await sClient(gw.ports[0], ['-tls1_3', '-sess_in', file], prefix)).session).toBe('Reused');
    });
    // Without the file, a restart (a new master) makes new keys: the ticket is refused, as nginx's.
    await withGateway('', async (gw) => {
      expect((await sClient(gw.ports[0], ['-tls1_3', '-sess_in', file], prefix)).session).toBe('New');
    });
  }, 60000);

  test('a reload keeps the shared session cache (its zone stays), as nginx 1.22', async () => {
    await withGateway('      ssl_session_cache: "shared:SSL:1m"\n      ssl_session_tickets: off', async (gw) => {
      const byId = path.join(prefix, 'session-reload-id');
      await sClient(gw.ports[0], ['-tls1_2', '-no_ticket', '-sess_out', byId], prefix);
      gw.child.kill('SIGHUP');
      const deadline = Date.now() + 15000;
      while (!gw.stderr().includes('reload: new worker processes ready')) {
        if (Date.now() > deadline) throw new Error(`no reload:\n${gw.stderr()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const again = await sClient(gw.ports[0], ['-tls1_2', '-no_ticket', '-sess_in', byId], prefix);
      expect(again.session).toBe('Reused');
      expect(answer(again).reused).toBe('r');
    });
  }, 60000);

  test('a resumed session keeps its client certificate: no 400 from a server behind SNI that requires one', async () => {
    const yaml = `
error_log: stderr info
pid: off
worker_processes: 2
http:
  access_log: "off"
  ssl_session_cache: "shared:SSL:1m"
  ssl_certificate: pki/server.pem
  ssl_certificate_key: pki/server.key
  servers:
    - listen: "127.0.0.1:0 ssl"
      server_name: a.test
      locations:
        - { location: /, return: "200 'a $ssl_client_verify'" }
    - listen: "127.0.0.1:0 ssl"
      server_name: b.test
      ssl_client_certificate: pki/ca.pem
      ssl_verify_client: on
      locations:
        - { location: /, return: "200 '$pid $ssl_session_reused $ssl_client_verify $ssl_client_s_dn END'" }
`;
    const gw = await startGateway(yaml, { prefix });
    try {
      await waitForWorkers(gw, 2);
      const pki = path.join(prefix, 'pki');
      for (const version of [['-tls1_2', '-no_ticket'], ['-tls1_2'], ['-tls1_3']]) {
        const file = path.join(prefix, `session-cert-${version.join('')}`);
        const args = ['-servername', 'b.test', ...version];
        const first = await sClient(gw.ports[0], [...args, '-cert', 'client.pem', '-key', 'client.key', '-sess_out', file], pki, '/', 'b.test');
        // s_client may print TLSv1.3 tickets in the middle of the body's line: up to END only.
        expect(first.body).toMatch(/^\d+ \. SUCCESS CN=client one,O=Org\\, Inc,C=US END/);
        for (let i = 0; i < 3; i++) {
          const again = await sClient(gw.ports[0], [...args, '-sess_in', file], pki, '/', 'b.test');
          expect(again.session).toBe('Reused');
          expect(again.body).toMatch(/^\d+ r SUCCESS CN=client one,O=Org\\, Inc,C=US END/);
        }
      }
    } finally {
      await gw.stop();
    }
  }, 60000);
});
