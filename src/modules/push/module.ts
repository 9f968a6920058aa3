/**
 * The push channels' directives (named after nchan's): where channels live (`push_redis_url`,
 * http) and how long a channel keeps messages (`message_buffer_length`, `message_timeout`).
 * The channels' own keys (`channel`, `subscriber_types`...) are the push handlers' options.
 * nchan's own directives are read too (nchan-directives.ts): `nchan_subscriber` and
 * `nchan_publisher` make a location a subscriber or a publisher, as nchan's do.
 */
import { guard, integer, one, text, time, timerTime } from '../../config/args';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { parseRedisUrl } from '../../config/values';
import type { CompiledValue } from '../../http/variables';
import {
  NCHAN_DEFAULT_REDIS_URL,
  nchanAllowOrigin,
  nchanChannelId,
  nchanFirstMessage,
  nchanLastMessageId,
  nchanPublisher,
  nchanPubsub,
  nchanRedisUrl,
  nchanFlag,
  nchanSubscriber,
  withoutVariables,
  type NchanChannelId,
  type NchanPubsub,
  type NchanSubscriber,
} from './nchan-directives';
import type { NchanCors } from './nchan-cors';

/** The push module's conf of a block. */
export interface PushConf {
  /** `message_buffer_length` (`nchan_message_buffer_length`): messages a push channel keeps for late subscribers (10). */
  readonly messageBufferLength: number;
  /** `message_timeout` (`nchan_message_timeout`): how long a push channel keeps a message (ms, 1h). */
  readonly messageTimeout: number;
  /** `push_redis_url` (http): the Redis that push channels live in (`redis://host:port[/db]`), null: this gateway alone. */
  readonly pushRedisUrl: string | null;
  /** `nchan_subscriber` (the location's own): the location is a subscriber, written in nchan's syntax. */
  readonly nchanSubscriber: NchanSubscriber | null;
  /** `nchan_publisher` (the location's own): the location is a publisher, written in nchan's syntax. */
  readonly nchanPublisher: boolean;
  /** `nchan_pubsub` (the location's own): a subscriber and a publisher in one location. */
  readonly nchanPubsub: NchanPubsub | null;
  /** `nchan_channel_id` (`nchan_pubsub_channel_id`; inherited). */
  readonly nchanChannelId: NchanChannelId | null;
  /** `nchan_publisher_channel_id` (`nchan_pub_channel_id`; inherited): a publisher's channel, over `nchan_channel_id`. */
  readonly nchanPublisherChannelId: NchanChannelId | null;
  /** `nchan_subscriber_channel_id` (`nchan_sub_channel_id`; inherited): a subscriber's channel, over `nchan_channel_id`. */
  readonly nchanSubscriberChannelId: NchanChannelId | null;
  /** `nchan_subscriber_first_message`: `oldest` (nchan's default) replays what is kept to a new subscriber. */
  readonly nchanSubscriberFirstMessage: 'oldest' | 'newest';
  /** `nchan_subscriber_last_message_id`: where a subscriber's last id is read (null: nchan's default, `Last-Event-ID` then `?last_event_id=`). */
  readonly nchanSubscriberLastMessageId: readonly CompiledValue[] | null;
  /** `nchan_subscriber_timeout` (ms, 0: none): a subscriber that long without a message is let go. */
  readonly nchanSubscriberTimeout: number;
  /** `nchan_eventsource_ping_interval` (ms, 0: none) and the ping's lines (`nchan_eventsource_ping_comment`, `_event`, `_data`). */
  readonly nchanEventsourcePingInterval: number;
  readonly nchanEventsourcePingComment: string;
  readonly nchanEventsourcePingEvent: string;
  readonly nchanEventsourcePingData: string;
  /** `nchan_websocket_ping_interval` (ms, 0: none). */
  readonly nchanWebsocketPingInterval: number;
  /** `nchan_store_messages`: off keeps no message for replay. */
  readonly nchanStoreMessages: boolean;
  /** `nchan_access_control_allow_origin`: the origins allowed; null: any (nchan's default). */
  readonly nchanAccessControlAllowOrigin: CompiledValue | null;
  /** `nchan_access_control_allow_credentials` (on). */
  readonly nchanAccessControlAllowCredentials: boolean;
  /** `nchan_redis_url` (http): the Redis `nchan_use_redis on` uses. */
  readonly nchanRedisUrl: string | null;
  /** `nchan_use_redis` (http). */
  readonly nchanUseRedis: boolean;
}

/** Directives nchan takes in a server or location block that the gateway takes in http only (its channels live in one place). */
const HTTP_ONLY = ['nchan_redis_url', 'nchan_use_redis'] as const;
/** nchan's endpoint directives, which nchan also takes in a server block. */
const ENDPOINTS = ['nchan_subscriber', 'nchan_publisher', 'nchan_pubsub'] as const;

export const pushModule: ConfModule<PushConf> = {
  name: 'push',
  directives: {
    message_buffer_length: row(INHERITED, integer(0, 1_000_000)),
    message_timeout: row(INHERITED, time),
    push_redis_url: row(['http'], (n, cx, name) => guard(n, cx, () => parseRedisUrl(one(n, cx, name)))),
    nchan_subscriber: row(['server', 'location'], nchanSubscriber, { inherit: false }),
    nchan_publisher: row(['server', 'location'], nchanPublisher, { inherit: false }),
    nchan_pubsub: row(['server', 'location'], nchanPubsub, { inherit: false }),
    nchan_channel_id: row(['server', 'location'], nchanChannelId),
    nchan_pubsub_channel_id: row(['server', 'location'], nchanChannelId, { field: 'nchanChannelId' }),
    nchan_publisher_channel_id: row(['server', 'location'], nchanChannelId),
    nchan_pub_channel_id: row(['server', 'location'], nchanChannelId, { field: 'nchanPublisherChannelId' }),
    nchan_subscriber_channel_id: row(['server', 'location'], nchanChannelId),
    nchan_sub_channel_id: row(['server', 'location'], nchanChannelId, { field: 'nchanSubscriberChannelId' }),
    nchan_message_buffer_length: row(INHERITED, withoutVariables(integer(0, 1_000_000)), { field: 'messageBufferLength' }),
    nchan_message_timeout: row(INHERITED, withoutVariables(time), { field: 'messageTimeout' }),
    nchan_subscriber_first_message: row(['server', 'location'], nchanFirstMessage),
    nchan_websocket_ping_interval: row(['server', 'location'], timerTime),
    nchan_subscriber_timeout: row(['server', 'location'], timerTime),
    nchan_subscriber_last_message_id: row(['server', 'location'], nchanLastMessageId),
    nchan_eventsource_ping_interval: row(['server', 'location'], timerTime),
    nchan_eventsource_ping_comment: row(['server', 'location'], text),
    nchan_eventsource_ping_event: row(['server', 'location'], text),
    nchan_eventsource_ping_data: row(['server', 'location'], text),
    nchan_store_messages: row(INHERITED, nchanFlag),
    nchan_access_control_allow_origin: row(INHERITED, nchanAllowOrigin),
    nchan_access_control_allow_credentials: row(INHERITED, nchanFlag),
    nchan_redis_url: row(INHERITED, nchanRedisUrl),
    nchan_use_redis: row(INHERITED, nchanFlag),
  },
  defaults: () => ({
    messageBufferLength: 10,
    messageTimeout: 3_600_000,
    pushRedisUrl: null,
    nchanSubscriber: null,
    nchanPublisher: false,
    nchanPubsub: null,
    nchanChannelId: null,
    nchanPublisherChannelId: null,
    nchanSubscriberChannelId: null,
    nchanSubscriberFirstMessage: 'oldest',
    nchanWebsocketPingInterval: 0,
    nchanSubscriberTimeout: 0,
    nchanSubscriberLastMessageId: null,
    nchanEventsourcePingInterval: 0,
    nchanEventsourcePingComment: '',
    nchanEventsourcePingEvent: 'ping',
    nchanEventsourcePingData: '',
    nchanStoreMessages: true,
    nchanAccessControlAllowOrigin: null,
    nchanAccessControlAllowCredentials: true,
    nchanRedisUrl: null,
    nchanUseRedis: false,
  }),
  implies: { nchan_subscriber: 'push-subscriber', nchan_publisher: 'push-publisher', nchan_pubsub: 'push-pubsub' },
  check(_conf, own, block, fail) {
    if (block.context === 'server') {
      for (const name of ENDPOINTS) if (written(own, name)) fail(`"${name}" directive in a server block is not supported yet (write it in a location)`, block.at(name));
    }
    if (block.context === 'server' || block.context === 'location') {
      for (const name of HTTP_ONLY) if (written(own, name)) fail(`"${name}" directive in a ${block.context} block is not supported yet (write it in http)`, block.at(name));
    }
    const endpoints = ENDPOINTS.filter((name) => written(own, name));
    if (endpoints.length > 1) fail(`"${endpoints[1]}" beside "${endpoints[0]}" in one location is not supported yet (nchan_pubsub is both)`, block.at(endpoints[1]));
    if (block.context === 'http' && own.pushRedisUrl !== undefined && own.nchanUseRedis) fail('"nchan_use_redis" beside "push_redis_url": write one of them', block.at('nchan_use_redis'));
  },
};

const FIELDS: Readonly<Record<(typeof HTTP_ONLY)[number] | (typeof ENDPOINTS)[number], keyof PushConf>> = {
  nchan_redis_url: 'nchanRedisUrl',
  nchan_use_redis: 'nchanUseRedis',
  nchan_subscriber: 'nchanSubscriber',
  nchan_publisher: 'nchanPublisher',
  nchan_pubsub: 'nchanPubsub',
};

function written(own: Readonly<Partial<PushConf>>, name: keyof typeof FIELDS): boolean {
  return own[FIELDS[name]] !== undefined;
}

/** The cross-origin settings of a location written with nchan's directives. */
export function nchanCorsOf(conf: PushConf): NchanCors {
  return { allowOrigin: conf.nchanAccessControlAllowOrigin, allowCredentials: conf.nchanAccessControlAllowCredentials };
}

/**
 * The Redis that push channels live in: `push_redis_url`, else nchan's `nchan_redis_url` where
 * `nchan_use_redis on` (127.0.0.1:6379 when no URL is written, as nchan), else null (in memory).
 */
export function pushRedisUrlOf(conf: PushConf): string | null {
  if (conf.pushRedisUrl !== null) return conf.pushRedisUrl;
  return conf.nchanUseRedis ? (conf.nchanRedisUrl ?? NCHAN_DEFAULT_REDIS_URL) : null;
}
