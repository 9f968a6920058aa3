/**
 * The log module's handler in the log phase (nginx's ngx_http_log_module): each `access_log` of
 * the location gets one line per request, in its format, once the response is over.
 */
import type { LogFormatConf } from '../../config/model';
import type { LocationModule, PhaseHandler } from '../../types';
import { COMBINED_FORMAT, compileLogFormat } from './access-log';
import { logModule } from './module';

const COMBINED: LogFormatConf = { format: COMBINED_FORMAT, escape: 'default' };

export const logPhase: LocationModule = {
  name: 'log',
  phases(location, env): PhaseHandler[] {
    const conf = location.confs.get(logModule);
    if (conf.accessLogs.length === 0) return [];
    const logs = conf.accessLogs.map((l) => ({
      sink: env.openLog(l.path),
      line: compileLogFormat(l.format === 'combined' ? COMBINED : conf.logFormats.get(l.format)!, env.captureNames),
    }));
    return [
      {
        phase: 'log',
        name: `access_log ${conf.accessLogs.map((l) => l.path).join(', ')}`,
        log(_req, ctx) {
          for (const log of logs) log.sink.write(`${ctx.evaluate(log.line)}\n`);
        },
      },
    ];
  },
};
