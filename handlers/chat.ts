/**
 * An example WebSocket script that pushes: a chat room. A connection joins the room that the
 * location's `(?<room>)` capture (`/chat/lobby`) or the query (`/chat?room=lobby&nick=ada`)
 * names, is shown the room's kept messages (the location's `message_buffer_length`), then each
 * new one. Each text frame it sends is published to the room as `{"nick","text","time"}`;
 * joins and leaves as `{"system":true,"text","time"}`. Connections on every worker share the
 * rooms (the master relays; with `push_redis_url`, every gateway's do).
 *
 *   - location: ~ ^/chat(/(?<room>[^/]+))?$
 *     handler: websocket-script
 *     script: chat                  # found in handlers/
 *     timeout: 30s                  # ping a client that stays silent this long
 *     message_buffer_length: 50     # what a newcomer is shown
 *     options: { max_text: 500, max_nick: 24 }
 *
 * A room is the channel `chat:<room>`: anything else published there (by a `push-publisher`
 * location, say) reaches the room's clients as it is.
 */
import { isUtf8 } from 'node:buffer';
import { defineScript, type PushMessage } from 'gateway';

/** A room name: what a channel id may hold (letters, digits, `_ . : @ ~ - /`), shorter. */
const ROOM = /^[A-Za-z0-9_.:@~\-/]{1,64}$/;
/** Control characters, which a nickname may not hold. */
const CONTROL = /[\u0000-\u001f\u007f]/g;

export default defineScript(async (ws, ctx) => {
  const query = new URLSearchParams(ctx.args);
  const maxText = Number(ctx.options.max_text ?? 500);
  const maxNick = Number(ctx.options.max_nick ?? 24);
  const room = ctx.namedCaptures.room || query.get('room') || 'lobby';
  if (!ROOM.test(room)) {
    await ws.sendClose(1008, 'invalid room name');
    return;
  }
  const nick = (query.get('nick') ?? '').replace(CONTROL, '').trim().slice(0, maxNick) || 'guest';
  const channel = `chat:${room}`;
  const say = (message: object) => ctx.publish(channel, JSON.stringify({ ...message, time: Date.now() }));

  const forward = (message: PushMessage) => {
    // Not awaited: a send fails only once the client has gone, and then the loop below ends.
    if (isUtf8(message.data)) ws.sendText(message.data).catch(() => {});
  };
  // The room's kept messages first (after id '0': all of them), then each new one, until we disconnect.
  await ctx.subscribe(channel, forward, {
    lastId: '0',
    onClose: () => ws.sendClose(1000, 'room closed').catch(() => {}), // DELETE on the publisher
  });
  await say({ system: true, text: `${nick} joined` });
  try {
    for (;;) {
      const frame = await ws.recvFrame(); // null: the client was silent for `timeout`
      if (!frame) await ws.sendPing();
      else if (frame.type === 'close') break;
      else if (frame.type === 'ping') await ws.sendPong(frame.data);
      else if (frame.type === 'text') {
        const text = frame.data.toString('utf8').trim().slice(0, maxText);
        if (text) await say({ nick, text });
      }
    }
    await ws.sendClose();
  } finally {
    await say({ system: true, text: `${nick} left` });
  }
});
