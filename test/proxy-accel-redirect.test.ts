/**
 * X-Accel-Redirect in a gateway process, where sockets are counted: an upstream on a keep-alive
 * pool that sends a large body with its X-Accel-Redirect is let go (its connection closed, not
 * pooled half-read), the client gets what the internal location serves, and the gateway's
 * descriptors come back to their count.
 */
import { readdirSync } from 'node:fs';
import http from 'node:http';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, request, until } from './helpers/proxy-peers';

describe('X-Accel-Redirect', () => {
  let open = 0;
  const backend = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'X-Accel-Redirect': '/inside/', 'Content-Type': 'text/plain', 'Content-Length': 1024 * 1024 });
    res.end(Buffer.alloc(1024 * 1024, 0x61));
  });
  backend.on('connection', (socket) => {
    open++;
    socket.once('close', () => open--);
  });
  let gateway: GatewayProcess;
  const fds = () => readdirSync(`/proc/${gateway.child.pid}/fd`).length;

  beforeAll(async () => {
    await listen(backend);
    gateway = await startGateway(
      `master_process: "off"\nerror_log: stderr info\npid: "off"\nhttp:\n  access_log: "off"\n  upstreams:\n    app:\n      servers: ["127.0.0.1:${portOf(backend)}"]\n      keepalive: 8\n` +
        `  servers:\n    - listen: 127.0.0.1:0\n      locations:\n` +
        `        - location: /p/\n          proxy_pass: http://app\n          proxy_http_version: "1.1"\n          proxy_set_header: 'Connection ""'\n` +
        `        - location: /inside/\n          internal: ""\n          return: "200 'inside $request_method\\n'"\n`,
    );
    await request(gateway.ports[0], '/p/warm');
  });

  afterAll(async () => {
    await gateway?.stop();
    backend.closeAllConnections();
    await closeServer(backend);
  });

  test('the upstream is let go, the internal location answers, no descriptor is left', async () => {
    expect(await until(() => open === 0)).toBe(true);
    const before = fds();
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => request(gateway.ports[0], `/p/${i}`, { method: 'POST', headers: { 'Content-Length': 0 } })));
    expect(new Set(replies.map((r) => `${r.status} ${r.body}`))).toEqual(new Set(['200 inside GET\n']));
    expect(await until(() => open === 0)).toBe(true);
    expect(await until(() => fds() <= before, 150)).toBe(true);
  });
});
