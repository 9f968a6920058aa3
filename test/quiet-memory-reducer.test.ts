/**
 * The workers' memory reducer's decision (src/process/quiet-memory-reducer.ts), sample by
 * sample: only a worker quiet for QUIET_SECONDS in a row whose heap or RSS grew by GROWTH_BYTES
 * is reduced (a full GC when the heap grew, a malloc trim alone when only the RSS did), once per growth. The process end of it is in test/websocket-bad-input.test.ts.
 */
import { GROWTH_BYTES, QUIET_CPU_MS, QUIET_SECONDS, QuietReducerState } from '../src/process/quiet-memory-reducer';

const MiB = 1024 * 1024;
const settled = { heap: 40 * MiB, rss: 90 * MiB };
const grownHeap = { heap: settled.heap + GROWTH_BYTES, rss: settled.rss };
const grownRss = { heap: settled.heap, rss: settled.rss + GROWTH_BYTES };
const busy = QUIET_CPU_MS * 10;

/** Feeds `cpu` samples with `figures`: the decisions. */
function decisions(state: QuietReducerState, cpu: number[], figures = grownHeap): string[] {
  return cpu.map((ms) => state.sample(ms, figures));
}

describe('QuietReducerState', () => {
  test.each([
    ['grown heap, quiet long enough: a full GC (and a trim)', grownHeap, Array(QUIET_SECONDS).fill(0), 'gc'],
    ['grown heap and RSS: a full GC', { heap: grownHeap.heap, rss: grownRss.rss }, Array(QUIET_SECONDS).fill(0), 'gc'],
    ['grown RSS only (malloc), quiet long enough: a trim, no GC', grownRss, Array(QUIET_SECONDS).fill(0), 'trim'],
    ['grown, but one second short of quiet', grownHeap, Array(QUIET_SECONDS - 1).fill(0), 'none'],
    ['grown, quiet but for the last second', grownHeap, [...Array(QUIET_SECONDS).fill(0), busy], 'none'],
    ['grown, a busy second in the middle starts the count again', grownHeap, [0, 0, busy, ...Array(QUIET_SECONDS - 1).fill(0)], 'none'],
    ['quiet, grown by less than the margin', { heap: settled.heap + GROWTH_BYTES - 1, rss: settled.rss + GROWTH_BYTES - 1 }, Array(QUIET_SECONDS * 3).fill(0), 'none'],
    ['under steady load, grown', grownHeap, Array(60).fill(busy), 'none'],
    ['light load just at the threshold is not quiet', grownHeap, Array(10).fill(QUIET_CPU_MS), 'none'],
  ])('%s', (_what, figures, cpu, expected) => {
    const state = new QuietReducerState(settled);
    expect(decisions(state, cpu as number[], figures).at(-1)).toBe(expected);
  });

  test('once reduced, the figures it left are the reference: no second reduction without a new growth', () => {
    const state = new QuietReducerState(settled);
    expect(decisions(state, Array(QUIET_SECONDS).fill(0)).at(-1)).toBe('gc');
    const after = { heap: settled.heap + 10 * MiB, rss: settled.rss + 20 * MiB };
    state.reduced(after);
    expect(decisions(state, Array(30).fill(0), after).every((action) => action === 'none')).toBe(true);
    const regrown = { heap: after.heap + GROWTH_BYTES, rss: after.rss };
    expect(decisions(state, Array(QUIET_SECONDS).fill(0), regrown).at(-1)).toBe('gc');
  });
});
