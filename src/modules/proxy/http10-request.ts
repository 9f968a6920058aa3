/**
 * An upstream request whose request line says `HTTP/1.0`, as nginx's under `proxy_http_version
 * 1.0` (its default). Node's `ClientRequest` writes `HTTP/1.1` whatever it is asked; this
 * subclass changes the line of its own requests only (the header block is stored once, by
 * `_storeHeader`, when the request is first written), nothing Node-wide. The rest is what the
 * proxy already does for HTTP/1.0: a body of unknown length is read whole first and sent with
 * its Content-Length (an HTTP/1.0 server cannot read chunked), `Connection: close` unless the
 * location says otherwise, and a response without a length is read to the connection's close
 * (Node's parser does so for any response without one).
 */
import { ClientRequest, type ClientRequestArgs } from 'node:http';

/** Node's own header store, which writes the request line it is given. */
type StoreHeader = (this: ClientRequest, firstLine: string, headers: unknown) => void;
const storeHeader = (ClientRequest.prototype as unknown as { _storeHeader: StoreHeader })._storeHeader;

const HTTP11 = ' HTTP/1.1\r\n';

/** Whether this Node's ClientRequest stores its header the way the override expects (checked once, at load). */
export const HTTP10_SUPPORTED = typeof storeHeader === 'function';

/** A `ClientRequest` on `options.agent` (its protocol: `https:` for a TLS agent) that writes `HTTP/1.0`. */
export class Http10Request extends ClientRequest {
  constructor(options: ClientRequestArgs) {
    super(options);
  }

  /** Node's header store, given the request line with `HTTP/1.0`. */
  _storeHeader(firstLine: string, headers: unknown): void {
    const line = firstLine.endsWith(HTTP11) ? `${firstLine.slice(0, -HTTP11.length)} HTTP/1.0\r\n` : firstLine;
    storeHeader.call(this, line, headers);
  }
}
