/**
 * OCSP stapling (`ssl_stapling`, `ssl_stapling_file`): the OCSP response a server staples to its
 * certificate when a client asks for one (`status_request`), through Node's `OCSPRequest` event.
 * With `ssl_stapling_file` the response is the file's (DER, as `openssl ocsp -respout` writes
 * it), read when the worker starts, stapled as it is (nginx does not check a stapling file
 * either). Without a file the certificate's OCSP responder is asked (`ResponderStapler`).
 * Node sends no staple in a TLSv1.3 handshake (nodejs/node#28288): TLSv1.2 clients get it.
 */
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import { ContextError, readRef, type FileRef } from './contexts';
import { checkOcspResponse, ocspRequest } from './ocsp';

/** Reads a stapling file; nginx's `d2i_OCSP_RESPONSE_bio` line when it is not an OCSP response. */
export function readStaplingFile(ref: FileRef): Buffer {
  const der = readRef(ref, (why) => `BIO_new_file("${ref.path}") failed (${why})`);
  if (!looksLikeOcspResponse(der)) throw new ContextError(`d2i_OCSP_RESPONSE_bio("${ref.path}") failed (not a DER OCSP response)`, ref.at);
  return der;
}

/**
 * An OCSPResponse is `SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT ... OPTIONAL }`:
 * checked as far as its outer SEQUENCE spanning the file and its status coming first.
 */
function looksLikeOcspResponse(der: Buffer): boolean {
  if (der.length < 5 || der[0] !== 0x30) return false;
  let at = 1;
  let length = der[at++];
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes > 4) return false;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[at++];
  }
  return at + length === der.length && der[at] === 0x0a && der[at + 1] === 1;
}

/** How long a response without nextUpdate is stapled before it is asked again (nginx: an hour). */
const REFRESH_MS = 3_600_000;
/** After a failure, the next try (nginx: 5 minutes). */
const RETRY_MS = 300_000;
/** The largest response read from a responder (nginx's buffer for it is 16k). */
const MAX_RESPONSE_BYTES = 16384;
/** How long one request to the responder may take. */
const RESPONDER_TIMEOUT_MS = 30_000;

/** What a stapler reports: nginx's warnings and errors. */
export interface StaplerLog {
  warn(line: string): void;
  error(line: string): void;
}

/**
 * `ssl_stapling on` without a file: the OCSP responder named by `ssl_stapling_responder` or by
 * the certificate is asked (HTTP GET, as nginx), once the worker starts and again when the
 * response nears its nextUpdate (at most an hour later; 5 minutes after a failure); the
 * response is stapled once it passes nginx's checks (`ssl_stapling_verify`: its signature
 * too). Until the first answer, handshakes get no staple, as with nginx.
 */
export class ResponderStapler {
  private response: Buffer | undefined;
  private timer: NodeJS.Timeout | null = null;
  private readonly request: Buffer;
  private stopped = false;

  private constructor(
    private readonly certificateFile: string,
    private readonly leaf: X509Certificate,
    private readonly issuer: X509Certificate,
    private readonly url: URL,
    private readonly verify: boolean,
    private readonly log: StaplerLog,
  ) {
    this.request = ocspRequest(leaf, issuer);
  }

  /**
   * A stapler for a server's certificate, or null (and nginx's warning) when it has no issuer in
   * its chain or `ssl_trusted_certificate`, or no responder URL.
   */
  static of(certificateFile: string, chainPem: string, trustedPem: string | null, responder: string | null, verify: boolean, log: StaplerLog): ResponderStapler | null {
    const chain = pemCertificates(chainPem);
    const leaf = chain[0];
    if (!leaf) return null;
    const issuer = [...chain.slice(1), ...pemCertificates(trustedPem ?? '')].find((candidate) => leaf.checkIssued(candidate));
    if (!issuer) {
      log.warn(`"ssl_stapling" ignored, issuer certificate not found for certificate "${certificateFile}"`);
      return null;
    }
    const named = responder ?? /OCSP - URI:(\S+)/.exec(leaf.infoAccess ?? '')?.[1] ?? null;
    if (!named) {
      log.warn(`"ssl_stapling" ignored, no OCSP responder URL in the certificate "${certificateFile}"`);
      return null;
    }
    let url: URL;
    try {
      url = new URL(named);
    } catch {
      url = new URL('invalid:');
    }
    if (url.protocol !== 'http:') {
      log.warn(`"ssl_stapling" ignored, invalid URL prefix in OCSP responder "${named}" in the certificate "${certificateFile}"`);
      return null;
    }
    return new ResponderStapler(certificateFile, leaf, issuer, url, verify, log);
  }

  /** The certificate's DER, which Node's `OCSPRequest` event names. */
  get certificate(): Buffer {
    return this.leaf.raw;
  }

  /** The response to staple now, if there is a valid one. */
  current(): Buffer | undefined {
    return this.response;
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.refresh(), delay);
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    try {
      const der = await this.ask();
      const { nextUpdate } = checkOcspResponse(der, this.leaf, this.issuer, this.verify);
      this.response = der;
      const untilNext = nextUpdate === null ? REFRESH_MS : Math.min(REFRESH_MS, Math.max(RETRY_MS, nextUpdate - Date.now() - RETRY_MS));
      this.schedule(untilNext);
    } catch (err) {
      this.log.error(`${(err as Error).message} while requesting certificate status, responder: ${this.url.host}, certificate: "${this.certificateFile}"`);
      this.schedule(RETRY_MS);
    }
  }

  /** One GET to the responder, the request base64 in the path as nginx sends it. */
  private ask(): Promise<Buffer> {
    const base = this.url.pathname.endsWith('/') ? this.url.pathname : `${this.url.pathname}/`;
    const target = `${base}${encodeURIComponent(this.request.toString('base64'))}`;
    return new Promise((resolve, reject) => {
      const req = http.get({ host: this.url.hostname, port: this.url.port || 80, path: target, headers: { Host: this.url.host }, agent: false, timeout: RESPONDER_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) return req.destroy(new Error('OCSP responder sent too long response'));
          chunks.push(c);
        });
        res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`OCSP responder sent invalid "${res.statusCode}" status`))));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('OCSP responder timed out (110: Connection timed out)')));
      req.on('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code ? `connect() failed (${err.code}: ${err.message})` : err.message)));
    });
  }
}

/** The certificates of a PEM text, in order. */
function pemCertificates(pem: string): X509Certificate[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
}
