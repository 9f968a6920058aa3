/**
 * Access log lines: nginx's predefined `combined` format, and a `log_format` compiled once with
 * nginx's escaping of variable values (`escape=default`, `json`, `none`).
 */
import type { LogFormatConf } from '../../config/model';
import { compileValue, type Template } from '../../http/variables';

/** nginx's predefined access log format. */
export const COMBINED_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

/**
 * nginx's default escaping of variable values in access logs: `"`, `\` and bytes outside
 * printable ASCII become `\xHH`; an empty value is written as `-`.
 */
export function escapeLogValue(value: string): string {
  if (value === '') return '-';
  if (!/["\\\x00-\x1f\x7f-\uffff]/.test(value)) return value;
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte === 0x22 || byte === 0x5c || byte < 0x20 || byte > 0x7e ? `\\x${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
  }
  return out;
}

/**
 * nginx's `escape=json`: variable values become valid JSON string content (`"` and `\` escaped,
 * control characters as \uXXXX); an empty value stays empty.
 */
export function escapeJsonValue(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}

const ESCAPES = { default: escapeLogValue, json: escapeJsonValue, none: (value: string) => value };

/** Compiles a `log_format` once: a request's line is then one template call. */
export function compileLogFormat(format: LogFormatConf, captureNames: ReadonlySet<string>): Template {
  return compileValue(format.format, captureNames, ESCAPES[format.escape]);
}
