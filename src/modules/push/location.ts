/**
 * What push-subscriber and push-publisher locations share: the `channel` key, a template of
 * variables (`$1`, `$arg_id`, `$uri`...) compiled at load and expanded per request, and the
 * location's channel limits.
 */
import type { LocationConf } from '../../config/model';
import { HttpError } from '../../errors';
import { channelIdProblem } from './channel-id';
import type { ChannelLimits } from './memory-store';
import type { RequestState } from '../../server/request-state';
import type { ConfigContext, RequestContext } from '../../types';
import { compileValue, type CompiledValue } from '../../http/variables';

/** Compiles the location's required `channel` key. */
export function compileChannel(cx: ConfigContext): CompiledValue {
  const text = cx.string('channel');
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

/** The request's channel id; 400 when the expansion is not a valid id. */
export function channelOf(template: CompiledValue, ctx: RequestContext): string {
  const channel = template(ctx as RequestState);
  const problem = channelIdProblem(channel);
  if (problem) throw new HttpError(400, 'GW_PUSH_CHANNEL', problem);
  return channel;
}

/** `message_buffer_length` and `message_timeout` of the location. */
export function channelLimits(location: LocationConf): ChannelLimits {
  return { bufferLength: location.messageBufferLength, timeoutMs: location.messageTimeout };
}
