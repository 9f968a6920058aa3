/**
 * The ssl module's directives as real configurations write them, with `openssl s_client`:
 * `ssl on` (the old form), stapled OCSP from `ssl_stapling_file`, an encrypted key opened by
 * `ssl_password_file`, client certificates accepted and refused, `$ssl_*` in a `return` and in
 * the access log, `ssl_prefer_server_ciphers`, `ssl_dhparam`, `ssl_ecdh_curve`; and what does
 * not load, refused at `-t` with one line at the directive, nginx's wording.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { makePrefix, runCli, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { makePki, sClient } from './helpers/tls-pki';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('TLS directives of real configurations', () => {
  let prefix: string;
  let pki: string;
  let gw: GatewayProcess;

  beforeAll(async () => {
    prefix = makePrefix({ 'pki/passwords': 'wrong\nsecret\n' });
    pki = makePki(prefix);
    execFileSync('openssl', ['dhparam', '-dsaparam', '-out', 'dh.pem', '2048'], { cwd: pki, stdio: 'ignore' });
    gw = await startGateway(
      `error_log: stderr info
pid: off
worker_processes: 1
http:
  log_format:
    tls: '$ssl_protocol $ssl_cipher $ssl_client_verify "$ssl_client_s_dn" $ssl_session_reused'
  access_log: logs/access.log tls
  servers:
    - listen: "127.0.0.1:0"
      ssl: on
      server_name: a.test
      ssl_certificate: pki/server.pem
      ssl_certificate_key: pki/server-enc.key
      ssl_password_file: pki/passwords
      ssl_protocols: TLSv1.2 TLSv1.3
      ssl_ciphers: "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256"
      ssl_prefer_server_ciphers: on
      ssl_dhparam: pki/dh.pem
      ssl_ecdh_curve: "secp384r1:prime256v1"
      ssl_session_cache: "shared:SSL:10m"
      ssl_session_timeout: 1d
      ssl_session_tickets: off
      ssl_stapling: on
      ssl_stapling_verify: on
      ssl_stapling_file: pki/server.ocsp
      ssl_trusted_certificate: pki/ca.pem
      ssl_client_certificate: pki/ca.pem
      ssl_verify_client: on
      ssl_buffer_size: 4k
      locations:
        - { location: /, return: "200 '$scheme $https $ssl_protocol $ssl_client_verify $ssl_client_s_dn $ssl_server_name'" }
`,
      { prefix },
    );
  }, 60000);
  afterAll(async () => {
    await gw?.stop(true);
    rmSync(prefix, { recursive: true, force: true });
  });

  const client = ['-cert', 'client.pem', '-key', 'client.key'];

  test('ssl on makes the listen speak TLS; the encrypted key opened with the password file\'s second line', async () => {
    const result = await sClient(gw.ports[0], client, pki);
    expect(result.response).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(result.body).toBe('https on TLSv1.3 SUCCESS CN=client one,O=Org\\, Inc,C=US a.test');
    expect(gw.stderr()).toContain('the "ssl" directive is deprecated, use the "listen ... ssl" directive instead');
  });

  // TLSv1.2 only: Node does not send a response its OCSPRequest event gives in a TLSv1.3
  // handshake (nodejs/node#28288); nginx staples in both.
  test('ssl_stapling_file: the OCSP response is stapled (TLSv1.2) when the client asks for it', async () => {
    const result = await sClient(gw.ports[0], [...client, '-status', '-tls1_2'], pki);
    expect(result.out).toContain('OCSP Response Status: successful (0x0)');
    expect(result.out).toMatch(/Cert Status: good/);
    const plain = await sClient(gw.ports[0], [...client, '-tls1_2'], pki);
    expect(plain.out).not.toContain('OCSP Response Status');
  });

  test('a client without a certificate, and one the CA did not sign, get nginx\'s 400 pages', async () => {
    const none = await sClient(gw.ports[0], [], pki);
    expect(none.response).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(none.body).toContain('<title>400 No required SSL certificate was sent</title>');
    const rogue = await sClient(gw.ports[0], ['-cert', 'rogue.pem', '-key', 'rogue.key'], pki);
    expect(rogue.response).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(rogue.body).toContain('<title>400 The SSL certificate error</title>');
    expect(gw.stderr()).toContain('client sent no required SSL certificate while reading client request headers, client: 127.0.0.1, server: a.test, request: "GET / HTTP/1.0", host: "a.test"');
    expect(gw.stderr()).toContain('client SSL certificate verify error: (18:self-signed certificate) while reading client request headers');
  });

  test('ssl_prefer_server_ciphers: the server\'s order wins over the client\'s; ssl_dhparam serves DHE', async () => {
    const ordered = await sClient(gw.ports[0], [...client, '-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256'], pki);
    expect(ordered.out).toMatch(/Cipher is ECDHE-RSA-AES128-GCM-SHA256/);
    const dhe = await sClient(gw.ports[0], [...client, '-tls1_2', '-cipher', 'DHE-RSA-AES128-GCM-SHA256'], pki);
    expect(dhe.out).toMatch(/Cipher is DHE-RSA-AES128-GCM-SHA256/);
    expect(dhe.out).toMatch(/Server Temp Key: DH, 2048 bits/);
  });

  test('ssl_ecdh_curve: the curves named, in that order', async () => {
    const result = await sClient(gw.ports[0], [...client, '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'], pki);
    expect(result.out).toMatch(/Server Temp Key: ECDH, (secp384r1|P-384), 384 bits/);
  });

  test('$ssl_* in the access log line', async () => {
    await sClient(gw.ports[0], [...client, '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'], pki);
    await new Promise((r) => setTimeout(r, 200));
    const lines = readFileSync(path.join(prefix, 'logs/access.log'), 'utf8').trim().split('\n');
    expect(lines[lines.length - 1]).toBe('TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 SUCCESS "CN=client one,O=Org\\x5C, Inc,C=US" .');
  });
});

describe('ssl_certificate twice: an RSA and an ECDSA key pair', () => {
  let prefix: string;
  let gw: GatewayProcess;
  beforeAll(async () => {
    prefix = makePrefix();
    const pki = makePki(prefix);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=a.test ecdsa', '-keyout', 'ecdsa.key', '-out', 'ecdsa.pem'], { cwd: pki, stdio: 'ignore' });
    gw = await startGateway(
      `error_log: stderr info
pid: off
worker_processes: 1
http:
  access_log: "off"
  servers:
    - listen: "127.0.0.1:0 ssl"
      server_name: a.test
      ssl_certificate: [pki/server.pem, pki/ecdsa.pem]
      ssl_certificate_key: [pki/server.key, pki/ecdsa.key]
      locations:
        - { location: /, return: "200 'a'" }
`,
      { prefix },
    );
  }, 60000);
  afterAll(async () => {
    await gw?.stop();
    rmSync(prefix, { recursive: true, force: true });
  });

  test('the handshake picks the pair the client can use, as nginx', async () => {
    const ecdsa = await sClient(gw.ports[0], ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256'], prefix);
    expect(ecdsa.out).toMatch(/subject=CN ?= ?a\.test ecdsa/);
    expect(ecdsa.body).toBe('a');
    const rsa = await sClient(gw.ports[0], ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'], prefix);
    expect(rsa.out).toMatch(/subject=CN ?= ?a\.test\n/);
    expect(rsa.body).toBe('a');
  });
});

describe('a client certificate is asked for only by the servers that check them', () => {
  let prefix: string;
  let gw: GatewayProcess;
  beforeAll(async () => {
    prefix = makePrefix();
    makePki(prefix);
    gw = await startGateway(
      `error_log: stderr info
pid: off
worker_processes: 1
http:
  access_log: "off"
  ssl_certificate: pki/server.pem
  ssl_certificate_key: pki/server.key
  servers:
    - listen: "127.0.0.1:0 ssl"
      server_name: a.test
      locations:
        - { location: /, return: "200 'a $ssl_client_verify END'" }
    - listen: "127.0.0.1:0 ssl"
      server_name: b.test
      ssl_client_certificate: pki/ca.pem
      ssl_verify_client: optional
      locations:
        - { location: /, return: "200 'b $ssl_client_verify END'" }
`,
      { prefix },
    );
  }, 60000);
  afterAll(async () => {
    await gw?.stop();
    rmSync(prefix, { recursive: true, force: true });
  });

  test('as nginx (its SNI callback sets the verify mode): a.test asks nothing and sees none, b.test asks and checks', async () => {
    const pki = path.join(prefix, 'pki');
    const cert = ['-cert', 'client.pem', '-key', 'client.key'];
    const a = await sClient(gw.ports[0], ['-servername', 'a.test', ...cert], pki, '/', 'a.test');
    expect(a.out).not.toContain('Requested Signature Algorithms');
    expect(a.body).toMatch(/^a NONE END/);
    const b = await sClient(gw.ports[0], ['-servername', 'b.test', ...cert], pki, '/', 'b.test');
    expect(b.out).toContain('Acceptable client certificate CA names');
    expect(b.body).toMatch(/^b SUCCESS END/);
  });
});

describe('ssl_reject_handshake', () => {
  let prefix: string;
  let gw: GatewayProcess;
  beforeAll(async () => {
    prefix = makePrefix();
    makePki(prefix);
    gw = await startGateway(
      `error_log: stderr info
pid: off
worker_processes: 1
http:
  access_log: "off"
  servers:
    - listen: "127.0.0.1:0 ssl default_server"
      ssl_reject_handshake: on
    - listen: "127.0.0.1:0 ssl"
      server_name: a.test
      ssl_certificate: pki/server.pem
      ssl_certificate_key: pki/server.key
      locations:
        - { location: /, return: "200 'a $ssl_server_name'" }
`,
      { prefix },
    );
  }, 60000);
  afterAll(async () => {
    await gw?.stop();
    rmSync(prefix, { recursive: true, force: true });
  });

  test('the default server needs no certificate and refuses a handshake for another name, or without one; its named server answers', async () => {
    expect((await sClient(gw.ports[0], [], prefix)).body).toBe('a a.test');
    const other = await sClient(gw.ports[0], ['-servername', 'other.test'], prefix);
    expect(other.response).toBe('');
    expect(other.out).toContain('no peer certificate available');
    const none = await sClient(gw.ports[0], ['-noservername'], prefix);
    expect(none.response).toBe('');
    expect(none.out).toContain('no peer certificate available');
    for (let i = 0; i < 40 && !gw.stderr().includes('handshake rejected'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(gw.stderr()).toContain('SSL handshake failed: handshake rejected for server name "other.test"');
  });
});

describe('TLS files that do not load, at -t', () => {
  let prefix: string;
  let pki: string;
  beforeAll(() => {
    prefix = makePrefix({ 'pki/not-dh.pem': 'not DH parameters\n', 'pki/wrong': 'nope\n', 'pki/short.key': '0123456789', 'pki/not-ocsp.der': 'garbage' });
    pki = makePki(prefix);
  }, 60000);
  afterAll(() => rmSync(prefix, { recursive: true, force: true }));

  const server = (lines: string) => `http:
  servers:
    - listen: "443 ssl"
      ssl_certificate: pki/server.pem
      ssl_certificate_key: pki/server.key
${lines}`;

  test.each([
    ['a dhparam file that is not one', server('      ssl_dhparam: pki/not-dh.pem\n'), /^gateway: \[emerg\] PEM_read_bio_DHparams\(".*not-dh\.pem"\) failed \(no start line: Expecting: DH PARAMETERS\) in .*test\.yaml:6:20$/],
    ['a missing dhparam file', server('      ssl_dhparam: pki/none.pem\n'), /BIO_new_file\(".*none\.pem"\) failed \(ENOENT: no such file or directory\) in .*test\.yaml:6:20$/],
    ['a wrong password', server('      ssl_password_file: pki/wrong\n').replace('pki/server.key', 'pki/server-enc.key'), /cannot load certificate key ".*server-enc\.key": PEM_read_bio_PrivateKey\(\) failed \(bad decrypt: maybe wrong password\) in .*test\.yaml:3:7$/],
    ['an encrypted key without a password file', server('').replace('pki/server.key', 'pki/server-enc.key'), /cannot load certificate key ".*server-enc\.key": PEM_read_bio_PrivateKey\(\) failed .* in .*test\.yaml:3:7$/],
    ['a bad curve', server('      ssl_ecdh_curve: nosuchcurve\n'), /SSL_CTX_set1_curves_list\("nosuchcurve"\) failed \(.*\) in .*test\.yaml:6:23$/],
    ['a bad session cache', server('      ssl_session_cache: bogus\n'), /invalid session cache "bogus" in .*test\.yaml:6:26$/],
    ['a session cache too small', server('      ssl_session_cache: "shared:SSL:1k"\n'), /session cache "shared:SSL:1k" is too small in .*test\.yaml:6:26$/],
    ['a ticket key of 10 bytes', server('      ssl_session_ticket_key: pki/short.key\n'), /".*short\.key" must be 48 or 80 bytes in .*test\.yaml:6:31$/],
    ['verify without a CA', server('      ssl_verify_client: on\n'), /no ssl_client_certificate for ssl_verify_client in .*test\.yaml:6:7$/],
    ['a bad verify mode', server('      ssl_verify_client: maybe\n'), /invalid value "maybe" in .*test\.yaml:6:26$/],
    ['a missing client CA file', server('      ssl_verify_client: on\n      ssl_client_certificate: pki/none.pem\n'), /SSL_CTX_load_verify_locations\(".*none\.pem"\) failed \(ENOENT: .*\) in .*test\.yaml:7:31$/],
    ['a stapling file that is not an OCSP response', server('      ssl_stapling: on\n      ssl_stapling_file: pki/not-ocsp.der\n'), /d2i_OCSP_RESPONSE_bio\(".*not-ocsp\.der"\) failed \(not a DER OCSP response\) in .*test\.yaml:7:26$/],
    ['ssl on without a certificate', 'http:\n  servers:\n    - listen: 443\n      ssl: on\n', /no "ssl_certificate" is defined for the "ssl" directive in .*test\.yaml:3:7$/],
    ['a certificate named by variables', server('').replace('ssl_certificate: pki/server.pem', 'ssl_certificate: pki/$ssl_server_name.pem'), /"ssl_certificate" with variables is not supported yet in .*test\.yaml:4:24$/],
    ['a second certificate without its key', server('').replace('ssl_certificate: pki/server.pem', 'ssl_certificate: [pki/server.pem, pki/ca.pem]'), /no "ssl_certificate_key" is defined for certificate ".*ca\.pem" in .*test\.yaml:3:7$/],
  ])('%s', async (_name, yaml, message) => {
    writeFileSync(path.join(prefix, 'test.yaml'), yaml);
    const { code, stderr } = await runCli(['-t', '-p', prefix, '-c', 'test.yaml']);
    expect(stderr.split('\n')[0]).toMatch(message);
    expect(code).toBe(1);
  });

  test('the same files load: -t passes with every directive written as nginx.conf users write them', async () => {
    writeFileSync(path.join(pki, 'ticket.key'), Buffer.alloc(80, 1));
    writeFileSync(
      path.join(prefix, 'test.yaml'),
      server(`      ssl_session_cache: "builtin:1000 shared:SSL:10m"
      ssl_session_timeout: 5m
      ssl_session_tickets: on
      ssl_session_ticket_key: pki/ticket.key
      ssl_prefer_server_ciphers: off
      ssl_stapling: on
      ssl_stapling_verify: on
      ssl_trusted_certificate: pki/ca.pem
      ssl_client_certificate: pki/ca.pem
      ssl_verify_client: true
      ssl_verify_depth: 2
      ssl_buffer_size: 8k
      ssl_early_data: on
`),
    );
    const { code, stderr } = await runCli(['-t', '-p', prefix, '-c', 'test.yaml']);
    expect(stderr).toContain('test is successful');
    expect(code).toBe(0);
  });
});

describe('ssl_stapling without a file: the OCSP responder is asked', () => {
  let prefix: string;
  let pki: string;
  let gw: GatewayProcess;
  const responders: ChildProcess[] = [];

  /** `openssl ocsp` as a responder on a free port, signing with `signer`; resolves with its port. */
  async function responder(signer: string): Promise<number> {
    const port = await freePort();
    const child = spawn('openssl', ['ocsp', '-index', 'index.txt', '-port', String(port), '-rsigner', `${signer}.pem`, '-rkey', `${signer}.key`, '-CA', 'ca.pem', '-ndays', '1'], { cwd: pki });
    responders.push(child);
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`openssl ocsp did not start: ${seen}`)), 10000);
      const look = (d: Buffer) => {
        seen += d;
        if (/waiting for OCSP client connections/i.test(seen)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', look);
      child.stderr.on('data', look);
    });
    return port;
  }

  beforeAll(async () => {
    prefix = makePrefix();
    pki = makePki(prefix);
    const good = await responder('ca');
    const forged = await responder('rogue');
    // A socket each (one socket's servers would share their certificate's staple).
    const ports = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const names = ['good', 'forged', 'unverified', 'no-issuer', 'no-responder'];
    const server = (name: string, lines: string) => `    - listen: "127.0.0.1:${ports[names.indexOf(name)]} ssl"
      server_name: ${name}
      ssl_certificate: pki/server.pem
      ssl_certificate_key: pki/server.key
      ssl_stapling: on
${lines}      locations:
        - { location: /, return: "200 ${name}" }
`;
    gw = await startGateway(
      `error_log: stderr info
pid: off
worker_processes: 1
http:
  access_log: "off"
  servers:
${server('good', `      ssl_stapling_verify: on\n      ssl_trusted_certificate: pki/ca.pem\n      ssl_stapling_responder: http://127.0.0.1:${good}\n`)}${server('forged', `      ssl_stapling_verify: on\n      ssl_trusted_certificate: pki/ca.pem\n      ssl_stapling_responder: http://127.0.0.1:${forged}\n`)}${server('unverified', `      ssl_trusted_certificate: pki/ca.pem\n      ssl_stapling_responder: http://127.0.0.1:${forged}\n`)}${server('no-issuer', `      ssl_stapling_responder: http://127.0.0.1:${good}\n`)}${server('no-responder', '      ssl_trusted_certificate: pki/ca.pem\n')}`,
      { prefix, listeners: 5 },
    );
  }, 60000);
  afterAll(async () => {
    for (const r of responders) r.kill('SIGTERM');
    await gw?.stop();
    rmSync(prefix, { recursive: true, force: true });
  });

  /** s_client -status until a staple comes (the first handshakes may come before the responder answered). */
  async function stapled(port: number): Promise<string> {
    let out = '';
    for (let i = 0; i < 40; i++) {
      out = (await sClient(port, ['-status', '-tls1_2'], pki)).out;
      if (out.includes('OCSP Response Status')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return out;
  }

  test('the responder\'s answer, signed by the issuer, is stapled', async () => {
    const out = await stapled(gw.ports[0]);
    expect(out).toContain('OCSP Response Status: successful (0x0)');
    expect(out).toMatch(/Cert Status: good/);
  }, 30000);

  test('ssl_stapling_verify: a response signed by a key the issuer did not certify is not stapled; without verify it is', async () => {
    const forged = await sClient(gw.ports[1], ['-status', '-tls1_2'], pki);
    expect(forged.out).toContain('OCSP response: no response sent');
    expect(gw.stderr()).toMatch(/OCSP_basic_verify\(\) failed \(signature or signer not trusted\) while requesting certificate status, responder: 127\.0\.0\.1:\d+, certificate: ".*server\.pem"/);
    expect(await stapled(gw.ports[2])).toMatch(/Cert Status: good/);
  }, 30000);

  test('no issuer, no responder: nginx\'s warnings, nothing stapled', async () => {
    expect(gw.stderr()).toMatch(/\[warn\] .*"ssl_stapling" ignored, issuer certificate not found for certificate ".*server\.pem"/);
    expect(gw.stderr()).toMatch(/\[warn\] .*"ssl_stapling" ignored, no OCSP responder URL in the certificate ".*server\.pem"/);
    for (const port of [gw.ports[3], gw.ports[4]]) expect((await sClient(port, ['-status', '-tls1_2'], pki)).out).toContain('OCSP response: no response sent');
  }, 30000);
});
