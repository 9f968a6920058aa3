/**
 * nginx's `return CODE [text|URL]`, `return URL` (302): how it answers (the rewrite module runs
 * it, in the server-rewrite and rewrite phases), and `handler: return` for a location that
 * names the handler. `444` closes the connection without a response, as nginx does; a redirect code
 * without a URL sends an empty Location, a code under 400 without text an empty body with the
 * URI's type.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import type { MimeTypes } from '../../config/mime';
import { HttpError } from '../../errors';
import { absoluteLocation, type RedirectConf } from '../../http/redirect';
import type { Template } from '../../http/variables';
import type { HandlerModule, LocationConf, LocationModule, PhaseHandler, RequestContext } from '../../types';
import { coreModule } from '../core/module';
import { httpTuningModule } from '../tuning/http-module';
import { rewriteModule } from '../rewrite/module';
import { firstReturn } from '../rewrite/script';

/** `return code [text|URL]` or `return URL` (302), as written. */
export interface ReturnConf {
  readonly status: number;
  readonly text: string | null;
}

/** A location's `return`, compiled: the status, the text or URL, and the types an answer's body takes. */
export interface CompiledReturn {
  readonly status: number;
  readonly text: Template | null;
  readonly types: MimeTypes;
  readonly defaultType: string;
  /** How a redirect's Location names the host and port (`absolute_redirect`...). */
  readonly redirect: RedirectConf;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** nginx's code for "close the connection, send nothing". */
export const CLOSE_WITHOUT_RESPONSE = 444;

/** Compiles a location's `return` with its types. */
export function compileReturn(conf: ReturnConf, location: Pick<LocationConf, 'confs'>, compile: (text: string) => Template): CompiledReturn {
  const core = location.confs.get(coreModule);
  return { status: conf.status, text: conf.text === null ? null : compile(conf.text), types: core.types, defaultType: core.defaultType, redirect: location.confs.get(httpTuningModule) };
}

/** Answers a request as `return` says (an error page and a redirect are thrown `HttpError`s). */
export function respond(ret: CompiledReturn, req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
  const { status, text } = ret;
  if (status === CLOSE_WITHOUT_RESPONSE) {
    req.socket.destroy();
    return;
  }
  // nginx's ngx_http_send_response: a code under 400 always gets the (maybe empty) text;
  // 4xx and 5xx without text get the error page.
  const value = text ? ctx.evaluate(text) : status < 400 ? '' : null;
  if (REDIRECTS.has(status)) respondRedirect(status, value ?? '', ret.redirect, req, ctx);
  if (value === null) throw new HttpError(status);
  const ext = path.extname(ctx.uri).slice(1).toLowerCase();
  const type = ret.types.get(ext) ?? ret.defaultType;
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(value) });
  res.end(req.method === 'HEAD' ? undefined : value);
}

/** A redirect (`return 301 URL`, a redirecting `rewrite`): nginx's page for `status`, with `Location` made absolute as `redirect` says (`absolute_redirect`...). */
export function respondRedirect(status: number, location: string, redirect: RedirectConf, req: IncomingMessage, ctx: RequestContext): never {
  throw new HttpError(status, `GW_HTTP_${status}`, undefined, { Location: absoluteLocation(location, redirect, req, ctx) });
}

/** `handler: return`: the location's `return` as its content handler. */
const returnHandler: HandlerModule<CompiledReturn> = {
  configure(_raw, cx) {
    const ret = firstReturn(cx.location.confs.get(rewriteModule).script);
    if (!ret) return cx.error('handler "return" needs a "return" directive');
    return compileReturn({ status: ret.status, text: ret.text }, cx.location, (text) => cx.compile(text));
  },
  create(ret) {
    return {
      http(req, res, ctx) {
        respond(ret, req, res, ctx);
      },
    };
  },
};

export default returnHandler;
