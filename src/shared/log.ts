/**
 * Log files and the error log (nginx's levels and line format). Files are opened once per path,
 * reopened on `reopen`, and written as nginx writes them, with a blocking `write()`: the lines of
 * one turn of the event loop go out together at its end, in one call (no thread-pool round trip
 * per line). The access log's lines are the log module's.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { ErrorLogConf, LogLevel } from '../config/model';
import type { LogSink, Logger } from '../types';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'notice', 'warn', 'error', 'crit', 'alert', 'emerg'];

/** An append-only log destination: a file, or the process's stderr/stdout. */
type Sink = LogSink;

/**
 * A standard stream as a sink. A write that fails (EPIPE: the reader of a pipe went away) drops
 * that line and the ones after, as nginx drops a failed log write; unhandled, the stream's error
 * would be an uncaught exception, whose own log line fails again, without end: a process
 * spinning a core that no signal reaches.
 */
class StandardSink implements Sink {
  private broken = false;

  constructor(private readonly stream: NodeJS.WriteStream) {
    stream.on('error', () => {
      this.broken = true;
    });
  }

  write(line: string): void {
    if (!this.broken) this.stream.write(line);
  }
}

/** stderr's and stdout's sinks, made once per process (one error listener each). */
let standardSinks: { stderr: StandardSink; stdout: StandardSink } | null = null;

/** The sink of `process.stderr` (`'stderr'`) or `process.stdout`. */
function standardSink(name: 'stderr' | 'stdout'): Sink {
  standardSinks ??= { stderr: new StandardSink(process.stderr), stdout: new StandardSink(process.stdout) };
  return standardSinks[name];
}

/** Lines held for one turn of the loop at most; past this many characters they go out at once. */
const FLUSH_AT = 64 * 1024;

/** One log file open for appending: lines gathered during a turn of the loop, written at its end. */
class LogFile implements Sink {
  /** The descriptor, or -1 when the file could not be opened (its lines are dropped until a reopen). */
  private fd: number;
  private pending = '';
  private scheduled: NodeJS.Immediate | null = null;
  private failed = false;

  constructor(private readonly file: string) {
    this.fd = this.open();
  }

  private open(): number {
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      return openSync(this.file, 'a');
    } catch (err) {
      this.alert(err);
      return -1;
    }
  }

  /** nginx's alert, said once per run of failures (a full disk), never thrown at a request. */
  private alert(err: unknown): void {
    if (!this.failed) standardSink('stderr').write(`gateway: [alert] cannot write "${this.file}": ${(err as Error).message}\n`);
    this.failed = true;
  }

  write(line: string): void {
    if (this.fd < 0) return;
    this.pending += line;
    if (this.pending.length >= FLUSH_AT) this.flush();
    else this.scheduled ??= setImmediate(() => this.flush());
  }

  /** Writes what is pending (O_APPEND: whole batches never interleave with another process's). */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    if (this.pending === '' || this.fd < 0) return;
    let data = Buffer.from(this.pending);
    this.pending = '';
    try {
      while (data.length > 0) data = data.subarray(writeSync(this.fd, data));
      this.failed = false;
    } catch (err) {
      this.alert(err);
    }
  }

  /** Flushes and opens the path again (logrotate moved the file). */
  reopen(): void {
    this.flush();
    const old = this.fd;
    this.fd = this.open();
    if (old >= 0) closeSync(old);
  }

  close(): void {
    this.flush();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Every log file the process writes, opened once by path, reopened together. */
export class LogFiles {
  private readonly files = new Map<string, LogFile>();
  private readonly flushAll = () => {
    for (const file of this.files.values()) file.flush();
  };

  constructor() {
    // A process leaving by process.exit() still writes the lines of its last turn.
    process.on('exit', this.flushAll);
  }

  /** The sink for `target` (`stderr`, `stdout` or a file path). */
  sink(target: string): Sink {
    if (target === 'stderr' || target === 'stdout') return standardSink(target);
    let file = this.files.get(target);
    if (!file) {
      file = new LogFile(target);
      this.files.set(target, file);
    }
    return file;
  }

  /** Reopens every file (after logrotate moved them), as nginx's `reopen` signal. */
  reopen(): void {
    for (const file of this.files.values()) file.reopen();
  }

  /** Flushes and closes every file. */
  async close(): Promise<void> {
    const files = [...this.files.values()];
    this.files.clear();
    process.off('exit', this.flushAll);
    for (const file of files) file.close();
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
  return { debug: at('debug'), info: at('info'), notice: at('notice'), warn: at('warn'), error: at('error'), crit: at('crit'), alert: at('alert') };
}
