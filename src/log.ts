/**
 * The error log (nginx's levels and line format) and access logs (`log_format` templates,
 * nginx's `combined` by default). Files are opened once per path, appended to through streams
 * (no blocking write on the event loop), and reopened on `reopen`.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { ErrorLogConf, LogFormatConf, LogLevel } from './config/model';
import type { Logger } from './types';
import { compileValue, type CompiledValue, type VariableSource } from './variables';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'notice', 'warn', 'error', 'crit', 'alert', 'emerg'];

/** nginx's predefined access log format. */
export const COMBINED_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

/** An append-only log destination: a file, or the process's stderr/stdout. */
interface Sink {
  write(line: string): void;
}

/** Every log file the process writes, opened once by path, reopened together. */
export class LogFiles {
  private readonly files = new Map<string, WriteStream>();

  /** The sink for `target` (`stderr`, `stdout` or a file path). */
  sink(target: string): Sink {
    if (target === 'stderr') return process.stderr;
    if (target === 'stdout') return process.stdout;
    return { write: (line) => this.stream(target).write(line) };
  }

  private stream(file: string): WriteStream {
    let stream = this.files.get(file);
    if (!stream) {
      stream = this.open(file);
      this.files.set(file, stream);
    }
    return stream;
  }

  private open(file: string): WriteStream {
    mkdirSync(path.dirname(file), { recursive: true });
    const stream = createWriteStream(file, { flags: 'a' });
    stream.on('error', (err) => process.stderr.write(`gateway: [alert] cannot write "${file}": ${err.message}\n`));
    return stream;
  }

  /** Reopens every file (after logrotate moved them), as nginx's `reopen` signal. */
  reopen(): void {
    for (const [file, old] of this.files) {
      this.files.set(file, this.open(file));
      old.end();
    }
  }

  /** Flushes and closes every file. */
  async close(): Promise<void> {
    const streams = [...this.files.values()];
    this.files.clear();
    await Promise.all(streams.map((s) => new Promise<void>((resolve) => s.end(resolve))));
  }
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `2026/11/23 20:29:12`, nginx's error log time. */
function errorLogTime(d: Date): string {
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A Logger writing nginx-style lines at or above `conf.level`. */
export function createErrorLog(conf: ErrorLogConf, files: LogFiles): Logger {
  const sink = files.sink(conf.path);
  const threshold = LEVELS.indexOf(conf.level);
  const at = (level: LogLevel) => {
    if (LEVELS.indexOf(level) < threshold) return () => {};
    return (message: string) => sink.write(`${errorLogTime(new Date())} [${level}] ${process.pid}#0: ${message}\n`);
  };
  return { debug: at('debug'), info: at('info'), notice: at('notice'), warn: at('warn'), error: at('error'), crit: at('crit') };
}

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

/** One compiled `access_log`: where it goes and how a line is made. */
export interface AccessLog {
  write(source: VariableSource): void;
}

/**
 * nginx's `escape=json`: variable values become valid JSON string content (`"` and `\` escaped,
 * control characters as \uXXXX); an empty value stays empty.
 */
export function escapeJsonValue(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}

const ESCAPES = { default: escapeLogValue, json: escapeJsonValue, none: (value: string) => value };

/** Compiles a `log_format` once; each request then costs one template call and one write. */
export function createAccessLog(target: string, format: LogFormatConf, captureNames: ReadonlySet<string>, files: LogFiles): AccessLog {
  const line: CompiledValue = compileValue(format.format, captureNames, ESCAPES[format.escape]);
  const sink = files.sink(target);
  return { write: (source) => sink.write(`${line(source)}\n`) };
}
