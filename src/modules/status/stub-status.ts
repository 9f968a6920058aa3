/**
 * The `stub_status` content handler, as nginx's ngx_http_stub_status_module: the connection and
 * request counters of every worker, summed, in nginx's exact text.
 *
 * ```yaml
 * - location: = /basic_status
 *   handler: stub_status
 * ```
 *
 * ```
 * Active connections: 2 
 * server accepts handled requests
 *  14 14 27 
 * Reading: 0 Writing: 1 Waiting: 1 
 * ```
 *
 * GET and HEAD only (405 otherwise), as nginx. See `counters.ts` for what reading,
 * writing and waiting mean here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../../errors';
import { collect } from './aggregate';
import type { Snapshot } from './counters';
import type { HandlerModule } from '../../types';

/** nginx's stub_status page for a summed snapshot. */
export function stubStatusText(sum: Snapshot): string {
  const c = sum.connections;
  return (
    `Active connections: ${c.active} \n` +
    'server accepts handled requests\n' +
    ` ${c.accepted} ${c.handled} ${c.requests} \n` +
    `Reading: ${c.reading} Writing: ${c.writing} Waiting: ${c.active - c.reading - c.writing} \n`
  );
}

/** Answers GET and HEAD with `render(sum)` as `type`; 405 for other methods, 503 when the workers do not answer. */
export async function serveSnapshot(req: IncomingMessage, res: ServerResponse, type: string, render: (sum: Snapshot) => string | Promise<string>): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405);
  const sum = await collect();
  if (!sum) throw new HttpError(503, 'GW_METRICS_TIMEOUT', 'the master process did not answer with the counters in time');
  const body = await render(sum);
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const stubStatus: HandlerModule<null> = {
  configure() {
    return null;
  },
  create() {
    return { http: (req, res) => serveSnapshot(req, res, 'text/plain', stubStatusText) };
  },
};

export default stubStatus;
