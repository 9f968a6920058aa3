/**
 * The V8 options a worker process starts with: the master's own (`node --trace-gc bin/gateway`
 * passes them on, as node:cluster does by default), plus `--no-memory-reducer` and
 * `--no-allocation-site-pretenuring`.
 *
 * V8's memory reducer shrinks a heap that has gone quiet (about 8 s after its last full GC),
 * then keeps it growing slowly until its old generation's committed memory grows 10 MB past
 * that size. A worker proxying large responses promotes little and allocates mostly Buffers
 * (outside the heap), so under load it never gets there: its old-generation limit stays a few MB
 * above what lives, and it runs a full mark-compact every ~150 requests instead of every few
 * thousand, for as long as the load lasts. Measured on 64 KiB proxied responses: 170 µs of CPU
 * per request before a quiet spell, 280 µs after it, for good (docs/access-and-scripts/
 * benchmarks.md). The option must be on the command line: V8 reads it when it sets up the heap,
 * `v8.setFlagsFromString` afterwards has no effect. Its replacement waits for a worker to go
 * quiet (`quiet-memory-reducer.ts`): one full GC and `malloc_trim` once the worker has used almost
 * no CPU for a few seconds and has grown, never under load.
 *
 * V8's allocation-site pretenuring allocates objects straight in the old generation when most
 * of those made at the same place in the code lived long. A worker's long-lived objects are
 * made at start, and some at the very places a request's are: Node's events.js makes every
 * two-listener array at one site, and the long-lived emitters of the start (servers, sockets,
 * the master's channel) taught V8 that they live long. From then on the listener array added
 * to a response per request (the proxy's 'close' beside the dispatcher's) was old from birth and
 * kept what its listeners reach (the exchange, the request state, the headers) alive through
 * every scavenge, until the next full GC: 2.3 MB promoted per scavenge on small proxied
 * responses (5.6 KB per request), scavenges 5-10 times longer, a full GC every second or so
 * (test/worker-heap-after-idle.test.ts). Without it, a request's objects die young, as a worker's
 * should; what lives long is made once, at start, and copied once.
 *
 * An explicit `--memory-reducer` or `--no-memory-reducer` given to node is left as it is, and
 * the same for the pretenuring.
 */

/** The options added to every worker's command line (V8's, read when its heap is set up). */
export const WORKER_V8_OPTIONS: readonly string[] = ['--no-memory-reducer', '--no-allocation-site-pretenuring'];

/** `execArgv` (the master's node options) with the workers' V8 options added where not already given. */
export function workerExecArgv(execArgv: readonly string[]): string[] {
  // V8 reads `_` as `-`, and `--no-NAME` as NAME off.
  const nameOf = (arg: string) => arg.replace(/_/g, '-').split('=')[0].replace(/^--(no-)?/, '');
  const given = (option: string) => execArgv.some((arg) => nameOf(arg) === nameOf(option));
  return [...execArgv, ...WORKER_V8_OPTIONS.filter((option) => !given(option))];
}
