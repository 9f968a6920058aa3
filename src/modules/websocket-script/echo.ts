/**
 * The seed's `content_by_lua` loop, line for line: echo text and binary messages, answer pings
 * with pongs, ping the client when it stays silent past the receive timeout, and close when
 * it closes. A failing receive or send throws; the handler logs it and drops the connection
 * (the Lua code's `ngx.log(ngx.ERR, ...)` then `ngx.exit(444)`).
 */
import type { ScriptContext, WebSocketScript, WebSocketSession } from '../../types';

/** The echo script, built in as `script: echo`. */
const echo: WebSocketScript = async (ws: WebSocketSession, ctx: ScriptContext): Promise<void> => {
  for (;;) {
    const frame = await ws.recvFrame(); // null on timeout: not fatal
    if (!frame) {
      await ws.sendPing();
    } else if (frame.type === 'close') {
      break;
    } else if (frame.type === 'ping') {
      await ws.sendPong(frame.data); // RFC 6455 5.5.3: the pong carries the ping's payload
    } else if (frame.type === 'pong') {
      ctx.log.info('client ponged');
    } else {
      await ws.send(frame); // text or binary, back as it came
    }
  }
  await ws.sendClose();
};

export default echo;
