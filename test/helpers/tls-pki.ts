/**
 * A test PKI made with the `openssl` command line, and `openssl s_client` as a client: a CA, an
 * intermediate CA, a server certificate the CA signs, client certificates (one the CA signs, one
 * behind the intermediate, one self-signed), an OCSP response about the server certificate
 * (`openssl ocsp` against an index that says it is good), an encrypted copy of the server key.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const quiet = { stdio: 'ignore' as const };

function openssl(cwd: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd, ...quiet });
}

/** A key and a certificate request for `subject`: NAME.key, NAME.csr. */
function request(cwd: string, name: string, subject: string, ...extra: string[]): void {
  openssl(cwd, 'req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, ...extra, '-keyout', `${name}.key`, '-out', `${name}.csr`);
}

/** Signs NAME.csr with ISSUER's key: NAME.pem. */
function sign(cwd: string, name: string, issuer: string, ...extra: string[]): void {
  openssl(cwd, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-days', '2', ...extra, '-out', `${name}.pem`);
}

/**
 * Writes the PKI under `dir/pki/`: ca, inter (signed by ca), server (a.test, signed by ca),
 * client (signed by ca), deep (signed by inter; deep-chain.pem holds deep then inter), rogue
 * (self-signed), server.ocsp (DER), server-enc.key (AES-256, passphrase `secret`).
 */
export function makePki(dir: string): string {
  const cwd = path.join(dir, 'pki');
  mkdirSync(cwd, { recursive: true });
  openssl(cwd, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/O=Test CA/CN=Test Root', '-keyout', 'ca.key', '-out', 'ca.pem');
  writeFileSync(path.join(cwd, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  request(cwd, 'inter', '/O=Test CA/CN=Test Intermediate');
  sign(cwd, 'inter', 'ca', '-extfile', 'ca.ext');
  request(cwd, 'server', '/CN=a.test', '-addext', 'subjectAltName=DNS:a.test');
  sign(cwd, 'server', 'ca', '-copy_extensions', 'copy');
  request(cwd, 'client', '/C=US/O=Org, Inc/CN=client one');
  sign(cwd, 'client', 'ca');
  request(cwd, 'deep', '/CN=deep client');
  sign(cwd, 'deep', 'inter');
  execFileSync('sh', ['-c', 'cat deep.pem inter.pem > deep-chain.pem'], { cwd });
  openssl(cwd, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=rogue', '-keyout', 'rogue.key', '-out', 'rogue.pem');
  openssl(cwd, 'pkey', '-in', 'server.key', '-aes256', '-passout', 'pass:secret', '-out', 'server-enc.key');
  const serial = execFileSync('openssl', ['x509', '-in', 'server.pem', '-noout', '-serial'], { cwd }).toString().trim().split('=')[1];
  writeFileSync(path.join(cwd, 'index.txt'), `V\t301231000000Z\t\t${serial}\tunknown\t/CN=a.test\n`);
  openssl(cwd, 'ocsp', '-index', 'index.txt', '-rsigner', 'ca.pem', '-rkey', 'ca.key', '-CA', 'ca.pem', '-issuer', 'ca.pem', '-cert', 'server.pem', '-respout', 'server.ocsp', '-ndays', '1');
  return cwd;
}

/** What one `openssl s_client` connection showed: its handshake lines and the HTTP response. */
export interface SClientResult {
  /** `New` or `Reused`. */
  readonly session: 'New' | 'Reused' | null;
  /** The full output (handshake details, then the response). */
  readonly out: string;
  /** The response: status line to end. */
  readonly response: string;
  /** The response's body. */
  readonly body: string;
}

/**
 * One `openssl s_client` connection to 127.0.0.1:`port` (SNI a.test) sending `GET target` with Host `host`,
 * with `args` (`-sess_out`, `-cert`, `-status`...); resolves with what it printed.
 */
export function sClient(port: number, args: string[], cwd: string, target = '/', host = 'a.test'): Promise<SClientResult> {
  return new Promise((resolve, reject) => {
    // SNI a.test unless `args` name another or none.
    const sni = args.includes('-servername') || args.includes('-noservername') ? [] : ['-servername', 'a.test'];
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...sni, '-ign_eof', ...args], { cwd });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', () => {});
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      const session = /^(New|Reused), /m.exec(out)?.[1] as 'New' | 'Reused' | undefined;
      const at = out.search(/HTTP\/1\.[01] \d{3}/);
      const response = at >= 0 ? out.slice(at) : '';
      const split = response.indexOf('\r\n\r\n');
      // s_client prints what comes after the response (TLSv1.3 tickets, `closed`) on the same stream.
      const body = split >= 0 ? response.slice(split + 4).replace(/(---\n(Post-Handshake|SSL-Session)[\s\S]*|\n?closed\n?|\n?read:errno=0\n?)$/, '') : '';
      resolve({ session: session ?? null, out, response, body });
    });
    child.stdin.end(`GET ${target} HTTP/1.0\r\nHost: ${host}\r\n\r\n`);
  });
}
