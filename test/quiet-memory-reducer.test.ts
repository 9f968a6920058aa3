/**
 * The workers' memory reducer's decision (src/process/quiet-memory-reducer.ts), sample by
 * sample: only a worker quiet for QUIET_SECONDS in a row whose heap or RSS grew by GROWTH_BYTES
 * is reduced (a full GC when the heap grew, a malloc trim alone when only the RSS did), once per
 * growth; a young generation left large past V8's 5 s window gets at most YOUNG_TRIES more full
 * GCs in a quiet spell. The process end of it is in test/websocket-bad-input.test.ts.
 */
import {
  GROWTH_BYTES,
  QUIET_CPU_MS,
  QUIET_SECONDS,
  QuietReducerState,
  YOUNG_BYTES,
  YOUNG_QUIET_SECONDS,
  YOUNG_TRIES,
} from '../src/process/quiet-memory-reducer';

const MiB = 1024 * 1024;
const settled = { heap: 40 * MiB, young: 1 * MiB, rss: 90 * MiB };
const grownHeap = { ...settled, heap: settled.heap + GROWTH_BYTES };
const grownRss = { ...settled, rss: settled.rss + GROWTH_BYTES };
const busy = QUIET_CPU_MS * 10;

/** Feeds `cpu` samples with `figures`: the decisions. */
function decisions(state: QuietReducerState, cpu: number[], figures = grownHeap): string[] {
  return cpu.map((ms) => state.sample(ms, figures));
}

describe('QuietReducerState', () => {
  test.each([
    ['grown heap, quiet long enough: a full GC (and a trim)', grownHeap, Array(QUIET_SECONDS).fill(0), 'gc'],
    ['grown heap and RSS: a full GC', { ...grownHeap, rss: grownRss.rss }, Array(QUIET_SECONDS).fill(0), 'gc'],
    ['grown RSS only (malloc), quiet long enough: a trim, no GC', grownRss, Array(QUIET_SECONDS).fill(0), 'trim'],
    ['grown, but one second short of quiet', grownHeap, Array(QUIET_SECONDS - 1).fill(0), 'none'],
    ['grown, quiet but for the last second', grownHeap, [...Array(QUIET_SECONDS).fill(0), busy], 'none'],
    ['grown, a busy second in the middle starts the count again', grownHeap, [0, 0, busy, ...Array(QUIET_SECONDS - 1).fill(0)], 'none'],
    ['quiet, grown by less than the margin', { ...settled, heap: settled.heap + GROWTH_BYTES - 1, rss: settled.rss + GROWTH_BYTES - 1 }, Array(QUIET_SECONDS * 3).fill(0), 'none'],
    ['under steady load, grown', grownHeap, Array(60).fill(busy), 'none'],
    ['light load just at the threshold is not quiet', grownHeap, Array(10).fill(QUIET_CPU_MS), 'none'],
  ])('%s', (_what, figures, cpu, expected) => {
    const state = new QuietReducerState(settled);
    expect(decisions(state, cpu as number[], figures).at(-1)).toBe(expected);
  });

  test('once reduced, the figures it left are the reference: no second reduction without a new growth', () => {
    const state = new QuietReducerState(settled);
    expect(decisions(state, Array(QUIET_SECONDS).fill(0)).at(-1)).toBe('gc');
    const after = { ...settled, heap: settled.heap + 10 * MiB, rss: settled.rss + 20 * MiB };
    state.reduced(after);
    expect(decisions(state, Array(30).fill(0), after).every((action) => action === 'none')).toBe(true);
    const regrown = { ...after, heap: after.heap + GROWTH_BYTES };
    expect(decisions(state, Array(QUIET_SECONDS).fill(0), regrown).at(-1)).toBe('gc');
  });

  describe('the young generation', () => {
    const youngGrown = { ...settled, young: YOUNG_BYTES };

    test('large in a quiet worker: a full GC once past V8\'s window, not before', () => {
      const state = new QuietReducerState(settled);
      const actions = decisions(state, Array(YOUNG_QUIET_SECONDS).fill(0), youngGrown);
      expect(actions.slice(0, -1).every((action) => action === 'none')).toBe(true);
      expect(actions.at(-1)).toBe('young');
    });

    test('under its threshold: nothing', () => {
      const state = new QuietReducerState(settled);
      expect(decisions(state, Array(60).fill(0), { ...settled, young: YOUNG_BYTES - 1 }).every((action) => action === 'none')).toBe(true);
    });

    test('after a full GC for growth, the young one waits a whole window more', () => {
      const state = new QuietReducerState(settled);
      const both = { ...grownHeap, young: YOUNG_BYTES };
      expect(decisions(state, Array(QUIET_SECONDS).fill(0), both).at(-1)).toBe('gc');
      const after = { ...settled, young: YOUNG_BYTES };
      state.reduced(after);
      const actions = decisions(state, Array(YOUNG_QUIET_SECONDS).fill(0), after);
      expect(actions.at(-1)).toBe('young');
      expect(actions.slice(0, -1).every((action) => action === 'none')).toBe(true);
    });

    test('when V8 keeps it large, at most YOUNG_TRIES GCs a quiet spell; a busy second starts a new spell', () => {
      const state = new QuietReducerState(settled);
      const tries = () => {
        let count = 0;
        for (let second = 0; second < 120; second++) {
          if (state.sample(0, youngGrown) === 'young') {
            count++;
            state.reduced(youngGrown);
          }
        }
        return count;
      };
      expect(tries()).toBe(YOUNG_TRIES);
      state.sample(QUIET_CPU_MS * 10, youngGrown);
      expect(tries()).toBe(YOUNG_TRIES);
    });

    test('under load it is never shrunk', () => {
      const state = new QuietReducerState(settled);
      expect(decisions(state, Array(60).fill(QUIET_CPU_MS * 10), { ...settled, young: 32 * MiB }).every((action) => action === 'none')).toBe(true);
    });
  });
});
