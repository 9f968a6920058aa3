/**
 * nginx's `return` (ngx_http_rewrite_module): a location's answer, given in the rewrite phase,
 * before access checks and content handlers (`phase.ts`).
 */
import { argsOf, guard, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { row, type ConfModule } from '../../config/module';
import { compileValue } from '../../http/variables';

/** `return code [text|URL]` or `return URL` (302). */
export interface ReturnConf {
  readonly status: number;
  readonly text: string | null;
}

/** The return module's conf of a block. */
export interface ReturnModuleConf {
  /** The location's `return` (its own: not inherited), or null. */
  readonly return: ReturnConf | null;
}

function returnDirective(node: ConfNode, cx: ParseContext): ReturnConf {
  const args = argsOf(node, cx);
  if (args.length < 1 || args.length > 2) cx.fail('invalid number of arguments in "return" directive', node);
  let conf: ReturnConf;
  if (args.length === 1 && /^(https?:\/\/|\$scheme)/.test(args[0])) {
    conf = { status: 302, text: args[0] };
  } else {
    const status = Number(args[0]);
    if (!/^\d{3}$/.test(args[0]) || status > 999) cx.fail(`invalid return code "${args[0]}"`, node);
    conf = { status, text: args[1] ?? null };
  }
  if (conf.text) guard(node, cx, () => compileValue(conf.text!, cx.captureNames));
  return conf;
}

export const returnModule: ConfModule<ReturnModuleConf> = {
  name: 'return',
  directives: {
    return: row(['location'], returnDirective, { inherit: false }),
  },
  defaults: () => ({ return: null }),
  implies: { return: 'return' },
};
