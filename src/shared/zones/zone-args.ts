/**
 * The arguments the zone directives share, read as nginx reads them (`zone=NAME:SIZE`, the
 * key), with nginx's messages. Pure: the caller adds the position.
 */
import { parseSize } from '../../config/values';
import { MIN_ZONE_SIZE } from './sizing';

/** `zone=NAME:SIZE`: the name and the size in bytes; throws nginx's message. */
export function parseZoneArg(arg: string): { name: string; size: number } {
  const rest = arg.slice('zone='.length);
  const colon = rest.indexOf(':');
  if (colon < 0) throw new Error(`invalid zone size "${arg}"`);
  let size: number;
  try {
    size = parseSize(rest.slice(colon + 1));
  } catch {
    throw new Error(`invalid zone size "${arg}"`);
  }
  if (size < MIN_ZONE_SIZE) throw new Error(`zone "${arg}" is too small`);
  return { name: rest.slice(0, colon), size };
}

/** nginx's `ngx_atoi` on a directive's number: digits only, else -1 (so `<= 0` refuses it). */
export function atoi(text: string): number {
  if (!/^\d+$/.test(text)) return -1;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : -1;
}
