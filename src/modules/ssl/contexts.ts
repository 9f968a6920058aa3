/**
 * A server block's secure context, from its `ssl_*` directives: key pair (with
 * `ssl_password_file` for an encrypted key), protocols, ciphers and their order, DH parameters,
 * curves, the CAs that client certificates are checked against. The files are read when it is
 * made, so a reload picks up renewed certificates; a file that does not load is one line with
 * nginx's wording.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls, { type SecureContext } from 'node:tls';
import type { Position } from '../../errors';
import type { ScriptRef } from '../../shared/script-loader';
import type { CertificateAnswer, CertificateContext } from '../../types';
import type { SessionCacheConf } from './session-cache';

/** An `ssl_certificate_by` script, loaded and configured: `run` is called for every handshake with SNI. */
export type CertificateRef = ScriptRef<[CertificateContext], void | CertificateAnswer | null | Promise<void | CertificateAnswer | null>>;

/** A file a directive names, and where the directive stands (a file that does not load is reported there). */
export interface FileRef {
  readonly path: string;
  readonly at: Position;
}

/** `ssl_verify_client`. */
export type VerifyClient = 'off' | 'on' | 'optional' | 'optional_no_ca';

/** The ssl module's conf of a block. */
export interface SslConf {
  /** `ssl on` (the old form): the server's sockets speak TLS when it is their default server. */
  readonly ssl: boolean;
  /**
   * `ssl_certificate` and `ssl_certificate_key` (PEM files), paired in order; empty when not
   * set. Several pairs (an RSA and an ECDSA certificate) let the handshake pick the one the
   * client supports, as nginx.
   */
  readonly sslCertificates: readonly string[];
  readonly sslCertificateKeys: readonly string[];
  /** `ssl_password_file`: the passphrases tried, in turn, on an encrypted key. */
  readonly sslPasswordFile: FileRef | null;
  /** `ssl_protocols`: nginx's names, `TLSv1.2 TLSv1.3` by default. */
  readonly sslProtocols: readonly string[];
  readonly sslCiphers: string;
  /** `ssl_prefer_server_ciphers`: the server's cipher order wins (off by default). */
  readonly sslPreferServerCiphers: boolean;
  /** `ssl_dhparam`: DH parameters (PEM) for the DHE ciphers, null for none. */
  readonly sslDhparam: FileRef | null;
  /** `ssl_ecdh_curve`: `auto` or a `:`-separated list of curves. */
  readonly sslEcdhCurve: string;
  /** `ssl_session_cache`. */
  readonly sslSessionCache: SessionCacheConf;
  /** `ssl_session_timeout`, in seconds (300). */
  readonly sslSessionTimeout: number;
  /** `ssl_session_tickets` (on). */
  readonly sslSessionTickets: boolean;
  /** `ssl_session_ticket_key` files, in order: the first one makes tickets. */
  readonly sslSessionTicketKey: readonly FileRef[];
  /** `ssl_client_certificate`: CAs that client certificates are checked against, and whose names are sent to clients. */
  readonly sslClientCertificate: FileRef | null;
  /** `ssl_trusted_certificate`: CAs for client certificates too, not named to clients. */
  readonly sslTrustedCertificate: FileRef | null;
  /** `ssl_crl`: revoked certificates (PEM CRLs). */
  readonly sslCrl: FileRef | null;
  readonly sslVerifyClient: VerifyClient;
  /** `ssl_verify_depth` (1): intermediate certificates allowed between a client's and a trusted CA. */
  readonly sslVerifyDepth: number;
  /** `ssl_stapling`, `ssl_stapling_verify`, `ssl_stapling_file`, `ssl_stapling_responder`. */
  readonly sslStapling: boolean;
  readonly sslStaplingVerify: boolean;
  readonly sslStaplingFile: FileRef | null;
  readonly sslStaplingResponder: string | null;
  /**
   * `ssl_early_data`: read and kept, with no effect: Node takes no TLSv1.3 early data, so a
   * client sends it again once the handshake is done (as to nginx with `off`).
   */
  readonly sslEarlyData: boolean;
  /** `ssl_reject_handshake`: handshakes that select this server are refused (it needs no certificate). */
  readonly sslRejectHandshake: boolean;
  /** `ssl_buffer_size` (16k): the largest TLS record sent. */
  readonly sslBufferSize: number;
  /** `ssl_certificate_by` (OpenResty's `ssl_certificate_by_lua`): picks the key pair per handshake, or null. */
  readonly sslCertificateBy: CertificateRef | null;
}

/** nginx's protocol names, in order. */
export const TLS_PROTOCOLS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
export type TlsProtocol = (typeof TLS_PROTOCOLS)[number];

/** A configuration error found while a context is made, with the position of the directive that named the file. */
export class ContextError extends Error {
  constructor(
    message: string,
    readonly at: Position | null = null,
  ) {
    super(message);
  }
}

/** A file's bytes, or nginx's `BIO_new_file("X") failed` style line. */
function readNamed(file: string, fail: (reason: string) => string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(fail(`${(err as NodeJS.ErrnoException).code}: ${(err as Error).message.replace(/^[A-Z]+: /, '').split(',')[0]}`));
  }
}

/** Reads a file a directive names; a failure is reported at the directive. */
export function readRef(ref: FileRef, fail: (reason: string) => string): Buffer {
  try {
    return readNamed(ref.path, fail);
  } catch (err) {
    throw new ContextError((err as Error).message, ref.at);
  }
}

/** The passphrases of `ssl_password_file`: one a line, as nginx reads them. */
function passphrases(ref: FileRef): string[] {
  const lines = readRef(ref, (why) => `open() "${ref.path}" failed (${why})`).toString('latin1').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const out = lines.map((l) => l.replace(/\r$/, ''));
  if (!out.length) throw new ContextError(`empty file "${ref.path}"`, ref.at);
  return out;
}

/** The key and the passphrase that opens it (the first line of `ssl_password_file` that does), else nginx's error. */
function loadKey(conf: SslConf, file: string, key: Buffer): string | undefined {
  // An encrypted PEM key ("Proc-Type: 4,ENCRYPTED", or PKCS#8 "ENCRYPTED PRIVATE KEY").
  const encrypted = /ENCRYPTED/.test(key.toString('latin1'));
  // A plain key is checked with the certificate (`cannot load certificate ... with key ...`).
  if (!encrypted && !conf.sslPasswordFile) return undefined;
  const tries = conf.sslPasswordFile ? passphrases(conf.sslPasswordFile) : [undefined];
  let reason = '';
  for (const passphrase of tries) {
    try {
      createPrivateKey(passphrase === undefined ? { key } : { key, passphrase });
      return passphrase;
    } catch (err) {
      reason = (err as Error).message;
    }
  }
  const why = !encrypted ? reason : conf.sslPasswordFile ? 'bad decrypt: maybe wrong password' : 'the key is encrypted and no "ssl_password_file" is set';
  throw new Error(`cannot load certificate key "${file}": PEM_read_bio_PrivateKey() failed (${why})`);
}

/** The PEM blocks of the CA files: `ssl_client_certificate` then `ssl_trusted_certificate`. */
function trustedAuthorities(conf: SslConf): Buffer[] {
  const files = [conf.sslClientCertificate, conf.sslTrustedCertificate].filter((f): f is FileRef => f !== null);
  return files.map((ref) => {
    const pem = readRef(ref, (why) => `SSL_CTX_load_verify_locations("${ref.path}") failed (${why})`);
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ContextError(`SSL_CTX_load_verify_locations("${ref.path}") failed (no certificate in the file)`, ref.at);
    return pem;
  });
}

/** DH parameters from `ssl_dhparam`, checked as nginx's PEM_read_bio_DHparams does. */
function dhParameters(ref: FileRef): Buffer {
  const pem = readRef(ref, (why) => `BIO_new_file("${ref.path}") failed (${why})`);
  if (!/-----BEGIN (X9\.42 )?DH PARAMETERS-----/.test(pem.toString('latin1'))) {
    throw new ContextError(`PEM_read_bio_DHparams("${ref.path}") failed (no start line: Expecting: DH PARAMETERS)`, ref.at);
  }
  return pem;
}

/** The options of `tls.createSecureContext` for a server: key pair, versions, ciphers, curves, DH, CAs. */
export function secureContextOptions(conf: SslConf): tls.SecureContextOptions {
  const versions = [...conf.sslProtocols].sort((a, b) => TLS_PROTOCOLS.indexOf(a as TlsProtocol) - TLS_PROTOCOLS.indexOf(b as TlsProtocol));
  const protocol = { minVersion: versions[0] as tls.SecureVersion, maxVersion: versions[versions.length - 1] as tls.SecureVersion, ciphers: conf.sslCiphers };
  // A server that refuses every handshake needs no key pair: a client without SNI finds none.
  if (!conf.sslCertificates.length && conf.sslRejectHandshake) return protocol;
  if (!conf.sslCertificates.length) throw new Error('no "ssl_certificate" is defined');
  const read = (file: string, what: string) => readNamed(file, (why) => `cannot load ${what} "${file}": ${why.split(':')[0]}`);
  const cert: Buffer[] = [];
  const key: { pem: Buffer; passphrase?: string }[] = [];
  conf.sslCertificates.forEach((certificate, i) => {
    const keyFile = conf.sslCertificateKeys[i];
    if (!keyFile) throw new Error(`no "ssl_certificate_key" is defined for certificate "${certificate}"`);
    cert.push(read(certificate, 'certificate'));
    const pem = read(keyFile, 'certificate key');
    const passphrase = loadKey(conf, keyFile, pem);
    key.push(passphrase === undefined ? { pem } : { pem, passphrase });
  });
  const ca = trustedAuthorities(conf);
  return {
    cert,
    key,
    ...protocol,
    honorCipherOrder: conf.sslPreferServerCiphers,
    ecdhCurve: conf.sslEcdhCurve,
    ...(conf.sslDhparam && { dhparam: dhParameters(conf.sslDhparam) }),
    ...(ca.length && { ca }),
    ...(conf.sslCrl && { crl: readRef(conf.sslCrl, (why) => `X509_load_cert_crl_file("${conf.sslCrl!.path}") failed (${why})`) }),
  };
}

/** Builds (and so checks) a server's secure context; throws a one-line reason (a ContextError when a directive is to blame). */
export function createServerContext(conf: SslConf): SecureContext {
  const options = secureContextOptions(conf);
  try {
    return tls.createSecureContext(options);
  } catch (err) {
    const message = (err as Error).message;
    if (/\bDH\b|dhparam/i.test(message) && conf.sslDhparam) throw new ContextError(`SSL_CTX_set_tmp_dh("${conf.sslDhparam.path}") failed (${message})`, conf.sslDhparam.at);
    if (/crl/i.test(message) && conf.sslCrl) throw new ContextError(`X509_load_cert_crl_file("${conf.sslCrl.path}") failed (${message})`, conf.sslCrl.at);
    throw new Error(`cannot load certificate "${conf.sslCertificates.join('", "')}" with key "${conf.sslCertificateKeys.join('", "')}": ${message}`);
  }
}
