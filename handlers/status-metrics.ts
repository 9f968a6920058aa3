/**
 * An example log-phase counter exposed at a metrics location (OpenResty's `log_by_lua` with
 * `lua_shared_dict`, and a `content_by_lua` that prints it, as nginx-lua-prometheus does): in the
 * log phase it counts each request by its status class (`1xx` … `5xx`) in a shared dictionary;
 * at the content phase it prints the counts in Prometheus' text format. Both workers count into
 * the same dictionary, so any worker prints the totals.
 *
 *   shared_dict: { metrics: 1m }
 *   log_by: { script: status-metrics, options: { dict: metrics } }      # http or server
 *   - location: = /metrics
 *     content_by: { script: status-metrics, options: { dict: metrics } }
 */
import { definePhaseScript } from 'gateway';

interface StatusMetricsOptions {
  readonly dict: string;
  readonly metric: string;
}

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

export default definePhaseScript<StatusMetricsOptions>({
  configure(raw, cx) {
    if (typeof raw.dict !== 'string' || raw.dict === '') cx.error('"dict" must name a shared_dict', 'dict');
    const metric = raw.metric ?? 'gateway_http_requests_total';
    if (typeof metric !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(metric)) cx.error('"metric" must be a Prometheus metric name', 'metric');
    return { dict: raw.dict as string, metric: metric as string };
  },
  run(r, options) {
    const dict = r.shared.get(options.dict);
    if (!dict) throw new Error(`no shared_dict "${options.dict}"`);
    if (r.phase === 'log') {
      const status = r.entry!.status;
      // A request closed before an answer logs 499 (nginx's): a 4xx.
      const cls = status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
      dict.incr(`status:${cls}`, 1, 0);
      return;
    }
    if (r.phase !== 'content') throw new Error(`status-metrics runs in log_by and content_by, not ${r.phase}`);
    const lines = [`# HELP ${options.metric} Requests answered, by status class.`, `# TYPE ${options.metric} counter`];
    for (const cls of [...CLASSES, 'other']) {
      const n = dict.get(`status:${cls}`);
      if (n !== null || cls !== 'other') lines.push(`${options.metric}{status="${cls}"} ${n ?? 0}`);
    }
    r.setResponseHeader('Content-Type', 'text/plain; version=0.0.4');
    r.say(lines.join('\n'));
  },
});
