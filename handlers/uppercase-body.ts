/**
 * An example body filter script (OpenResty's `body_filter_by_lua` with `ngx.arg[1]`): sends a
 * response's text in upper case, chunk by chunk as it streams (ASCII only: a chunk may end in
 * the middle of a multi-byte character, which upper-casing bytes leaves alone), and adds a line
 * at the end of the body (`ngx.arg[2]`, the end of the stream).
 *
 *   - location: /shout/
 *     body_filter_by: { script: uppercase-body, options: { trailer: "-- shouted" } }
 *     proxy_pass: http://backend
 */
import { definePhaseScript } from 'gateway';

interface UppercaseOptions {
  readonly trailer: string;
}

/** a-z to A-Z in place on a copy: bytes only, so a split multi-byte character is never broken. */
function upper(chunk: Buffer): Buffer {
  const out = Buffer.allocUnsafe(chunk.length);
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i];
    out[i] = b >= 0x61 && b <= 0x7a ? b - 0x20 : b;
  }
  return out;
}

export default definePhaseScript<UppercaseOptions>({
  configure(raw, cx) {
    if (raw.trailer !== undefined && typeof raw.trailer !== 'string') cx.error('"trailer" must be text', 'trailer');
    return { trailer: (raw.trailer as string | undefined) ?? '' };
  },
  bodyFilter(chunk, eof, _r, options) {
    const out = upper(chunk);
    return eof && options.trailer ? Buffer.concat([out, Buffer.from(`${options.trailer}\n`)]) : out;
  },
});
