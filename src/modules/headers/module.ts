/**
 * nginx's ngx_http_headers_module: `add_header` and `expires` at http, server and location,
 * applied by the header filter (`filter.ts`) to whatever handler made the response.
 */
import { guard, namedPairs, onOffArgs, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { compileValue } from '../../http/variables';
import { parseExpires, type ExpiresConf } from './expires';

/** `add_header name value [always]`. */
export interface AddHeaderConf {
  readonly name: string;
  readonly value: string;
  readonly always: boolean;
}

/** The headers module's conf of a block. */
export interface HeadersConf {
  readonly addHeaders: readonly AddHeaderConf[];
  /** `expires`: Expires and Cache-Control on 2xx/3xx responses. */
  readonly expires: ExpiresConf;
}

function addHeaders(node: ConfNode, cx: ParseContext): AddHeaderConf[] {
  return namedPairs(node, cx, 'add_header').map(({ args, node: n }) => {
    const always = args.length === 3 && args[2] === 'always';
    if (args.length > 3 || (args.length === 3 && !always)) cx.fail(`invalid parameter "${args[2]}" in "add_header" directive`, n);
    guard(node, cx, () => compileValue(args[1], cx.captureNames));
    return { name: args[0], value: args[1], always };
  });
}

function expires(node: ConfNode, cx: ParseContext): ExpiresConf {
  const conf = guard(node, cx, () => parseExpires(onOffArgs(node, cx)));
  if (conf.kind === 'variable') guard(node, cx, () => compileValue(conf.template, cx.captureNames));
  return conf;
}

export const headersModule: ConfModule<HeadersConf> = {
  name: 'headers',
  directives: {
    add_header: row(INHERITED, addHeaders, { field: 'addHeaders', multiple: true }),
    expires: row(INHERITED, expires),
  },
  defaults: () => ({ addHeaders: [], expires: { kind: 'off' } }),
};
