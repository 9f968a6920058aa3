/**
 * nginx's `limit_rate` and `limit_rate_after` (ngx_http_core_module: http, server, location,
 * `if` in a location; values with variables, 1.17.0 and 1.19.0): the response body sent to the
 * client is paced at `limit_rate` bytes per second once `limit_rate_after` bytes are out, per
 * request, whatever handler made it (`filter.ts`). `$limit_rate` (set with `set`) overrides the
 * directive for the request, as in nginx.
 */
import { INHERITED, row, type ConfModule } from '../../config/module';
import { NO_SIZE, sizeValue, type SizeValue } from './rate-value';

/** The limit_rate conf of a block. */
export interface LimitRateConf {
  /** `limit_rate`: bytes per second, 0: none. */
  readonly limitRate: SizeValue;
  /** `limit_rate_after`: bytes sent before the pace applies. */
  readonly limitRateAfter: SizeValue;
}

export const limitRateModule: ConfModule<LimitRateConf> = {
  name: 'limit_rate',
  directives: {
    limit_rate: row(INHERITED, sizeValue),
    limit_rate_after: row(INHERITED, sizeValue),
  },
  defaults: () => ({ limitRate: NO_SIZE, limitRateAfter: NO_SIZE }),
};
