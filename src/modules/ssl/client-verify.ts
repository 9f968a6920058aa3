/**
 * Client certificates (`ssl_verify_client`, `ssl_verify_depth`): what the handshake found,
 * recorded for `$ssl_client_verify`, and nginx's answer to a request on a connection whose
 * certificate is missing or bad: 400 "No required SSL certificate was sent" (496) or 400 "The
 * SSL certificate error" (495), with nginx's info line. As nginx does, the handshake itself
 * never fails for a client certificate: the request is refused.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket, DetailedPeerCertificate } from 'node:tls';
import { HttpError } from '../../errors';
import { clientVerifyOf, type ClientVerify } from '../../http/ssl-variables';
import type { ServerConf } from '../../config/model';
import type { SslConf } from './contexts';
import { sslModule } from './module';

/** OpenSSL's X509_V_ERR numbers and texts, by the code Node names a verify error with. */
const VERIFY_ERRORS: Readonly<Record<string, readonly [number, string]>> = {
  UNABLE_TO_GET_ISSUER_CERT: [2, 'unable to get issuer certificate'],
  UNABLE_TO_GET_CRL: [3, 'unable to get certificate CRL'],
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: [4, "unable to decrypt certificate's signature"],
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: [6, 'unable to decode issuer public key'],
  CERT_SIGNATURE_FAILURE: [7, 'certificate signature failure'],
  CRL_SIGNATURE_FAILURE: [8, 'CRL signature failure'],
  CERT_NOT_YET_VALID: [9, 'certificate is not yet valid'],
  CERT_HAS_EXPIRED: [10, 'certificate has expired'],
  CRL_NOT_YET_VALID: [11, 'CRL is not yet valid'],
  CRL_HAS_EXPIRED: [12, 'CRL has expired'],
  DEPTH_ZERO_SELF_SIGNED_CERT: [18, 'self-signed certificate'],
  SELF_SIGNED_CERT_IN_CHAIN: [19, 'self-signed certificate in certificate chain'],
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: [20, 'unable to get local issuer certificate'],
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: [21, 'unable to verify the first certificate'],
  CERT_CHAIN_TOO_LONG: [22, 'certificate chain too long'],
  CERT_REVOKED: [23, 'certificate revoked'],
  INVALID_CA: [24, 'invalid CA certificate'],
  PATH_LENGTH_EXCEEDED: [25, 'path length constraint exceeded'],
  INVALID_PURPOSE: [26, 'unsupported certificate purpose'],
  CERT_UNTRUSTED: [27, 'certificate not trusted'],
  CERT_REJECTED: [28, 'certificate rejected'],
};

/** The errors `optional_no_ca` lets through (nginx's ngx_ssl_verify_error_optional). */
const OPTIONAL_NO_CA = new Set([18, 19, 2, 20, 21]);

const failed = (code: string): ClientVerify => {
  const [error, reason] = VERIFY_ERRORS[code] ?? [1, code.toLowerCase().replace(/_/g, ' ')];
  return { text: `FAILED:${reason}`, error, reason };
};

/**
 * The number of certificates from the client's to the trust anchor (Node links the issuers it
 * verified with); OpenSSL's depth `d` allows `d + 2` of them.
 */
function chainLength(leaf: DetailedPeerCertificate): number {
  let length = 1;
  const seen = new Set<DetailedPeerCertificate>([leaf]);
  for (let cert = leaf.issuerCertificate; cert && !seen.has(cert); cert = cert.issuerCertificate) {
    seen.add(cert);
    length++;
  }
  return length;
}

/** What a finished handshake found of the client's certificate (a resumed session's too), checked with the handshake's server's `ssl_verify_depth`. */
export function verifyAtHandshake(socket: TLSSocket, conf: SslConf): ClientVerify {
  // Not cut short for a server that asks for no certificate: a resumed TLSv1.2 session never
  // told which server it is for (no SNI callback), and it carries its certificate all the same.
  const peer = socket.getPeerCertificate(true);
  if (!peer || !peer.raw) return { text: 'NONE', error: null, reason: '' };
  if (!socket.authorized) return failed(String(socket.authorizationError ?? 'CERT_REJECTED'));
  // OpenSSL stops building the chain at the depth, and so finds no trusted issuer (nginx says error 20).
  if (chainLength(peer) > conf.sslVerifyDepth + 2) return failed('UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
  return { text: 'SUCCESS', error: null, reason: '' };
}

/** The end of nginx's line about a request: `, client: ..., server: ..., request: "...", host: "..."`. */
function requestContext(req: IncomingMessage, serverName: string): string {
  const host = req.headers.host;
  return `, client: ${req.socket.remoteAddress ?? 'unix:'}, server: ${serverName}, request: "${req.method} ${req.url} HTTP/${req.httpVersion}"${host ? `, host: "${host}"` : ''}`;
}

/**
 * nginx's check when a request comes on a connection (with the request's server's conf):
 * throws 495 or 496 (sent as 400 with their pages) after its info line.
 */
export function checkClientCertificate(req: IncomingMessage, server: ServerConf, info: (line: string) => void): void {
  const socket = req.socket;
  // A plain connection costs one property read.
  if (!(socket as { encrypted?: boolean }).encrypted) return;
  const conf = server.confs.get(sslModule);
  if (conf.sslVerifyClient === 'off') return;
  const context = () => requestContext(req, server.primaryName);
  const result = clientVerifyOf(socket);
  if (result.error !== null && !(conf.sslVerifyClient === 'optional_no_ca' && OPTIONAL_NO_CA.has(result.error))) {
    info(`client SSL certificate verify error: (${result.error}:${result.reason}) while reading client request headers${context()}`);
    throw new HttpError(495, 'GW_HTTP_495', 'The SSL certificate error');
  }
  if (conf.sslVerifyClient === 'on' && result.text === 'NONE') {
    info(`client sent no required SSL certificate while reading client request headers${context()}`);
    throw new HttpError(496, 'GW_HTTP_496', 'No required SSL certificate was sent');
  }
}
