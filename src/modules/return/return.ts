/**
 * The `return` handler: `return CODE [text|URL]`, `return URL` (302). `444` closes the
 * connection without a response, as nginx does; a redirect code without a URL sends an empty
 * Location, a code under 400 without text an empty body with the URI's type.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { HttpError } from '../../errors';
import { absoluteUrl, redirectHost } from '../../http/redirect';
import type { HandlerModule, RequestContext } from '../../types';
import { compileValue, type CompiledValue } from '../../http/variables';
import type { RequestState } from '../../server/request-state';

/** The checked `return`: the status and the compiled text or URL. */
export interface ReturnOptions {
  readonly status: number;
  readonly text: CompiledValue | null;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** nginx's code for "close the connection, send nothing". */
export const CLOSE_WITHOUT_RESPONSE = 444;

const returnHandler: HandlerModule<ReturnOptions> = {
  configure(_raw, cx) {
    const ret = cx.location.return;
    if (!ret) return cx.error('handler "return" needs a "return" directive');
    return { status: ret.status, text: ret.text === null ? null : compileValue(ret.text, cx.captureNames) };
  },

  create({ status, text }) {
    return {
      http(req: IncomingMessage, res: ServerResponse, ctx: RequestContext) {
        if (status === CLOSE_WITHOUT_RESPONSE) {
          req.socket.destroy();
          return;
        }
        // nginx's ngx_http_send_response: a code under 400 always gets the (maybe empty) text;
        // 4xx and 5xx without text get the error page.
        const value = text ? text(ctx as RequestState) : status < 400 ? '' : null;
        if (REDIRECTS.has(status)) {
          throw new HttpError(status, `GW_HTTP_${status}`, undefined, { Location: absolute(value ?? '', req, ctx) });
        }
        if (value === null) throw new HttpError(status);
        const ext = path.extname(ctx.uri).slice(1).toLowerCase();
        const type = ctx.location.types.get(ext) ?? ctx.location.defaultType;
        res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(value) });
        res.end(req.method === 'HEAD' ? undefined : value);
      },
    };
  },
};

/**
 * nginx's absolute_redirect: a Location starting with `/` gets the scheme, the host the client
 * named (else the local address, as nginx without a Host) and the local port unless default.
 */
function absolute(location: string, req: IncomingMessage, ctx: RequestContext): string {
  if (!location.startsWith('/')) return location;
  return absoluteUrl(ctx.scheme, redirectHost(req, ctx), ctx.variable('server_port'), location);
}

export default returnHandler;
