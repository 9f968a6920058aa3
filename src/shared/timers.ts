/**
 * OpenResty's `ngx.timer.at` and `ngx.timer.every` for one worker: callbacks that run later,
 * outside any request, with `premature` false; when the worker shuts down (a graceful quit or a
 * reload), each pending timer runs once more at once with `premature` true, as OpenResty's do
 * when the worker exits, and the worker waits for running callbacks (within its shutdown
 * timeout). A callback that throws or rejects is one error-log line with the script's name; the
 * worker keeps serving. `lua_max_pending_timers` (1024) and `lua_max_running_timers` (256) are
 * OpenResty's defaults.
 */
import type { Logger, TimerCallback, TimerResult, Timers } from '../types';

/** OpenResty's `lua_max_pending_timers` and `lua_max_running_timers` defaults. */
export const MAX_PENDING_TIMERS = 1024;
export const MAX_RUNNING_TIMERS = 256;

interface Pending {
  handle: NodeJS.Timeout;
  readonly fire: (premature: boolean) => void;
}

/** Every timer of this worker, whoever made it. */
export class WorkerTimers {
  private readonly pending = new Set<Pending>();
  private running = 0;
  private exitingNow = false;
  private idle: (() => void) | null = null;

  constructor(private readonly log: Logger) {}

  /** Whether the worker is shutting down (`ngx.worker.exiting()`). */
  get exiting(): boolean {
    return this.exitingNow;
  }

  /** The timers API for a script named `owner` (its name is in the log line when a callback fails). */
  forScript(owner: string): Timers {
    return {
      at: (delay, callback, ...args) => this.schedule(owner, delay, false, callback, args),
      every: (delay, callback, ...args) => this.schedule(owner, delay, true, callback, args),
      runningCount: () => this.running,
      pendingCount: () => this.pending.size,
    };
  }

  /**
   * The worker is going: every pending timer runs once with `premature` true, then this resolves
   * when no callback runs any more.
   */
  shutdown(): Promise<void> {
    this.exitingNow = true;
    for (const timer of [...this.pending]) {
      clearTimeout(timer.handle);
      this.pending.delete(timer);
      timer.fire(true);
    }
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idle = resolve));
  }

  private schedule(owner: string, delay: number, repeat: boolean, callback: TimerCallback, args: unknown[]): TimerResult {
    if (typeof callback !== 'function') throw new TypeError('bad "callback" argument');
    if (typeof delay !== 'number' || !(delay >= 0) || !Number.isFinite(delay)) throw new RangeError('bad "delay" argument');
    if (repeat && delay === 0) throw new RangeError('delay cannot be zero');
    if (this.exitingNow) return { ok: false, err: 'process exiting' };
    if (this.pending.size >= MAX_PENDING_TIMERS) return { ok: false, err: 'too many pending timers' };
    const ms = Math.min(delay * 1000, 2 ** 31 - 1);
    const timer: Pending = {
      handle: undefined as unknown as NodeJS.Timeout,
      fire: (premature) => {
        this.pending.delete(timer);
        // ngx.timer.every: the next one is set before this one's callback runs.
        if (repeat && !premature) this.arm(timer, ms);
        this.run(owner, callback, premature, args);
      },
    };
    this.arm(timer, ms);
    return { ok: true, err: null };
  }

  private arm(timer: Pending, ms: number): void {
    timer.handle = setTimeout(() => timer.fire(false), ms);
    this.pending.add(timer);
  }

  private run(owner: string, callback: TimerCallback, premature: boolean, args: unknown[]): void {
    if (this.running >= MAX_RUNNING_TIMERS) {
      const line = `${MAX_RUNNING_TIMERS} lua_max_running_timers are not enough`;
      if (this.log.alert) this.log.alert(line);
      else this.log.crit(line);
      return;
    }
    this.running++;
    let result: unknown;
    try {
      result = callback(premature, ...args);
    } catch (err) {
      this.failed(owner, err);
      this.done();
      return;
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      (result as Promise<void>).then(
        () => this.done(),
        (err: unknown) => {
          this.failed(owner, err);
          this.done();
        },
      );
    } else this.done();
  }

  private done(): void {
    if (--this.running === 0 && this.idle) {
      const idle = this.idle;
      this.idle = null;
      idle();
    }
  }

  private failed(owner: string, err: unknown): void {
    this.log.error(`timer of "${owner}" failed: ${describeError(err)}`);
  }
}

/** An error's message and the first frame of its stack, in one line. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const frame = err.stack?.split('\n').find((line) => line.trimStart().startsWith('at '))?.trim();
  return frame ? `${err.message} (${frame})` : err.message;
}
