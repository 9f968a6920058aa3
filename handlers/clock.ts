/**
 * An example WebSocket script: a clock. It sends the time every `interval` milliseconds,
 * using the receive timeout as its tick (the lua-resty-websocket idiom), and answers text
 * commands: `stop` ends the session with close code 1000, anything else is echoed upper-cased.
 *
 *   - location: /clock
 *     handler: websocket-script
 *     script: clock                 # found in handlers/
 *     timeout: 1000                 # ms between ticks
 *     options: { prefix: "time: " }
 */
import { defineScript } from 'gateway';

export default defineScript(async (ws, ctx) => {
  const prefix = typeof ctx.options.prefix === 'string' ? ctx.options.prefix : '';
  await ws.sendText(`${prefix}${new Date().toISOString()}`);
  for (;;) {
    const frame = await ws.recvFrame();
    if (!frame) {
      await ws.sendText(`${prefix}${new Date().toISOString()}`);
      continue;
    }
    if (frame.type === 'close') break;
    if (frame.type === 'ping') await ws.sendPong(frame.data);
    else if (frame.type === 'text') {
      const text = frame.data.toString('utf8');
      if (text === 'stop') {
        await ws.sendClose(1000, 'stopped');
        return;
      }
      await ws.sendText(text.toUpperCase());
    }
  }
  await ws.sendClose();
});
