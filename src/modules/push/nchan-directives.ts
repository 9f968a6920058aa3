/**
 * nchan's own directives, read as the push module's nginx syntax: `nchan_subscriber`,
 * `nchan_publisher`, `nchan_channel_id`, `nchan_subscriber_first_message`,
 * `nchan_store_messages`, `nchan_redis_url`, `nchan_use_redis`... Each parser checks nchan's
 * arguments and refuses the values the gateway has no feature for (`longpoll`, several channel
 * ids) with `not supported yet`, pointing at the argument itself.
 */
import type { Position } from '../../errors';
import { argsOf, one, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { isArgSeparator, parseFlag, parseRedisUrl } from '../../config/values';
import { compileValue, type CompiledValue } from '../../http/variables';
import { channelIdProblem } from './channel-id';

/** A subscriber type the gateway serves. */
export type SubscriberType = 'websocket' | 'eventsource';

/** `nchan_subscriber [types]`: the subscriber types the location takes. */
export interface NchanSubscriber {
  readonly types: readonly SubscriberType[];
}

/** `nchan_pubsub [types]`: the subscriber types the location takes, and whether HTTP requests publish. */
export interface NchanPubsub {
  readonly types: readonly SubscriberType[];
  /** `http`: POST and PUT publish, GET and DELETE see and delete the channel, as at a publisher. */
  readonly http: boolean;
}

/** `nchan_channel_id`: the id's text (variables compiled by the handler) and where it was written. */
export interface NchanChannelId {
  readonly text: string;
  readonly position: Position;
}

/** nchan's subscriber types, and which the gateway has. */
const SUBSCRIBER_TYPES: Readonly<Record<string, SubscriberType | null>> = {
  websocket: 'websocket',
  eventsource: 'eventsource',
  longpoll: null,
  intervalpoll: null,
  chunked: null,
  'multipart-mixed': null,
  'http-raw-stream': null,
};

/**
 * Where the `index`th argument of `node` begins: the value's position moved over the text
 * before it (nginx.conf keeps the arguments' text as written; a YAML value is its own text).
 */
export function argumentPosition(node: ConfNode, index: number): Position {
  const text = node.kind === 'scalar' && typeof node.value === 'string' ? node.value : null;
  if (text === null || index === 0) return node.pos;
  let i = 0;
  for (let n = 0; ; n++) {
    while (i < text.length && isArgSeparator(text[i])) i++;
    if (n === index || i >= text.length) break;
    const quote = text[i] === '"' || text[i] === "'" ? text[i] : null;
    i += quote ? 1 : 0;
    while (i < text.length && (quote ? text[i] !== quote : !isArgSeparator(text[i]))) i += text[i] === '\\' ? 2 : 1;
    i += quote ? 1 : 0;
  }
  const before = text.slice(0, i);
  const lastBreak = before.lastIndexOf('\n');
  const lines = before.split('\n').length - 1;
  return lines === 0 ? { ...node.pos, col: node.pos.col + i } : { ...node.pos, line: node.pos.line + lines, col: i - lastBreak };
}

/** Fails at the `index`th argument of `node`. */
function failAt(cx: ParseContext, node: ConfNode, index: number, reason: string): never {
  return cx.fail(reason, { kind: 'scalar', value: null, pos: argumentPosition(node, index) });
}

/** The arguments of a directive that may take none (`nchan_subscriber;`, YAML `nchan_subscriber:`). */
function optionalArgs(node: ConfNode, cx: ParseContext): string[] {
  if (node.kind === 'scalar' && (node.value === null || node.value === '')) return [];
  return argsOf(node, cx);
}

/** `nchan_subscriber [websocket|eventsource|longpoll|intervalpoll|chunked|multipart-mixed|http-raw-stream]`. */
export function nchanSubscriber(node: ConfNode, cx: ParseContext, name: string): NchanSubscriber {
  const args = optionalArgs(node, cx);
  if (args.length > 5) cx.fail(`invalid number of arguments in "${name}" directive`, node);
  // Without arguments nchan takes all but intervalpoll and http-raw-stream: here, those the gateway has.
  if (args.length === 0) return { types: ['websocket', 'eventsource'] };
  const types: SubscriberType[] = [];
  args.forEach((arg, i) => {
    if (!Object.hasOwn(SUBSCRIBER_TYPES, arg)) failAt(cx, node, i, `invalid ${name} value: ${arg}`);
    const type = SUBSCRIBER_TYPES[arg];
    if (type === null) failAt(cx, node, i, `subscriber type "${arg}" of "${name}" is not supported yet`);
    if (!types.includes(type)) types.push(type);
  });
  return { types };
}

/**
 * `nchan_pubsub [http|websocket|eventsource|longpoll|...]`: a subscriber and a publisher in one
 * location (`websocket`: a WebSocket subscriber's frames are published too).
 */
export function nchanPubsub(node: ConfNode, cx: ParseContext, name: string): NchanPubsub {
  const args = optionalArgs(node, cx);
  if (args.length > 6) cx.fail(`invalid number of arguments in "${name}" directive`, node);
  // Without arguments nchan takes http websocket eventsource longpoll chunked multipart-mixed: here, those the gateway has.
  if (args.length === 0) return { types: ['websocket', 'eventsource'], http: true };
  const types: SubscriberType[] = [];
  let http = false;
  args.forEach((arg, i) => {
    if (arg === 'http') {
      http = true;
      return;
    }
    if (!Object.hasOwn(SUBSCRIBER_TYPES, arg)) failAt(cx, node, i, `invalid ${name} value: ${arg}`);
    const type = SUBSCRIBER_TYPES[arg];
    if (type === null) failAt(cx, node, i, `subscriber type "${arg}" of "${name}" is not supported yet`);
    if (!types.includes(type)) types.push(type);
  });
  return { types, http };
}

/** `nchan_publisher [http|websocket]`: HTTP publishing; a WebSocket publisher is not there yet. */
export function nchanPublisher(node: ConfNode, cx: ParseContext, name: string): true {
  const args = optionalArgs(node, cx);
  if (args.length > 2) cx.fail(`invalid number of arguments in "${name}" directive`, node);
  args.forEach((arg, i) => {
    if (arg === 'websocket') failAt(cx, node, i, `publisher type "websocket" of "${name}" is not supported yet`);
    if (arg !== 'http') failAt(cx, node, i, `invalid ${name} value: ${arg}`);
  });
  return true;
}

/** `nchan_channel_id ID`: one id, with variables; several (multiplexed channels) are not there yet. */
export function nchanChannelId(node: ConfNode, cx: ParseContext, name: string): NchanChannelId {
  const args = argsOf(node, cx);
  if (args.length < 1 || args.length > 7) cx.fail(`invalid number of arguments in "${name}" directive`, node);
  if (args.length > 1) failAt(cx, node, 1, `several channel ids in "${name}" (multiplexed channels) are not supported yet`);
  const text = args[0];
  if (!text.includes('$')) {
    const problem = channelIdProblem(text);
    if (problem) cx.fail(`${problem} in "${name}" directive`, node);
  }
  return { text, position: node.pos };
}

/** `nchan_subscriber_first_message oldest|newest`: a new subscriber is replayed what is kept, or not; a count is not there yet. */
export function nchanFirstMessage(node: ConfNode, cx: ParseContext, name: string): 'oldest' | 'newest' {
  const value = one(node, cx, name);
  if (value === 'oldest' || value === 'newest') return value;
  if (/^-?\d+$/.test(value)) return cx.fail(`a message count in "${name}" is not supported yet`, node);
  return cx.fail(`invalid value "${value}" in "${name}" directive, it must be "oldest", "newest" or a number`, node);
}

/** `on|off` of nchan's flags (`nchan_store_messages`, `nchan_use_redis`). */
export function nchanFlag(node: ConfNode, cx: ParseContext, name: string): boolean {
  const value = node.kind === 'scalar' && typeof node.value === 'boolean' ? node.value : one(node, cx, name, true);
  try {
    return parseFlag(value);
  } catch {
    return cx.fail(`invalid value "${String(value)}" in "${name}" directive, it must be "on" or "off"`, node);
  }
}

/** `nchan_redis_url`: `redis://[:password@]host[:port][/db]`, or nchan's shorthand `host[:port]`. */
export function nchanRedisUrl(node: ConfNode, cx: ParseContext, name: string): string {
  const value = one(node, cx, name);
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `redis://${value}`;
  try {
    return parseRedisUrl(url);
  } catch (err) {
    return cx.fail(`${(err as Error).message} in "${name}" directive`, node);
  }
}

/**
 * nchan's `nchan_message_buffer_length` and `nchan_message_timeout`: the gateway's value parser
 * (`parse`), after refusing a variable (nchan sets them per request from one) as not supported yet.
 */
export function withoutVariables(parse: (node: ConfNode, cx: ParseContext, name: string) => number) {
  return (node: ConfNode, cx: ParseContext, name: string): number => {
    if (argsOf(node, cx).some((arg) => arg.includes('$'))) cx.fail(`a variable in "${name}" is not supported yet`, node);
    return parse(node, cx, name);
  };
}

/** `nchan_access_control_allow_origin`: the origins allowed (space apart, `*` any), with variables, compiled once. */
export function nchanAllowOrigin(node: ConfNode, cx: ParseContext, name: string): CompiledValue {
  const value = one(node, cx, name);
  try {
    return compileValue(value, cx.captureNames);
  } catch (err) {
    return cx.fail(`${(err as Error).message} in "${name}"`, node);
  }
}

/** `nchan_subscriber_last_message_id`: up to five values (with variables), the first not empty names the last id a subscriber saw. */
export function nchanLastMessageId(node: ConfNode, cx: ParseContext, name: string): readonly CompiledValue[] {
  const args = argsOf(node, cx);
  if (args.length < 1 || args.length > 5) cx.fail(`invalid number of arguments in "${name}" directive`, node);
  return args.map((arg, i) => {
    try {
      return compileValue(arg, cx.captureNames);
    } catch (err) {
      return failAt(cx, node, i, `${(err as Error).message} in "${name}"`);
    }
  });
}

/** nchan's default Redis, for `nchan_use_redis on` without `nchan_redis_url`. */
export const NCHAN_DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
