/**
 * The `metrics` content handler: the gateway's counters, summed across workers, as Prometheus
 * text (`prometheus.ts` names every series).
 *
 * ```yaml
 * - location: = /metrics
 *   handler: metrics
 * ```
 */
import { renderPrometheus, PROMETHEUS_CONTENT_TYPE } from './prometheus';
import type { HandlerModule } from '../../types';
import { serveSnapshot } from './stub-status';

const metrics: HandlerModule<null> = {
  configure() {
    return null;
  },
  create() {
    return { http: (req, res) => serveSnapshot(req, res, PROMETHEUS_CONTENT_TYPE, renderPrometheus) };
  },
};

export default metrics;
