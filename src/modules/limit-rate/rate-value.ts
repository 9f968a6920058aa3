/**
 * A rate or size that may hold variables (nginx's `ngx_http_set_complex_value_size_slot`, as
 * `limit_rate`, `limit_rate_after` and `proxy_limit_rate` take it): a constant is parsed at
 * load (`"X" directive invalid value` when it is no size); a value with variables is compiled
 * at load and parsed per request, where a value that is no size counts as 0 and is an error line
 * (`invalid size "X"`, nginx's `ngx_http_complex_value_size`).
 */
import { one, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { parseSize } from '../../config/values';
import { compileValue, type Template } from '../../http/variables';
import { requestLogContext } from '../../shared/log-context';
import type { RequestContext } from '../../types';
import type { IncomingMessage } from 'node:http';

/** A size known at load (`bytes`), or a value with variables (`template`). */
export type SizeValue = { readonly bytes: number; readonly template: null } | { readonly bytes: 0; readonly template: Template };

/** The size of nothing written: 0 (no limit). */
export const NO_SIZE: SizeValue = { bytes: 0, template: null };

/** A size, or a value with variables: the directive row's parser. */
export function sizeValue(node: ConfNode, cx: ParseContext, name: string): SizeValue {
  const text = one(node, cx, name);
  if (text.includes('$')) {
    try {
      return { bytes: 0, template: compileValue(text, cx.captureNames) };
    } catch (err) {
      return cx.fail((err as Error).message, node);
    }
  }
  try {
    return { bytes: parseSize(text), template: null };
  } catch {
    return cx.fail(`"${name}" directive invalid value`, node);
  }
}

/** Whether the value is 0 whatever the request (a constant 0). */
export function alwaysZero(value: SizeValue): boolean {
  return value.template === null && value.bytes === 0;
}

/** The value for this request, in bytes. */
export function sizeFor(value: SizeValue, req: IncomingMessage, ctx: RequestContext): number {
  if (value.template === null) return value.bytes;
  const text = ctx.evaluate(value.template);
  try {
    return parseSize(text);
  } catch {
    ctx.log.error(`invalid size "${text}"${requestLogContext(req, ctx)}`);
    return 0;
  }
}
