/**
 * nginx's ngx_http_gzip_module and ngx_http_gzip_static_module directives: whether and how
 * responses are compressed (the gzip filter, `filter.ts`), and `gzip_static` (served by the
 * static handler).
 */
import { argsOf, flag, guard, integer, occurrences, oneOf, size, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { compileRegex } from '../../config/values';

/** The gzip module's conf of a block. */
export interface GzipConf {
  readonly gzip: boolean;
  readonly gzipMinLength: number;
  /** MIME types to compress besides text/html; `*` compresses any. */
  readonly gzipTypes: readonly string[];
  readonly gzipCompLevel: number;
  readonly gzipVary: boolean;
  readonly gzipHttpVersion: '1.0' | '1.1';
  /** `gzip_proxied`: off or any (compress responses to requests that came through a proxy). */
  readonly gzipProxied: 'off' | 'any';
  /** `gzip_disable`: User-Agent regexes (case-insensitive), or `msie6`, that get no gzip. */
  readonly gzipDisable: readonly string[];
  /** `gzip_static`: serve `file.gz` beside `file` to clients that take gzip (`always`: to all). */
  readonly gzipStatic: 'off' | 'on' | 'always';
}

/** `gzip_disable`: each value a regex (checked here), or `msie6`. */
function gzipDisable(node: ConfNode, cx: ParseContext): string[] {
  const args: string[] = [];
  for (const item of occurrences(node)) {
    for (const arg of argsOf(item, cx)) {
      if (arg !== 'msie6') guard(item, cx, () => compileRegex(arg, true));
      args.push(arg);
    }
  }
  if (args.length === 0) cx.fail('invalid number of arguments in "gzip_disable" directive', node);
  return args;
}

export const gzipModule: ConfModule<GzipConf> = {
  name: 'gzip',
  directives: {
    gzip: row(INHERITED, flag),
    gzip_min_length: row(INHERITED, size),
    gzip_types: row(INHERITED, (n, cx) => argsOf(n, cx)),
    gzip_comp_level: row(INHERITED, integer(1, 9)),
    gzip_vary: row(INHERITED, flag),
    gzip_http_version: row(INHERITED, oneOf(['1.0', '1.1'])),
    gzip_proxied: row(INHERITED, oneOf(['off', 'any'])),
    gzip_disable: row(INHERITED, gzipDisable, { multiple: true }),
    gzip_static: row(INHERITED, oneOf(['off', 'on', 'always'])),
  },
  defaults: () => ({
    gzip: false,
    gzipMinLength: 20,
    gzipTypes: ['text/html'],
    gzipCompLevel: 1,
    gzipVary: false,
    gzipHttpVersion: '1.1',
    gzipProxied: 'off',
    gzipDisable: [],
    gzipStatic: 'off',
  }),
};
