/**
 * nginx's ngx_http_charset_module directives: `charset`, `source_charset`, `override_charset`,
 * `charset_types`. The gateway adds the charset to the Content-Type as nginx does
 * (charset-filter.ts); it recodes nothing: nginx refuses a `source_charset` other than the
 * `charset` without a `charset_map` (which stays not supported yet), and so does the gateway.
 */
import { argsOf, flag, one, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';

/** A block's charset settings. */
export interface CharsetConf {
  /** `charset NAME | off`: null is off. */
  readonly charset: string | null;
  /** `source_charset NAME`: the charset the responses are in; null when unset. */
  readonly sourceCharset: string | null;
  readonly overrideCharset: boolean;
  /** `charset_types`: the MIME types (lower case) that get the charset; `*` for any. */
  readonly charsetTypes: readonly string[];
}

/** nginx's default `charset_types`. */
export const DEFAULT_CHARSET_TYPES: readonly string[] = ['text/html', 'text/xml', 'text/plain', 'text/vnd.wap.wml', 'application/javascript', 'application/rss+xml'];

/** A charset name; a variable (`charset $c`) is refused as not supported yet. */
function charsetName(node: ConfNode, cx: ParseContext, name: string, offAllowed: boolean): string | null {
  const value = one(node, cx, name, offAllowed);
  if (offAllowed && value === 'off') return null;
  if (value.includes('$')) cx.fail(`variables in "${name}" are not supported yet`, node);
  return value;
}

export const charsetModule: ConfModule<CharsetConf> = {
  name: 'charset',
  directives: {
    charset: row(INHERITED, (n, cx, name) => charsetName(n, cx, name, true)),
    source_charset: row(INHERITED, (n, cx, name) => charsetName(n, cx, name, false)),
    override_charset: row(INHERITED, flag),
    charset_types: row(INHERITED, (n, cx, name) => {
      const args = argsOf(n, cx);
      if (args.length === 0) cx.fail(`invalid number of arguments in "${name}" directive`, n);
      // nginx always keeps text/html among them.
      return [...new Set(['text/html', ...args.map((a) => a.toLowerCase())])];
    }),
  },
  defaults: () => ({ charset: null, sourceCharset: null, overrideCharset: false, charsetTypes: DEFAULT_CHARSET_TYPES }),
  // nginx's postconfiguration: a server or location that would recode needs a charset_map (names compare without case).
  check(conf, _own, block, fail) {
    if (block.context === 'http' || conf.charset === null || conf.sourceCharset === null) return;
    if (conf.charset.toLowerCase() === conf.sourceCharset.toLowerCase()) return;
    fail(`no "charset_map" between the charsets "${conf.sourceCharset}" and "${conf.charset}"`, block.at('source_charset'));
  },
};

