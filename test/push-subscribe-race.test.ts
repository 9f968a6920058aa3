/**
 * A subscriber that has its answer (the EventSource's 200 head, the WebSocket's 101) is
 * subscribed everywhere: with two workers, a message published on the other worker right after
 * reaches it, and the publisher counts it. (The head once went out before the master knew of the
 * subscription: about one try in a hundred lost its message.)
 */
import { startGateway } from './helpers/gateway-process';
import { request } from './helpers/http-client';
import { sseSubscribe, wsSubscribe } from './helpers/push-clients';

const CONF = `
worker_processes: 2
error_log: stderr notice
pid: off
http:
  access_log: "off"
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - { location: "~ ^/sub/(\\\\w+)$", handler: push-subscriber, channel: $1 }
        - { location: "~ ^/pub/(\\\\w+)$", handler: push-publisher, channel: $1 }
`;

test.each([
  ['an EventSource has its 200 head', sseSubscribe],
  ['a WebSocket has its 101', wsSubscribe],
])('a message published once %s reaches it (500 tries)', async (_, subscribe) => {
  const gw = await startGateway(CONF, { listeners: 2 });
  const port = gw.ports[0];
  try {
    for (let i = 0; i < 500; i++) {
      const watcher = await subscribe(port, `/sub/c${i}`);
      try {
        const posted = await request(port, `/pub/c${i}`, { method: 'POST', body: 'x' });
        expect([i, JSON.parse(posted.body.toString()).subscribers]).toEqual([i, 1]);
        await watcher.waitFor(1, 2000);
      } finally {
        watcher.close();
      }
    }
  } finally {
    await gw.stop();
  }
}, 120000);
