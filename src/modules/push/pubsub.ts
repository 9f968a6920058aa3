/**
 * The `push-pubsub` content handler (nchan's `nchan_pubsub`): a subscriber and a publisher in
 * one location. A GET subscribes (an EventSource; nchan's other GET subscribers are not here:
 * an empty 403), a WebSocket subscribes and what it sends is published to its channel (nchan's
 * echo server). With `http` (the default) every other method is the publisher's (POST, PUT,
 * DELETE, OPTIONS), answered as nchan's publisher; without it, the subscriber's (an empty 403).
 */
import type { HandlerModule } from '../../types';
import pushPublisher, { type PushPublisherOptions } from './publisher';
import { pushModule } from './module';
import pushSubscriber, { type PushSubscriberOptions } from './subscriber';

/** What `configure` makes of a pubsub location. */
export interface PushPubsubOptions {
  readonly subscriber: PushSubscriberOptions;
  readonly publisher: PushPublisherOptions;
  /** `http` among nchan_pubsub's types: HTTP requests other than GET go to the publisher. */
  readonly http: boolean;
}

const pushPubsub: HandlerModule<PushPubsubOptions> = {
  configure(raw, cx) {
    return {
      subscriber: pushSubscriber.configure(raw, cx),
      publisher: pushPublisher.configure(raw, cx),
      http: cx.location.confs.get(pushModule).nchanPubsub?.http ?? true,
    };
  },
  async create(opts, env) {
    const subscriber = await pushSubscriber.create(opts.subscriber, env);
    const publisher = await pushPublisher.create(opts.publisher, env);
    return {
      http(req, res, ctx) {
        if (req.method === 'GET' || req.method === 'HEAD' || !opts.http) return subscriber.http!(req, res, ctx);
        return publisher.http!(req, res, ctx);
      },
      upgrade: subscriber.upgrade,
      close: subscriber.close,
    };
  },
};

export default pushPubsub;
