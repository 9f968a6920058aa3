/**
 * The sessions' receive timeouts, one timer per duration (src/shared/websocket/receive-timers.ts):
 * each waiter times out at its own deadline, in order, a stopped one never, and a waiter that
 * waits again from its handler is timed again.
 */
import { startWait, stopWait, type ReceiveWaiter } from '../src/shared/websocket/receive-timers';

/** A waiter that records when it timed out (ms since `t0`), and may wait again once. */
function waiter(name: string, log: { name: string; at: number }[], t0: number, again?: number): ReceiveWaiter {
  let rewait = again;
  const w: ReceiveWaiter = {
    waitDeadline: 0,
    waitPrev: null,
    waitNext: null,
    waitList: null,
    receiveTimedOut() {
      log.push({ name, at: performance.now() - t0 });
      if (rewait !== undefined) {
        const ms = rewait;
        rewait = undefined;
        startWait(w, ms);
      }
    },
  };
  return w;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('waiters of one duration time out at their own deadlines, in order; a stopped one never', async () => {
  const log: { name: string; at: number }[] = [];
  const t0 = performance.now();
  const a = waiter('a', log, t0);
  const b = waiter('b', log, t0);
  const c = waiter('c', log, t0, 150);
  startWait(a, 200);
  await sleep(50);
  startWait(b, 200);
  await sleep(50);
  startWait(c, 200);
  const d = waiter('d', log, t0);
  startWait(d, 200);
  stopWait(d);
  stopWait(d); // twice: nothing
  await sleep(550);
  expect(log.map((entry) => entry.name)).toEqual(['a', 'b', 'c', 'c']);
  const at = Object.fromEntries(log.slice(0, 3).map((entry) => [entry.name, entry.at]));
  // Deadlines 200, 250, 300 ms; c again at 300 + 150 (another duration). Slack for a busy machine.
  expect(at.a).toBeGreaterThanOrEqual(199);
  expect(at.b).toBeGreaterThanOrEqual(249);
  expect(at.c).toBeGreaterThanOrEqual(299);
  expect(log[3].at).toBeGreaterThanOrEqual(at.c + 149);
  for (const entry of log) expect(entry.at).toBeLessThan(650);
  for (const w of [a, b, c, d]) expect(w.waitList).toBeNull();
});

test('a waiter stopped at the head leaves the timer for the next one', async () => {
  const log: { name: string; at: number }[] = [];
  const t0 = performance.now();
  const a = waiter('a', log, t0);
  const b = waiter('b', log, t0);
  startWait(a, 100);
  await sleep(30);
  startWait(b, 100);
  stopWait(a);
  await sleep(200);
  expect(log.map((entry) => entry.name)).toEqual(['b']);
  expect(log[0].at).toBeGreaterThanOrEqual(129);
});
