/**
 * What push-subscriber and push-publisher locations share: the `channel` key, a template of
 * variables (`$1`, `$arg_id`, `$uri`...) compiled at load and expanded per request, and the
 * location's channel limits.
 */
import { ConfigError, HttpError } from '../../errors';
import { compileValue, type CompiledValue } from '../../http/variables';
import type { ConfigContext, LocationConf, RequestContext } from '../../types';
import { channelIdProblem } from './channel-id';
import type { ChannelLimits } from './memory-store';
import { pushModule } from './module';
import type { NchanChannelId } from './nchan-directives';

/**
 * Compiles the location's channel id for a publisher or a subscriber: its `channel` key, or
 * nchan's `nchan_publisher_channel_id` / `nchan_subscriber_channel_id`, else `nchan_channel_id`
 * (each inherited from the server, as in nchan); one of them is required.
 */
export function compileChannel(cx: ConfigContext, role: 'publisher' | 'subscriber'): CompiledValue {
  const nchan = cx.location.confs.get(pushModule);
  const text = cx.string('channel');
  const [own, name] = role === 'publisher' ? [nchan.nchanPublisherChannelId, 'nchan_publisher_channel_id'] : [nchan.nchanSubscriberChannelId, 'nchan_subscriber_channel_id'];
  const id = own ?? nchan.nchanChannelId;
  if (id && text !== undefined) cx.error(`"channel" beside "${own ? name : 'nchan_channel_id'}": write one of them`, 'channel');
  if (id) return compileNchanChannelId(id, own ? name : 'nchan_channel_id', cx);
  if (nchan.nchanSubscriber || nchan.nchanPublisher || nchan.nchanPubsub) cx.error('"nchan_channel_id" directive is required');
  if (text === undefined || text === '') return cx.error('"channel" directive is required');
  try {
    const value = compileValue(text, cx.captureNames);
    const problem = value.constant === null ? null : channelIdProblem(value.constant);
    if (problem) cx.error(problem, 'channel');
    return value;
  } catch (err) {
    return cx.error(`${(err as Error).message} in "channel"`, 'channel');
  }
}

/** `nchan_channel_id`'s template, compiled; an error at the directive. */
function compileNchanChannelId(id: NchanChannelId, directive: string, cx: ConfigContext): CompiledValue {
  try {
    return compileValue(id.text, cx.captureNames);
  } catch (err) {
    throw new ConfigError(`${(err as Error).message} in "${directive}"`, id.position);
  }
}

/** The request's channel id; 400 when the expansion is not a valid id. */
export function channelOf(template: CompiledValue, ctx: RequestContext): string {
  const channel = ctx.evaluate(template);
  const problem = channelIdProblem(channel);
  if (problem) throw new HttpError(400, 'GW_PUSH_CHANNEL', problem);
  return channel;
}

/** `message_buffer_length` and `message_timeout` of the location. */
export function channelLimits(location: Pick<LocationConf, 'confs'>): ChannelLimits {
  const conf = location.confs.get(pushModule);
  return { bufferLength: conf.nchanStoreMessages ? conf.messageBufferLength : 0, timeoutMs: conf.messageTimeout };
}
