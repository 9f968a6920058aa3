/**
 * A small HTTP/2 client on Node's `http2`: a session to `h2` (TLS, any certificate) or `h2c`
 * (prior knowledge), and one request on it with its status, headers and whole body.
 */
import http2 from 'node:http2';

/** What one stream answered. */
export interface H2Response {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly trailers: http2.IncomingHttpHeaders;
}

/** A session to `https://127.0.0.1:port` (ALPN h2) or `http://127.0.0.1:port` (h2c with prior knowledge). */
export function h2Connect(port: number, tls: boolean): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`${tls ? 'https' : 'http'}://127.0.0.1:${port}`, { rejectUnauthorized: false });
    session.once('connect', () => {
      session.off('error', reject);
      session.on('error', () => undefined);
      resolve(session);
    });
    session.once('error', reject);
  });
}

/** One request: `headers` may hold pseudo-headers (`:path` defaults to `/`), `body` goes as DATA. */
export function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': '/', ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let status = 0;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h;
    });
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks), trailers }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}
