/**
 * The proxy's response-side directives: `proxy_buffering`, `proxy_hide_header`,
 * `proxy_pass_header` and `proxy_redirect`, parsed as nginx parses them. Rows of the directive
 * table, kept apart from it; the argument splitting comes from the table's `argsOf`.
 */
import type { ConfNode } from '../../config/load';
import { compileValue } from '../../http/variables';
import type { ProxyRedirectConf } from '../../config/model';

/** What a parser may use (the table's ParseContext, narrowed): failing at a node, the named captures in the file. */
interface FailContext {
  fail(reason: string, node: ConfNode): never;
  readonly captureNames?: ReadonlySet<string>;
}

/** Splits one occurrence into nginx's arguments (the table's `argsOf`). */
type ArgsOf<C extends FailContext> = (node: ConfNode, cx: C) => string[];

/** Each occurrence of a repeatable directive: a list's items, or the one value. */
const occurrences = (node: ConfNode): ConfNode[] => (node.kind === 'seq' ? [...node.items] : [node]);

/** `proxy_hide_header` and `proxy_pass_header`: one header name per occurrence. */
export function headerNames<C extends FailContext>(argsOf: ArgsOf<C>) {
  return (node: ConfNode, cx: C, name: string): string[] =>
    occurrences(node).map((n) => {
      const args = argsOf(n, cx);
      if (args.length !== 1) cx.fail(`invalid number of arguments in "${name}" directive`, n);
      return args[0];
    });
}

/**
 * `proxy_redirect`: `off` alone, or occurrences of `default` and `redirect replacement`.
 * `~` (regex) redirects are refused as not supported yet.
 */
export function proxyRedirect<C extends FailContext>(argsOf: ArgsOf<C>) {
  return (node: ConfNode, cx: C): ProxyRedirectConf[] => {
    const all = occurrences(node);
    const rules: ProxyRedirectConf[] = [];
    for (const n of all) {
      const args = argsOf(n, cx);
      if (args.length === 1 && args[0] === 'off') {
        if (all.length !== 1) cx.fail('"proxy_redirect" directive is duplicate', n);
        return [];
      }
      if (args.length === 1 && args[0] === 'default') {
        rules.push('default');
        continue;
      }
      if (args.length === 1) cx.fail(`invalid parameter "${args[0]}"`, n);
      if (args.length !== 2) cx.fail('invalid number of arguments in "proxy_redirect" directive', n);
      if (args[0].startsWith('~')) cx.fail('regular expressions in "proxy_redirect" are not supported yet', n);
      for (const arg of args) {
        try {
          compileValue(arg, cx.captureNames ?? new Set());
        } catch (err) {
          cx.fail(`${(err as Error).message} in "proxy_redirect"`, n);
        }
      }
      rules.push({ redirect: args[0], replacement: args[1] });
    }
    return rules;
  };
}
