/**
 * The `push-publisher` content handler (nchan's `nchan_publisher`): HTTP publishing to a
 * channel.
 *
 * ```yaml
 * - location: ~ ^/pub/(\w+)$
 *   handler: push-publisher
 *   channel: $1
 *   secret: change-me            # optional: requests must send `Authorization: Bearer change-me`
 *   allow: 127.0.0.1             # nginx's allow/deny restrict it further
 *   deny: all
 *   message_buffer_length: 10    # kept for replay (inherited directives)
 *   message_timeout: 1h
 *   client_max_body_size: 1m     # bigger messages: 413
 * ```
 *
 * `POST` (or `PUT`) publishes the body and answers 201 when subscribers got it, 202 when none
 * was there, with `{"channel","id","subscribers","messages"}` in JSON (`"local": true` when the
 * shared Redis was unreachable and only this gateway's subscribers got it). `GET`/`HEAD` answer
 * the channel's state (404 when it has neither messages nor subscribers); `DELETE` closes the
 * channel's subscribers and drops its messages (404 when there was no such channel). A wrong
 * or missing secret is 403; other methods 405.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../../errors';
import { coreModule } from '../core/module';
import type { ConfigContext, Handler, HandlerEnv, HandlerModule, RequestContext } from '../../types';
import type { ChannelLimits } from './memory-store';
import type { CompiledValue } from '../../http/variables';
import { readBody } from '../../shared/request-body';
import { channelLimits, channelOf, compileChannel } from './location';
import { nchanCorsOf, pushModule, type PushConf } from './module';
import { answerNchanEmpty, answerNchanOptions, applyNchanCors, type NchanCors } from './nchan-cors';
import { nchanChannelInfo, type NchanChannelInfo } from './nchan-info';

/** What `configure` makes of a publisher location's keys. */
export interface PushPublisherOptions {
  readonly channel: CompiledValue;
  /** SHA-256 of the secret (hex: the configuration is frozen data), or null when none is asked. */
  readonly secretDigest: string | null;
  /** `message_buffer_length` and `message_timeout`. */
  readonly limits: ChannelLimits;
  /** `client_max_body_size` and `client_body_timeout`: how a message is read. */
  readonly body: { readonly limit: number; readonly timeoutMs: number };
  /** Written with `nchan_publisher` (or `nchan_pubsub`): answers as nchan's publisher does (see `nchanAnswer`). */
  readonly nchan: { readonly cors: NchanCors; readonly kind: 'publisher' | 'pubsub' } | null;
}

const ALLOW = 'GET, HEAD, POST, PUT, DELETE';
const METHODS: ReadonlySet<string> = new Set(ALLOW.split(', '));

function configure(_raw: Readonly<Record<string, unknown>>, cx: ConfigContext): PushPublisherOptions {
  const channel = compileChannel(cx, 'publisher');
  const secret = cx.string('secret');
  if (secret === '') cx.error('"secret" must not be empty', 'secret');
  const core = cx.location.confs.get(coreModule);
  return {
    channel,
    secretDigest: secret === undefined ? null : digest(secret).toString('hex'),
    limits: channelLimits(cx.location),
    body: { limit: core.clientMaxBodySize, timeoutMs: core.clientBodyTimeout },
    nchan: nchanOptions(cx.location.confs.get(pushModule)),
  };
}

function nchanOptions(push: PushConf): PushPublisherOptions['nchan'] {
  if (!push.nchanPublisher && !push.nchanPubsub) return null;
  return { cors: nchanCorsOf(push), kind: push.nchanPubsub ? 'pubsub' : 'publisher' };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** 403 unless the request carries the location's secret (`expected`, its digest) as a bearer token. */
function checkSecret(expected: Buffer | null, req: IncomingMessage): void {
  if (!expected) return;
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (!m || !timingSafeEqual(digest(m[1].trim()), expected)) {
    throw new HttpError(403, 'GW_PUSH_SECRET', 'push publisher: missing or wrong secret');
  }
}

function create(opts: PushPublisherOptions, env: HandlerEnv): Handler {
  const counters = env.counters;
  const limits = opts.limits;
  const secret = opts.secretDigest === null ? null : Buffer.from(opts.secretDigest, 'hex');
  return {
    async http(req: IncomingMessage, res: ServerResponse, ctx: RequestContext) {
      if (opts.nchan) return nchanAnswer(req, res, ctx, opts.nchan);
      const method = req.method ?? 'GET';
      if (!METHODS.has(method)) throw new HttpError(405, 'GW_HTTP_405', undefined, { Allow: ALLOW });
      checkSecret(secret, req);
      const channel = channelOf(opts.channel, ctx);
      const push = env.push;
      if (method === 'POST' || method === 'PUT') {
        const body = await readBody(req, { ...opts.body, log: ctx.log });
        const contentType = req.headers['content-type'] ?? '';
        const result = await unavailableOnFailure(push.publish(channel, body, { ...limits, contentType }), ctx);
        counters.pushPublished++;
        const answer: Record<string, unknown> = { channel, id: result.id, subscribers: result.subscribers, messages: result.messages };
        if (result.local) answer.local = true;
        return sendJson(res, result.subscribers > 0 ? 201 : 202, answer, false);
      }
      if (method === 'DELETE') {
        const closed = await unavailableOnFailure(push.delete(channel), ctx);
        if (closed === null) throw new HttpError(404);
        return sendJson(res, 200, { channel, subscribers: closed }, false);
      }
      const info = await unavailableOnFailure(push.info(channel), ctx);
      if (!info) throw new HttpError(404);
      const answer = { channel, messages: info.messages, subscribers: info.subscribers, last_message_id: info.lastId, last_message_time: info.lastTime };
      return sendJson(res, 200, answer, method === 'HEAD');
    },
  };

  /**
   * A publisher written with `nchan_publisher`, answered as nchan 1.3 answers: the channel's
   * state in nchan's formats (`nchan-info.ts`) after a publish (201 with subscribers, 202
   * without), for `GET` (404 with an empty body when there is no such channel) and for
   * `DELETE` (the state before the channel went); `OPTIONS` is an empty 200 with `Allow`; every
   * answer carries nchan's Access-Control headers (nchan-cors.ts).
   * "last requested" is 0 while the channel has subscribers, else -1: the channels do not
   * keep when a subscriber last came.
   */
  async function nchanAnswer(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, nchan: NonNullable<PushPublisherOptions['nchan']>): Promise<void> {
    const method = req.method ?? 'GET';
    if (!applyNchanCors(nchan.cors, req, res, ctx)) return answerNchanEmpty(res, 403);
    if (method === 'OPTIONS') return answerNchanOptions(nchan.kind, req, res);
    if (!METHODS.has(method)) throw new HttpError(405, 'GW_HTTP_405', undefined, { Allow: NCHAN_ALLOW });
    const channel = channelOf(opts.channel, ctx);
    const push = env.push;
    const accept = req.headers.accept;
    if (method === 'POST' || method === 'PUT') {
      const body = await readBody(req, { ...opts.body, log: ctx.log });
      const contentType = req.headers['content-type'] ?? '';
      const result = await unavailableOnFailure(push.publish(channel, body, { ...limits, contentType }), ctx);
      counters.pushPublished++;
      const info = nchanChannelInfo(accept, nchanState(result.messages, result.subscribers, result.id));
      return sendText(res, result.subscribers > 0 ? 201 : 202, info.contentType, info.body, false);
    }
    const state = await unavailableOnFailure(push.info(channel), ctx);
    if (method === 'DELETE' && state) await unavailableOnFailure(push.delete(channel), ctx);
    if (!state) return answerNchanEmpty(res, 404);
    const info = nchanChannelInfo(accept, nchanState(state.messages, state.subscribers, state.lastId));
    return sendText(res, 200, info.contentType, info.body, method === 'HEAD');
  }
}

const NCHAN_ALLOW = 'GET, POST, PUT, DELETE';

function nchanState(messages: number, subscribers: number, lastId: string | null): NchanChannelInfo {
  return { messages, requested: subscribers > 0 ? 0 : -1, subscribers, lastMessageId: lastId ?? '0:0' };
}

function sendText(res: ServerResponse, status: number, contentType: string, body: string, headOnly: boolean): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(headOnly ? undefined : body);
}

/** A channel operation the broker could not do (the master or Redis did not answer): 503, logged. */
async function unavailableOnFailure<T>(operation: Promise<T>, ctx: RequestContext): Promise<T> {
  try {
    return await operation;
  } catch (err) {
    if (err instanceof HttpError) throw err;
    ctx.log.error(`push publisher: ${(err as Error).message}`);
    throw new HttpError(503, 'GW_PUSH_UNAVAILABLE', (err as Error).message);
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown, headOnly: boolean): void {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(headOnly ? undefined : body);
}

/** The `push-publisher` handler module. */
const pushPublisher: HandlerModule<PushPublisherOptions> = { configure, create };

export default pushPublisher;
