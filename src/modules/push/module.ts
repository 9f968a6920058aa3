/**
 * The push channels' directives (named after nchan's): where channels live (`push_redis_url`,
 * http) and how long a channel keeps messages (`message_buffer_length`, `message_timeout`).
 * The channels' own keys (`channel`, `subscriber_types`...) are the push handlers' options.
 */
import { guard, integer, one, time } from '../../config/args';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { parseRedisUrl } from '../../config/values';

/** The push module's conf of a block. */
export interface PushConf {
  /** `message_buffer_length`: messages a push channel keeps for late subscribers (10). */
  readonly messageBufferLength: number;
  /** `message_timeout`: how long a push channel keeps a message (ms, 1h). */
  readonly messageTimeout: number;
  /** `push_redis_url` (http): the Redis that push channels live in (`redis://host:port[/db]`), null: this gateway alone. */
  readonly pushRedisUrl: string | null;
}

export const pushModule: ConfModule<PushConf> = {
  name: 'push',
  directives: {
    message_buffer_length: row(INHERITED, integer(0, 1_000_000)),
    message_timeout: row(INHERITED, time),
    push_redis_url: row(['http'], (n, cx, name) => guard(n, cx, () => parseRedisUrl(one(n, cx, name)))),
  },
  defaults: () => ({ messageBufferLength: 10, messageTimeout: 3_600_000, pushRedisUrl: null }),
};
