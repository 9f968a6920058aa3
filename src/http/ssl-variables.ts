/**
 * nginx's `$ssl_*` variables (ngx_http_ssl_module), read from the request's TLS connection:
 * empty on a plain connection, as nginx's. The client certificate's result is what the TLS
 * server recorded at the handshake (`recordClientVerify`), since it is checked with the
 * handshake's server's `ssl_verify_depth`.
 */
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** A client certificate's check, as `$ssl_client_verify` tells it. */
export interface ClientVerify {
  /** `NONE` (no certificate), `SUCCESS`, or `FAILED:reason`. */
  readonly text: string;
  /** OpenSSL's number of the failure (18 for a self-signed certificate), null unless FAILED. */
  readonly error: number | null;
  /** OpenSSL's reason text (`self-signed certificate`), empty unless FAILED. */
  readonly reason: string;
}

const verified = new WeakMap<object, ClientVerify>();

/** Records what a connection's client certificate check found (the TLS server does, once the handshake is done). */
export function recordClientVerify(socket: TLSSocket, result: ClientVerify): void {
  verified.set(socket, result);
}

/** The connection's client certificate check; NONE when none was asked for or sent. */
export function clientVerifyOf(socket: Socket): ClientVerify {
  return verified.get(socket) ?? NONE;
}

const NONE: ClientVerify = { text: 'NONE', error: null, reason: '' };

/** A source of the variables: the request's connection. */
interface SslSource {
  readonly mainRequest: { readonly socket: Socket };
}

function tlsOf(s: SslSource): TLSSocket | null {
  const socket = s.mainRequest.socket as TLSSocket | undefined;
  return socket && (socket as { encrypted?: boolean }).encrypted ? socket : null;
}

const certificates = new WeakMap<object, X509Certificate | null>();

/** The client's certificate, parsed once per connection. */
function clientCertificate(s: SslSource): X509Certificate | null {
  const socket = tlsOf(s);
  if (!socket) return null;
  let cert = certificates.get(socket);
  if (cert === undefined) {
    cert = socket.getPeerX509Certificate() ?? null;
    certificates.set(socket, cert);
  }
  return cert;
}

/**
 * A distinguished name in RFC 2253's order (most significant last) and commas, as nginx's
 * `$ssl_client_s_dn`: Node's lines (one RDN each, most significant first) come escaped already
 * (`O=Org\, Inc`).
 */
export function rfc2253(name: string): string {
  return name.split('\n').filter(Boolean).reverse().join(',');
}

/** nginx's legacy form, unescaped: `/C=US/O=Org, Inc/CN=name`. */
function legacyDn(name: string): string {
  return name
    .split('\n')
    .filter(Boolean)
    .map((rdn) => `/${rdn.replace(/\\(.)/g, '$1')}`)
    .join('');
}

/** `$ssl_client_escaped_cert`: the PEM escaped as nginx's NGX_ESCAPE_URI_COMPONENT. */
function escapeComponent(text: string): string {
  return text.replace(/[^A-Za-z0-9\-._~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** The session id of a serialized session (an SSL_SESSION in DER: the fourth field of its SEQUENCE). */
export function sessionIdOf(session: Buffer | undefined): string {
  if (!session) return '';
  try {
    let at = 0;
    const header = () => {
      const tag = session[at++];
      let length = session[at++];
      if (length & 0x80) {
        const bytes = length & 0x7f;
        length = 0;
        for (let i = 0; i < bytes; i++) length = length * 256 + session[at++];
      }
      return { tag, length };
    };
    if (header().tag !== 0x30) return '';
    for (let field = 0; field < 3; field++) {
      const skipped = header().length;
      at += skipped;
    }
    const { tag, length } = header();
    return tag === 0x04 ? session.subarray(at, at + length).toString('hex') : '';
  } catch {
    return '';
  }
}

/** `May  5 12:00:00 2027 GMT` as days from now, nginx's `$ssl_client_v_remain`. */
function daysLeft(validTo: string): string {
  const end = Date.parse(validTo);
  if (Number.isNaN(end)) return '';
  return String(Math.max(0, Math.floor((end - Date.now()) / 86_400_000)));
}

type Getter = (s: SslSource) => string;

const fromSocket = (read: (socket: TLSSocket) => string): Getter => (s) => {
  const socket = tlsOf(s);
  return socket ? read(socket) : '';
};
const fromCertificate = (read: (cert: X509Certificate, s: SslSource) => string): Getter => (s) => {
  const cert = clientCertificate(s);
  return cert ? read(cert, s) : '';
};

/** The `$ssl_*` variables Node can tell, by name (without `$`). */
export const SSL_VARIABLES: Readonly<Record<string, Getter>> = {
  ssl_protocol: fromSocket((socket) => socket.getProtocol() ?? ''),
  ssl_cipher: fromSocket((socket) => socket.getCipher()?.name ?? ''),
  ssl_server_name: fromSocket((socket) => (typeof socket.servername === 'string' ? socket.servername : '')),
  ssl_alpn_protocol: fromSocket((socket) => (typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : '')),
  ssl_session_id: fromSocket((socket) => sessionIdOf(socket.getSession())),
  ssl_session_reused: fromSocket((socket) => (socket.isSessionReused() ? 'r' : '.')),
  ssl_early_data: () => '',
  ssl_client_verify: fromSocket((socket) => clientVerifyOf(socket).text),
  ssl_client_s_dn: fromCertificate((cert) => rfc2253(cert.subject)),
  ssl_client_i_dn: fromCertificate((cert) => rfc2253(cert.issuer)),
  ssl_client_s_dn_legacy: fromCertificate((cert) => legacyDn(cert.subject)),
  ssl_client_i_dn_legacy: fromCertificate((cert) => legacyDn(cert.issuer)),
  ssl_client_serial: fromCertificate((cert) => cert.serialNumber.toUpperCase()),
  ssl_client_fingerprint: fromCertificate((cert) => cert.fingerprint.replace(/:/g, '').toLowerCase()),
  ssl_client_raw_cert: fromCertificate((cert) => cert.toString()),
  // The deprecated form: every line after the first starts with a tab.
  ssl_client_cert: fromCertificate((cert) => cert.toString().replace(/\n$/, '').replace(/\n/g, '\n\t')),
  ssl_client_escaped_cert: fromCertificate((cert) => escapeComponent(cert.toString())),
  ssl_client_v_start: fromCertificate((cert) => cert.validFrom),
  ssl_client_v_end: fromCertificate((cert) => cert.validTo),
  ssl_client_v_remain: fromCertificate((cert) => daysLeft(cert.validTo)),
};
