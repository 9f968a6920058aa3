/**
 * nginx's ngx_http_log_module: `log_format` (http) and `access_log` (http, server, location),
 * written once per request in the log phase.
 */
import path from 'node:path';
import { argsOf, guard, occurrences, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { plainValue } from '../../config/load';
import type { AccessLogConf, LogFormatConf } from '../../config/model';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { compileValue } from '../../http/variables';

/** The log module's conf of a block. */
export interface LogConf {
  /** `log_format` by name (http), besides the built-in `combined`. */
  readonly logFormats: ReadonlyMap<string, LogFormatConf>;
  readonly accessLogs: readonly AccessLogConf[];
}

function accessLogs(node: ConfNode, cx: ParseContext): AccessLogConf[] {
  const logs: AccessLogConf[] = [];
  for (const occurrence of occurrences(node)) {
    const args = argsOf(occurrence, cx, true);
    if (args[0] === 'off') {
      if (args.length !== 1 || occurrences(node).length !== 1) cx.fail('"off" must be the only "access_log" value', occurrence);
      return [];
    }
    if (args.length < 1 || args.length > 2) cx.fail('invalid number of arguments in "access_log" directive', occurrence);
    logs.push({ path: args[0] === 'stderr' || args[0] === 'stdout' ? args[0] : path.resolve(cx.prefix, args[0]), format: args[1] ?? 'combined' });
  }
  return logs;
}

/** One `log_format`: its name, its format text (nginx joins the format's arguments) and where it stands. */
interface FormatText {
  readonly name: string;
  readonly text: unknown;
  readonly node: ConfNode;
}

/**
 * The formats of `log_format`: the map form `{ name: "[escape=...] format" }` (a list of strings
 * is joined), or nginx's `name [escape=...] format...` occurrences, its arguments joined.
 */
function formatTexts(node: ConfNode, cx: ParseContext): FormatText[] {
  if (node.kind === 'map') {
    return node.entries.map((e) => {
      const value = plainValue(e.value);
      return { name: e.key, text: Array.isArray(value) ? value.join('') : value, node: e.value };
    });
  }
  return occurrences(node).map((n) => {
    const args = argsOf(n, cx);
    if (args.length < 2) cx.fail('invalid number of arguments in "log_format" directive', n);
    const [name, ...format] = args;
    const escape = format[0].startsWith('escape=') && format.length > 1 ? `${format.shift()} ` : '';
    return { name, text: escape + format.join(''), node: n };
  });
}

/** `log_format`, by name, each checked and its variables compiled once. */
function logFormats(node: ConfNode, cx: ParseContext): Map<string, LogFormatConf> {
  const formats = new Map<string, LogFormatConf>();
  for (const { name, text, node: at } of formatTexts(node, cx)) {
    const e = { key: name, value: at };
    if (typeof text !== 'string' || !text) cx.fail(`invalid format for "${e.key}"`, e.value);
    if (formats.has(e.key)) cx.fail(`duplicate "log_format" name "${e.key}"`, e.value);
    if (e.key === 'combined') cx.fail('duplicate "log_format" name "combined"', e.value);
    // nginx's separators only: `escape=json\u00a0$x` is an unknown escaping, not json.
    const escape = /^escape=([^ \t\r\n]*)(?:[ \t\r\n]+|$)/.exec(text as string);
    if (escape && !['default', 'json', 'none'].includes(escape[1])) cx.fail(`unknown log format escaping "${escape[1]}"`, e.value);
    const format = escape ? (text as string).slice(escape[0].length) : (text as string);
    formats.set(e.key, { format, escape: (escape?.[1] ?? 'default') as LogFormatConf['escape'] });
  }
  for (const [, f] of formats) guard(node, cx, () => compileValue(f.format, cx.captureNames));
  return formats;
}

export const logModule: ConfModule<LogConf> = {
  name: 'log',
  directives: {
    log_format: row(['http'], logFormats, { field: 'logFormats', multiple: true }),
    access_log: row(INHERITED, accessLogs, { field: 'accessLogs', multiple: true }),
  },
  defaults: (prefix) => ({ logFormats: new Map(), accessLogs: [{ path: path.resolve(prefix, 'logs/access.log'), format: 'combined' }] }),
  check(conf, _own, block, fail) {
    if (block.context === 'http') return;
    for (const log of conf.accessLogs) {
      if (log.format !== 'combined' && !conf.logFormats.has(log.format)) fail(`unknown log format "${log.format}"`, block.position);
    }
  },
};
