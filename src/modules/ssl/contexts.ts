/**
 * A server block's secure context, from its `ssl_certificate`, `ssl_certificate_key`,
 * `ssl_protocols` and `ssl_ciphers`: the files are read when it is made, so a reload picks up
 * renewed certificates.
 */
import { readFileSync } from 'node:fs';
import tls, { type SecureContext } from 'node:tls';
import type { ScriptRef } from '../../shared/script-loader';
import type { CertificateAnswer, CertificateContext } from '../../types';

/** An `ssl_certificate_by` script, loaded and configured: `run` is called for every handshake with SNI. */
export type CertificateRef = ScriptRef<[CertificateContext], void | CertificateAnswer | null | Promise<void | CertificateAnswer | null>>;

/** The ssl module's conf of a block. */
export interface SslConf {
  /** `ssl_certificate` and `ssl_certificate_key` (PEM files), null when not set. */
  readonly sslCertificate: string | null;
  readonly sslCertificateKey: string | null;
  /** `ssl_protocols`: nginx's names, `TLSv1.2 TLSv1.3` by default. */
  readonly sslProtocols: readonly string[];
  readonly sslCiphers: string;
  /** `ssl_certificate_by` (OpenResty's `ssl_certificate_by_lua`): picks the key pair per handshake, or null. */
  readonly sslCertificateBy: CertificateRef | null;
}

/** nginx's protocol names, in order. */
export const TLS_PROTOCOLS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
export type TlsProtocol = (typeof TLS_PROTOCOLS)[number];

/** The options of `tls.createSecureContext` for a server: key pair, versions, ciphers. */
export function secureContextOptions(conf: SslConf): tls.SecureContextOptions {
  if (!conf.sslCertificate) throw new Error('no "ssl_certificate" is defined');
  if (!conf.sslCertificateKey) throw new Error(`no "ssl_certificate_key" is defined for certificate "${conf.sslCertificate}"`);
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot load ${what} "${file}": ${(err as NodeJS.ErrnoException).code}`);
    }
  };
  const versions = [...conf.sslProtocols].sort((a, b) => TLS_PROTOCOLS.indexOf(a as TlsProtocol) - TLS_PROTOCOLS.indexOf(b as TlsProtocol));
  return {
    cert: read(conf.sslCertificate, 'certificate'),
    key: read(conf.sslCertificateKey, 'certificate key'),
    minVersion: versions[0] as tls.SecureVersion,
    maxVersion: versions[versions.length - 1] as tls.SecureVersion,
    ciphers: conf.sslCiphers,
  };
}

/** Builds (and so checks) a server's secure context; throws a one-line reason. */
export function createServerContext(conf: SslConf): SecureContext {
  const options = secureContextOptions(conf);
  try {
    return tls.createSecureContext(options);
  } catch (err) {
    throw new Error(`cannot load certificate "${conf.sslCertificate}" with key "${conf.sslCertificateKey}": ${(err as Error).message}`);
  }
}
