/**
 * The receive timeouts of the sessions waiting in `recvFrame`, one timer per duration instead of
 * one per session. Sessions that wait with the same timeout reach their deadlines in the order
 * they started waiting, so each duration keeps its waiters in a list in that order (the session
 * is the list node: no object per wait) and one Node timer, armed for the list's head.
 *
 * An idle echo connection always waits (50 s in the seed): its own `Timeout` was 120 bytes of
 * heap and its arguments array 56 more (a heap snapshot of 2,000 idle connections on one
 * worker); the four fields a waiter carries here are 32.
 */

/** A session as a waiter: its deadline and its place in its duration's list. */
export interface ReceiveWaiter {
  /** `performance.now()` at which the wait times out. */
  waitDeadline: number;
  waitPrev: ReceiveWaiter | null;
  waitNext: ReceiveWaiter | null;
  /** The list it is in, null when it is not waiting. */
  waitList: WaitList | null;
  /** The timeout passed (the waiter is already out of its list). */
  receiveTimedOut(): void;
}

/** The waiters with one timeout, oldest first, and the timer armed for the oldest. */
export class WaitList {
  head: ReceiveWaiter | null = null;
  tail: ReceiveWaiter | null = null;
  timer: NodeJS.Timeout | null = null;

  constructor(readonly ms: number) {}
}

/** Lists kept once empty, up to this many durations (a script may set any timeout). */
const KEPT_LISTS = 8;
const lists = new Map<number, WaitList>();

/** A timer that fires less than this early still counts (Node's clock is the loop's, in whole ms). */
const EARLY_MS = 1;

/** `waiter` waits `ms` from now (ms > 0); it must not be waiting already. */
export function startWait(waiter: ReceiveWaiter, ms: number): void {
  let list = lists.get(ms);
  if (!list) {
    list = new WaitList(ms);
    lists.set(ms, list);
  }
  waiter.waitDeadline = performance.now() + ms;
  waiter.waitList = list;
  waiter.waitNext = null;
  waiter.waitPrev = list.tail;
  if (list.tail) list.tail.waitNext = waiter;
  else list.head = waiter;
  list.tail = waiter;
  if (!list.timer) list.timer = setTimeout(fire, ms, list);
}

/** `waiter` stops waiting (a frame came, or the connection ended); nothing if it was not waiting. */
export function stopWait(waiter: ReceiveWaiter): void {
  const list = waiter.waitList;
  if (!list) return;
  unlink(list, waiter);
  if (list.head === null) {
    if (list.timer) clearTimeout(list.timer);
    list.timer = null;
    if (lists.size > KEPT_LISTS) lists.delete(list.ms);
  }
}

function unlink(list: WaitList, waiter: ReceiveWaiter): void {
  if (waiter.waitPrev) waiter.waitPrev.waitNext = waiter.waitNext;
  else list.head = waiter.waitNext;
  if (waiter.waitNext) waiter.waitNext.waitPrev = waiter.waitPrev;
  else list.tail = waiter.waitPrev;
  waiter.waitPrev = null;
  waiter.waitNext = null;
  waiter.waitList = null;
}

/** The list's timer: every waiter past its deadline times out, oldest first; the timer is armed again for the next. */
function fire(list: WaitList): void {
  list.timer = null;
  const now = performance.now() + EARLY_MS;
  for (let waiter = list.head; waiter && waiter.waitDeadline <= now; waiter = list.head) {
    unlink(list, waiter);
    waiter.receiveTimedOut();
  }
  // A waiter's handler may have started a new wait (the echo pings, then waits again): armed once.
  if (list.head && !list.timer) list.timer = setTimeout(fire, Math.max(1, Math.ceil(list.head.waitDeadline - performance.now())), list);
  else if (!list.head && lists.size > KEPT_LISTS) lists.delete(list.ms);
}
