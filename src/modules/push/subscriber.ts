/**
 * The `push-subscriber` content handler (nchan's `nchan_subscriber`): a WebSocket or an
 * EventSource (Server-Sent Events) stream that receives every message published to a channel.
 *
 * ```yaml
 * - location: ~ ^/sub/(\w+)$
 *   handler: push-subscriber
 *   channel: $1                       # a template: captures, $arg_..., $uri, ...
 *   subscriber_types: [websocket, eventsource]  # which subscribers it takes (both by default)
 *   send_buffer: 1m                   # bytes a subscriber may have waiting on its connection
 *   overflow: close                   # past it: close (1013; `close 1008` for policy), or drop_oldest
 *   ping_interval: 30s                # an SSE comment / WebSocket ping when idle (0: none)
 * ```
 *
 * Replay: a subscriber that sends `Last-Event-ID` (EventSource does on reconnecting) or
 * `?last_id=<id>` gets the channel's kept messages after that id first (`last_id=0`: all kept).
 * WebSocket messages go as text frames when the data is UTF-8, binary otherwise; frames a
 * subscriber sends are ignored (pings answered). A deleted channel closes its subscribers
 * (WebSocket 1000 "channel deleted", the event stream ends).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { HttpError } from '../../errors';
import { coreModule } from '../core/module';
import { PushInputError } from './fanout';
import { parseLastId } from './message';
import type { PushMessage } from './message';
import { SendQueue, type OverflowPolicy, type QueueEvents } from './send-queue';
import { EVENT_STREAM_HEADERS, NCHAN_SSE_GONE, NCHAN_SSE_HELLO, NCHAN_SSE_TIMEOUT, nchanSsePing, SSE_PING, sseEvent } from './sse';
import type { ConfigContext, Counters, Frame, Handler, HandlerEnv, HandlerModule, PushChannels, PushSubscription, RequestContext, UpgradeOutcome } from '../../types';
import { serverSignature } from '../../http/version';
import { CloseCode, DEFAULT_MAX_PAYLOAD_LEN } from '../../shared/websocket/constants';
import { prepareFrame, WebSocketAcceptor, type PreparedFrame, type WebSocketSessionImpl } from '../../shared/websocket/session';
import { channelLimits, channelOf, compileChannel } from './location';
import type { ChannelLimits } from './memory-store';
import { nchanCorsOf, pushModule } from './module';
import { answerNchanEmpty, answerNchanOptions, applyNchanCors, originAllowed, type NchanCors } from './nchan-cors';
import type { CompiledValue } from '../../http/variables';

/** What `configure` makes of a subscriber location's keys. */
export interface PushSubscriberOptions {
  readonly channel: CompiledValue;
  /** The `Server` header of the WebSocket handshake (`server_tokens`). */
  readonly signature: string;
  readonly websocket: boolean;
  readonly eventsource: boolean;
  readonly sendBuffer: number;
  readonly overflow: OverflowPolicy;
  /** ms between event-stream pings; 0: no pings. */
  readonly pingInterval: number;
  /** The text of an event-stream ping (`: ping`, or nchan's `nchan_eventsource_ping_*`; text: the configuration is frozen data). */
  readonly ssePing: string;
  /** ms between WebSocket pings (nchan's `nchan_websocket_ping_interval` applies to WebSockets only). */
  readonly wsPingInterval: number;
  /**
   * Written with `nchan_subscriber`: nchan's ways. A request the location does not take (another
   * method, a GET that is no EventSource, a type not listed) is 403; the last id comes from
   * `Last-Event-ID` or `?last_event_id=`; a new subscriber that names none is replayed what the
   * channel keeps (`nchan_subscriber_first_message oldest`, nchan's default) unless `replay` is off.
   */
  readonly nchan: { readonly replay: boolean; readonly cors: NchanCors; readonly timeout: number; readonly lastId: readonly CompiledValue[] | null } | null;
  /** `nchan_pubsub` with WebSocket: what a WebSocket subscriber sends is published to this channel (the publisher's), kept so. */
  readonly publishFrames: { readonly channel: CompiledValue; readonly limits: ChannelLimits } | null;
}

const TYPES = ['websocket', 'eventsource'];
/** 1013 Try Again Later: the client may reconnect and be replayed what it missed. */
const TRY_AGAIN_LATER = 1013;
const POLICY_VIOLATION = 1008;

function configure(raw: Readonly<Record<string, unknown>>, cx: ConfigContext): PushSubscriberOptions {
  const channel = compileChannel(cx, 'subscriber');
  const push = cx.location.confs.get(pushModule);
  const nchan = push.nchanSubscriber ?? push.nchanPubsub;
  let types: readonly string[] = nchan?.types ?? TYPES;
  if (nchan && raw.subscriber_types !== undefined) cx.error('"subscriber_types" beside nchan\'s directives: write the types in "nchan_subscriber"', 'subscriber_types');
  if (raw.subscriber_types !== undefined) {
    // A list of names, or one string of them (words apart as nginx's arguments are: space, tab, CR, LF).
    const value = raw.subscriber_types;
    const list: unknown[] = Array.isArray(value) ? value : (cx.string('subscriber_types') ?? '').split(/[ \t\r\n]+/).filter(Boolean);
    for (const t of list) {
      if (typeof t !== 'string' || !TYPES.includes(t)) cx.error(`invalid value ${typeof t === 'string' ? `"${t}"` : t !== null && typeof t === 'object' ? 'that is not a name' : String(t)} in "subscriber_types" (websocket, eventsource)`, 'subscriber_types');
    }
    if (list.length === 0) cx.error('"subscriber_types" names no subscriber type', 'subscriber_types');
    types = list as string[];
  }
  const sendBuffer = cx.size('send_buffer') ?? 1024 * 1024;
  const pingInterval = cx.time('ping_interval') ?? 0;
  if (sendBuffer < 1) cx.error('"send_buffer" must be at least 1 byte', 'send_buffer');
  return {
    channel,
    signature: serverSignature(cx.location.confs.get(coreModule).serverTokens),
    websocket: types.includes('websocket'),
    eventsource: types.includes('eventsource'),
    sendBuffer,
    overflow: parseOverflow(cx.string('overflow') ?? 'close', cx),
    pingInterval: nchan && pingInterval === 0 ? push.nchanEventsourcePingInterval : pingInterval,
    ssePing: nchan ? nchanSsePing(push.nchanEventsourcePingComment, push.nchanEventsourcePingEvent, push.nchanEventsourcePingData) : SSE_PING.toString('latin1'),
    wsPingInterval: nchan && pingInterval === 0 ? push.nchanWebsocketPingInterval : pingInterval,
    nchan: nchan ? { replay: push.nchanSubscriberFirstMessage === 'oldest', cors: nchanCorsOf(push), timeout: push.nchanSubscriberTimeout, lastId: push.nchanSubscriberLastMessageId } : null,
    publishFrames: push.nchanPubsub?.types.includes('websocket') ? { channel: compileChannel(cx, 'publisher'), limits: channelLimits(cx.location) } : null,
  };
}

function parseOverflow(text: string, cx: ConfigContext): OverflowPolicy {
  const [kind, code, extra] = text.split(/[ \t\r\n]+/).filter(Boolean);
  if (kind === 'drop_oldest' && code === undefined) return { kind: 'drop_oldest' };
  if (kind === 'close' && extra === undefined) {
    if (code === undefined) return { kind: 'close', code: TRY_AGAIN_LATER };
    if (code === String(TRY_AGAIN_LATER) || code === String(POLICY_VIOLATION)) return { kind: 'close', code: Number(code) };
  }
  return cx.error(`invalid value "${text}" in "overflow" (close, close 1008, close 1013, drop_oldest)`, 'overflow');
}

/**
 * The last id a subscriber asks to be replayed from: `Last-Event-ID`, else `?last_id=`
 * (nchan's `?last_event_id=` at an `nchan_subscriber` location, where a subscriber that names
 * none is replayed what is kept unless `nchan_subscriber_first_message newest`).
 */
function lastIdOf(req: IncomingMessage, ctx: RequestContext, nchan: PushSubscriberOptions['nchan']): string | undefined {
  const header = req.headers['last-event-id'];
  const text = nchan?.lastId
    ? nchan.lastId.map((value) => ctx.evaluate(value)).find((value) => value !== '')
    : typeof header === 'string' && header !== ''
      ? header
      : ctx.variable(nchan ? 'arg_last_event_id' : 'arg_last_id') || undefined;
  if (text === undefined && nchan?.replay) return '0';
  if (text !== undefined && !parseLastId(text)) {
    throw new HttpError(400, 'GW_PUSH_LAST_ID', `malformed last message id "${text.slice(0, 64)}"`);
  }
  return text;
}

function create(opts: PushSubscriberOptions, env: HandlerEnv): Handler {
  const location = new SubscriberLocation(opts, env.push, env.counters);
  return {
    http: (req, res, ctx) => {
      if (opts.nchan) {
        if (!applyNchanCors(opts.nchan.cors, req, res, ctx)) return answerNchanEmpty(res, 403);
        if (req.method === 'OPTIONS') return answerNchanOptions('subscriber', req, res);
        // nchan's answer: an empty 403 (the gateway has no long-poll, chunked or multipart subscriber).
        if (!(isEventSourceRequest(req) && opts.eventsource)) return answerNchanEmpty(res, 403);
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405);
      if (!opts.eventsource) throw new HttpError(400, 'GW_PUSH_WEBSOCKET_ONLY', 'this location takes WebSocket subscribers only');
      return location.eventStream(req, res, ctx);
    },
    upgrade: (req, socket, head, ctx) => {
      if (opts.nchan && !opts.websocket) throw new HttpError(403, 'GW_PUSH_SUBSCRIBER_TYPE', 'this location takes no WebSocket subscriber');
      if (opts.nchan && !originAllowed(opts.nchan.cors, req, ctx)) throw new HttpError(403, 'GW_PUSH_SUBSCRIBER_TYPE', 'an origin nchan_access_control_allow_origin does not name');
      if (!opts.websocket) throw new HttpError(400, 'GW_PUSH_EVENTSOURCE_ONLY', 'this location takes EventSource subscribers only');
      return location.webSocket(req, socket, head, ctx);
    },
    close: () => location.close(),
  };
}

/** A GET or HEAD that asks for an event stream (`Accept: text/event-stream`), as nchan tells an EventSource subscriber. */
function isEventSourceRequest(req: IncomingMessage): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(req.headers.accept ?? '');
}

/** One subscriber location: its options, its channels, its counters and its live subscribers. */
class SubscriberLocation {
  private readonly acceptor = new WebSocketAcceptor({ maxPayload: DEFAULT_MAX_PAYLOAD_LEN });
  private readonly live = new Set<{ close(): void }>();
  /** What the send queues report, into the location's counters. */
  private readonly events: QueueEvents;

  constructor(
    private readonly opts: PushSubscriberOptions,
    private readonly push: PushChannels,
    private readonly counters: Counters | null,
  ) {
    this.events = {
      dropped(n) {
        if (counters) counters.pushDropped += n;
      },
      overflowClosed() {
        if (counters) counters.pushOverflowClosed++;
      },
    };
  }

  /** The gateway stops: no more upgrades, every subscriber closed (WebSocket 1001). */
  close(): void {
    this.acceptor.close();
    for (const subscriber of this.live) subscriber.close();
  }

  /**
   * An EventSource subscriber: a 200 event stream for as long as the client stays. The head goes
   * out once the subscription is in place everywhere, so a client that saw the 200 misses nothing
   * published after it.
   */
  async eventStream(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const { opts, push, counters, events, live } = this;
    const channel = channelOf(opts.channel, ctx);
    const lastId = lastIdOf(req, ctx, opts.nchan);
    if (req.method === 'HEAD') {
      res.writeHead(200, EVENT_STREAM_HEADERS);
      res.end();
      return;
    }
    for (const [name, value] of Object.entries(EVENT_STREAM_HEADERS)) res.setHeader(name, value);
    const end = () => res.end();
    // nchan's stream opens with a `: hi` comment and, when its channel is deleted, ends with `:410: 410 Gone`.
    let greeted = opts.nchan === null;
    const greet = () => {
      if (!greeted) res.write(NCHAN_SSE_HELLO);
      greeted = true;
    };
    const deleted = opts.nchan ? () => (greet(), res.end(NCHAN_SSE_GONE)) : end;
    const idle = new IdleTimer(opts.nchan?.timeout ?? 0, () => (greet(), res.end(NCHAN_SSE_TIMEOUT)));
    res.once('close', () => idle.stop());
    const queue = new SendQueue(
      {
        buffered: () => res.writableLength,
        write: (message) => {
          greet();
          res.write(eventOf(message));
          idle.restart();
          if (counters) counters.pushDelivered++;
        },
        // What waits for a client that fell behind is let go at once; it reconnects with Last-Event-ID.
        overflow: () => res.destroy(),
      },
      opts.sendBuffer,
      opts.overflow,
      events,
    );
    res.on('drain', () => queue.drained());
    // A client that hangs up sends a FIN that Node's server leaves half-open while a response is
    // under way: the subscriber is gone at once, not at the next write.
    const hangUp = () => res.destroy();
    req.socket.once('end', hangUp);
    res.once('close', () => req.socket.off('end', hangUp));
    let subscription: PushSubscription | null = null;
    // What arrives before `subscribe` resolves is the replay the client asked for.
    let replaying = true;
    try {
      subscription = await push.subscribe(channel, (m) => (replaying ? queue.replay(m) : queue.push(m)), { lastId, onClose: deleted });
      replaying = false;
    } catch (err) {
      throw unavailable(err, channel, ctx);
    }
    if (res.destroyed) {
      subscription.unsubscribe();
      return;
    }
    greet();
    idle.restart();
    if (!res.headersSent) res.flushHeaders();
    const entry = { close: end };
    live.add(entry);
    if (counters) counters.pushSubscribers++;
    const ping = opts.pingInterval > 0 ? setInterval(() => res.writableLength === 0 && res.write(opts.ssePing), opts.pingInterval) : null;
    res.once('close', () => {
      live.delete(entry);
      if (counters) counters.pushSubscribers--;
      if (ping) clearInterval(ping);
      queue.close();
      subscription.unsubscribe();
    });
  }

  /**
   * A WebSocket subscriber: subscribed first (messages meanwhile are held), then accepted, then
   * fed until either side closes. A subscription that cannot be made is a 503 before the handshake.
   */
  async webSocket(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext): Promise<UpgradeOutcome> {
    const { opts, push, acceptor, counters, events, live } = this;
    const channel = channelOf(opts.channel, ctx);
    const lastId = lastIdOf(req, ctx, opts.nchan);
    let queue: SendQueue | null = null;
    // A deleted channel's WebSocket: 1000 "channel deleted"; nchan's 1001 "410 Gone" at an nchan_* location.
    const closeOnDelete: [number, string] = opts.nchan ? [CloseCode.GOING_AWAY, '410 Gone'] : [CloseCode.NORMAL, 'channel deleted'];
    const early: PushMessage[] = [];
    let deleted = false;
    let session: WebSocketSessionImpl | null = null;
    let subscription: PushSubscription;
    try {
      subscription = await push.subscribe(channel, (m) => (queue ? queue.push(m) : early.push(m)), {
        lastId,
        onClose: () => {
          deleted = true;
          session?.close(...closeOnDelete);
        },
      });
    } catch (err) {
      throw unavailable(err, channel, ctx);
    }
    session = await acceptor.accept(req, socket, head, {
      timeoutMs: 0,
      serverHeader: this.opts.signature,
      onSocketError: (err) => ctx.log.info(`push subscriber: ${err.message}`),
      counters: counters ?? undefined,
    });
    if (!session) {
      subscription.unsubscribe();
      return { status: req.method === 'GET' ? 400 : 405, bytesSent: 0 };
    }
    const ws = session;
    const entry = { close: () => ws.close(CloseCode.GOING_AWAY, 'server shutting down') };
    live.add(entry);
    counters?.wsOpened();
    if (counters) counters.pushSubscribers++;
    // nchan_subscriber_timeout: nchan's close after that long without a message.
    const idle = new IdleTimer(opts.nchan?.timeout ?? 0, () => ws.close(CloseCode.NORMAL, '408 408 Request Timeout'));
    idle.restart();
    queue = new SendQueue(
      {
        buffered: () => ws.bufferedAmount,
        write: (message) => {
          if (ws.postFrame(frameOf(message)) && counters) counters.pushDelivered++;
          idle.restart();
        },
        overflow: (code) => ws.close(code, 'subscriber too slow'),
      },
      opts.sendBuffer,
      opts.overflow,
      events,
    );
    for (const message of early.splice(0)) queue.replay(message);
    if (deleted) ws.close(...closeOnDelete);
    const sendQueue = queue;
    ws.onDrain(() => sendQueue.drained());
    const ping = opts.wsPingInterval > 0 ? setInterval(() => ws.bufferedAmount === 0 && void ws.sendPing().catch(() => {}), opts.wsPingInterval) : null;
    const publish = opts.publishFrames ? framePublisher(push, channelOf(opts.publishFrames.channel, ctx), opts.publishFrames.limits, ctx, counters) : null;
    void answerControlFrames(ws, publish);
    const end = await ws.closed;
    idle.stop();
    subscription.unsubscribe();
    sendQueue.close();
    if (ping) clearInterval(ping);
    live.delete(entry);
    counters?.wsClosed(end.code);
    if (counters) counters.pushSubscribers--;
    return { status: 101, bytesSent: end.bodyBytesSent };
  }

}

/** Runs `fire` once `ms` pass without a `restart` (never when `ms` is 0). */
class IdleTimer {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly ms: number,
    private readonly fire: () => void,
  ) {}

  restart(): void {
    if (this.ms <= 0 || this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(this.fire, this.ms);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

/** A subscription the channels refused: 400 for input they reject, else 503 (logged). */
function unavailable(err: unknown, channel: string, ctx: RequestContext): HttpError {
  if (err instanceof PushInputError) return new HttpError(400, 'GW_PUSH_INPUT', err.message);
  ctx.log.error(`push: subscribing to "${channel}" failed: ${(err as Error).message}`);
  return new HttpError(503, 'GW_PUSH_UNAVAILABLE', (err as Error).message);
}

/**
 * Publishes a pubsub WebSocket's message to its channel (a binary frame as
 * `application/octet-stream`, as nchan); one that cannot be published is logged and dropped.
 */
function framePublisher(push: PushChannels, channel: string, limits: ChannelLimits, ctx: RequestContext, counters: Counters | null) {
  return async (frame: Frame): Promise<void> => {
    const contentType = frame.type === 'binary' ? 'application/octet-stream' : '';
    try {
      await push.publish(channel, frame.data, { ...limits, contentType });
      if (counters) counters.pushPublished++;
    } catch (err) {
      ctx.log.error(`push: publishing a WebSocket message to "${channel}" failed: ${(err as Error).message}`);
    }
  };
}

/**
 * Reads what the subscriber sends: pings are answered, messages published where `publish` is
 * given (else ignored), until the close. A message is published before the next frame is read,
 * so a client that sends faster than the channels take it waits on its own connection.
 */
async function answerControlFrames(session: WebSocketSessionImpl, publish: ((frame: Frame) => Promise<void>) | null): Promise<void> {
  try {
    for (;;) {
      const frame = await session.recvFrame();
      if (frame?.type === 'ping') await session.sendPong(frame.data);
      else if (frame?.type === 'close') return;
      else if (publish && (frame?.type === 'text' || frame?.type === 'binary')) await publish(frame);
    }
  } catch {
    // The connection ended: `closed` tells the rest.
  }
}

/** Text frames for UTF-8 data (what browsers expect), binary for the rest. */
function isTextMessage(message: PushMessage): boolean {
  return !message.contentType.startsWith('application/octet-stream') && isUtf8(message.data);
}

/**
 * A message is encoded once, whatever the number of subscribers: its WebSocket frame and its
 * SSE event are kept beside it for as long as it lives (every subscriber of this process gets
 * the same message object).
 */
const wsFrames = new WeakMap<PushMessage, PreparedFrame>();
const sseEvents = new WeakMap<PushMessage, Buffer>();

function frameOf(message: PushMessage): PreparedFrame {
  let frame = wsFrames.get(message);
  if (!frame) wsFrames.set(message, (frame = prepareFrame(message.data, !isTextMessage(message))));
  return frame;
}

function eventOf(message: PushMessage): Buffer {
  let event = sseEvents.get(message);
  if (!event) sseEvents.set(message, (event = Buffer.from(sseEvent(message))));
  return event;
}

/** The `push-subscriber` handler module. */
const pushSubscriber: HandlerModule<PushSubscriberOptions> = { configure, create };

export default pushSubscriber;
