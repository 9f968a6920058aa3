/**
 * Where the shared zones live (`src/shared/zones/`): `zone_redis_url` (http) keeps them in
 * Redis, shared by every gateway that names the same one, as `push_redis_url` does for push
 * channels; without it, in the master (every worker of this gateway), or in the one process.
 */
import { guard, one } from '../../config/args';
import { row, type ConfModule } from '../../config/module';
import { parseRedisUrl } from '../../config/values';

/** The zones module's conf of a block. */
export interface ZonesConf {
  /** `zone_redis_url` (http): `redis://host:port[/db]`, null: this gateway alone. */
  readonly zoneRedisUrl: string | null;
}

export const zonesModule: ConfModule<ZonesConf> = {
  name: 'zones',
  directives: {
    zone_redis_url: row(['http'], (n, cx, name) => guard(n, cx, () => parseRedisUrl(one(n, cx, name)))),
  },
  defaults: () => ({ zoneRedisUrl: null }),
};
