/**
 * A worker gives back the memory a burst grew, once it has gone quiet: the replacement for V8's
 * memory reducer, which the workers run without (`worker-v8-options.ts`: under steady load it
 * ran a full GC every ~150 requests).
 *
 * Once a second the worker looks at its own CPU time (`process.cpuUsage`) and memory (V8's
 * committed heap, its young generation, and the RSS). When it has used less than `QUIET_CPU_MS`
 * of CPU in each of the last `QUIET_SECONDS` seconds, and its heap has grown by `GROWTH_BYTES`
 * or more since the last time it was reduced (or since it started), it runs one full,
 * compacting GC (which releases the heap's free pages) and glibc's `malloc_trim(0)` (which
 * returns the free memory of malloc's arenas: sockets', zlib's and OpenSSL's buffers); when
 * only its RSS grew so much, `malloc_trim(0)` alone. Then it logs what it gave back. A worker
 * under load is never quiet, so it is never collected by this; a worker that stays quiet is
 * collected once per growth, not again and again.
 *
 * The young generation is the exception a full GC leaves: V8 grows it (to 32 MiB here) under
 * a burst and shrinks it only at a full GC that sees a low allocation rate over the last 5 s
 * (`Heap::ShouldResizeNewSpace`), which a GC right after the burst never does. So a worker
 * whose young generation is still `YOUNG_BYTES` or more once it has been quiet for
 * `YOUNG_QUIET_SECONDS` (past V8's 5 s window, counted from its last reduction) runs one more
 * full GC, at most `YOUNG_TRIES` times in a quiet spell: 30 MiB of resident memory a worker.
 *
 * The `gc` function is V8's (`--expose-gc`), taken into a context of its own at start, so no
 * global `gc` appears for scripts. nginx has no garbage collector; its pools are freed with the
 * request or connection, and OpenResty trims malloc (`lua_malloc_trim`, every 1,000 requests).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Logger } from '../types';
import { trimMalloc } from '../shared/native';

/** The sampling period. */
export const TICK_MS = 1000;
/** CPU time (user + system) under which a second counts as quiet: 2 % of a core. */
export const QUIET_CPU_MS = 20;
/** Quiet seconds in a row before a reduction. */
export const QUIET_SECONDS = 3;
/** Growth of the committed heap or of the RSS, since the last reduction, that is worth giving back. */
export const GROWTH_BYTES = 32 * 1024 * 1024;
/** A young generation this large in a quiet worker is worth shrinking (V8 starts it at 1 MiB). */
export const YOUNG_BYTES = 4 * 1024 * 1024;
/** Quiet seconds since the last reduction before the young generation is shrunk: V8 looks back 5 s. */
export const YOUNG_QUIET_SECONDS = 6;
/** Young-generation GCs in one quiet spell, at most (the first may still see the burst's allocation). */
export const YOUNG_TRIES = 2;

/** The memory figures the reducer compares. */
export interface MemoryFigures {
  /** V8's committed heap (`total_heap_size`). */
  readonly heap: number;
  /** V8's young generation (the committed `new_space`). */
  readonly young: number;
  /** The resident set. */
  readonly rss: number;
}

/** What one sample decides: a full GC (and a trim), a full GC for the young generation, a trim alone, or nothing. */
export type ReducerAction = 'gc' | 'young' | 'trim' | 'none';

/** What the reducer decides from one sample (pure: `QuietReducerState.sample`). */
export class QuietReducerState {
  private quietSeconds = 0;
  private youngTries = 0;

  /** `settled`: the figures after the last reduction (or at start). */
  constructor(private settled: MemoryFigures) {}

  /**
   * One second's CPU time (ms) and the memory now: what to do. `gc` (and trim) when the heap
   * grew; only `trim` when the RSS grew and the heap did not (malloc's memory: a full GC would
   * give nothing back, and one between two bursts of proxied 64 KiB responses cost the next
   * burst 6-12 % more CPU per request); `young` when the young generation stayed large past
   * V8's window; `none` otherwise.
   */
  sample(cpuMs: number, now: MemoryFigures): ReducerAction {
    if (cpuMs < QUIET_CPU_MS) this.quietSeconds++;
    else this.quietSeconds = this.youngTries = 0;
    if (this.quietSeconds < QUIET_SECONDS) return 'none';
    if (now.heap - this.settled.heap >= GROWTH_BYTES) return 'gc';
    if (now.rss - this.settled.rss >= GROWTH_BYTES) return 'trim';
    if (now.young >= YOUNG_BYTES && this.quietSeconds >= YOUNG_QUIET_SECONDS && this.youngTries < YOUNG_TRIES) {
      this.youngTries++;
      return 'young';
    }
    return 'none';
  }

  /** Quiet seconds in a row, as of the last sample. */
  get quiet(): number {
    return this.quietSeconds;
  }

  /** After a reduction: what it left is the new reference, and the quiet count starts again. */
  reduced(after: MemoryFigures): void {
    this.settled = after;
    this.quietSeconds = 0;
  }
}

/** The figures now. */
export function memoryFigures(): MemoryFigures {
  const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  return { heap: v8.getHeapStatistics().total_heap_size, young: young ? young.space_size : 0, rss: process.memoryUsage.rss() };
}

/** V8's `gc`, obtained without exposing it to this process's global scope; null if it cannot be. */
function obtainGc(): (() => void) | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    v8.setFlagsFromString('--no-expose-gc');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

const MiB = (bytes: number) => (bytes / 1048576).toFixed(1);

/**
 * Starts the reducer in this worker (an unreferenced timer: it never keeps the process alive).
 * Returns a function that stops it; a worker without `gc` gets a no-op and a log line.
 */
export function startQuietMemoryReducer(log: Logger): () => void {
  const gc = obtainGc();
  if (!gc) {
    log.info('memory reducer off: V8\'s gc function cannot be obtained');
    return () => {};
  }
  const state = new QuietReducerState(memoryFigures());
  let lastCpu = process.cpuUsage();
  const timer = setInterval(() => {
    const cpu = process.cpuUsage();
    const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
    lastCpu = cpu;
    const before = memoryFigures();
    const action = state.sample(cpuMs, before);
    if (action === 'none') return;
    const quietFor = state.quiet;
    const t0 = performance.now();
    if (action !== 'trim') gc();
    const trimmed = trimMalloc();
    const ms = performance.now() - t0;
    // V8 unmaps the freed pages on a helper thread: the RSS is read a moment later.
    setTimeout(() => {
      const after = memoryFigures();
      state.reduced(after);
      const live = v8.getHeapStatistics().used_heap_size;
      log.info(
        `memory reducer: quiet for ${quietFor}s, heap ${MiB(before.heap)} -> ${MiB(after.heap)} MiB (${MiB(live)} in use, young ${MiB(before.young)} -> ${MiB(after.young)}), rss ${MiB(before.rss)} -> ${MiB(after.rss)} MiB` +
          ` (${[action === 'trim' ? '' : 'full GC', trimmed ? 'malloc_trim' : ''].filter(Boolean).join(' and ')}, ${ms.toFixed(0)} ms)`,
      );
    }, 200).unref();
  }, TICK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
