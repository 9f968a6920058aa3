/**
 * The master's part in workers stopping to accept when nearly full (src/process/accept-turns.ts):
 * when every serving worker has stopped, the last to stop is told to accept until full ('hold');
 * once another accepts again, it is told it may stop again ('release').
 */
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:cluster';
import { AcceptTurns, type AcceptTurnMessage } from '../src/process/accept-turns';

/** A worker as the master sees it: what it was sent, and whether it is connected. */
function fakeWorker(name: string): Worker & { sent: AcceptTurnMessage[]; name: string } {
  const worker = new EventEmitter() as EventEmitter & { sent: AcceptTurnMessage[]; name: string; connected: boolean };
  worker.sent = [];
  worker.name = name;
  worker.connected = true;
  Object.assign(worker, {
    isConnected: () => worker.connected,
    send: (msg: AcceptTurnMessage, _handle: unknown, cb: (err: Error | null) => void) => {
      worker.sent.push(msg);
      cb(null);
      return true;
    },
    process: { pid: 1 },
  });
  return worker as unknown as Worker & { sent: AcceptTurnMessage[]; name: string };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

function setUp(count: number) {
  const turns = new AcceptTurns();
  const workers = Array.from({ length: count }, (_, i) => fakeWorker(`w${i}`));
  for (const w of workers) {
    turns.watch(w);
    w.emit('listening', {});
  }
  return { turns, workers, serving: new Set<Worker>(workers) };
}

test('a worker may stop while another accepts: no advice', async () => {
  const { turns, workers, serving } = setUp(2);
  turns.answer(workers[0], { type: 'accept-paused' }, serving);
  await flush();
  expect(workers.map((w) => w.sent)).toEqual([[], []]);
});

test('the last to stop is held open; released once another accepts again', async () => {
  const { turns, workers, serving } = setUp(3);
  turns.answer(workers[0], { type: 'accept-paused' }, serving);
  turns.answer(workers[1], { type: 'accept-paused' }, serving);
  turns.answer(workers[2], { type: 'accept-paused' }, serving);
  await flush();
  expect(workers[2].sent).toEqual([{ type: 'accept-advice', advice: 'hold' }]);
  // The held one listens again: no release for itself.
  turns.answer(workers[2], { type: 'accept-resumed' }, serving);
  await flush();
  expect(workers[2].sent).toHaveLength(1);
  // Another accepts again: the held one may stop again.
  turns.answer(workers[0], { type: 'accept-resumed' }, serving);
  await flush();
  expect(workers[2].sent).toEqual([
    { type: 'accept-advice', advice: 'hold' },
    { type: 'accept-advice', advice: 'release' },
  ]);
  expect(workers[0].sent).toEqual([]);
});

test('a worker not yet listening, or gone, does not count as accepting', async () => {
  const turns = new AcceptTurns();
  const [a, b, c] = [fakeWorker('a'), fakeWorker('b'), fakeWorker('c')];
  for (const w of [a, b, c]) turns.watch(w);
  a.emit('listening', {});
  c.emit('listening', {});
  (c as unknown as { connected: boolean }).connected = false;
  const serving = new Set<Worker>([a, b, c]);
  turns.answer(a, { type: 'accept-paused' }, serving);
  await flush();
  expect(a.sent).toEqual([{ type: 'accept-advice', advice: 'hold' }]);
});

test('a worker of an older generation that stops leaves the serving one alone', async () => {
  const { turns, workers, serving } = setUp(2);
  const old = fakeWorker('old');
  turns.watch(old);
  old.emit('listening', {});
  turns.answer(old, { type: 'accept-paused' }, serving);
  turns.answer(old, { type: 'accept-resumed' }, serving);
  turns.answer(workers[0], { type: 'accept-paused' }, serving);
  await flush();
  expect([old.sent, workers[0].sent, workers[1].sent]).toEqual([[], [], []]);
});

test('the held worker exits: forgotten', async () => {
  const { turns, workers, serving } = setUp(2);
  turns.answer(workers[0], { type: 'accept-paused' }, serving);
  turns.answer(workers[1], { type: 'accept-paused' }, serving);
  turns.forget(workers[1]);
  serving.delete(workers[1]);
  turns.answer(workers[0], { type: 'accept-resumed' }, serving);
  await flush();
  expect(workers[1].sent).toEqual([{ type: 'accept-advice', advice: 'hold' }]);
});
