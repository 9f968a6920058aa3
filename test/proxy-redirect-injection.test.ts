/**
 * A proxy_redirect replacement made of a decoded variable (`$uri`) can hold CR and LF: the
 * rewritten header line is checked before it is written straight into the response's header
 * table, so no line is injected; the request ends with nginx's 502 and its "upstream sent
 * invalid header" line, and the worker lives on.
 */
import http from 'node:http';
import { startGateway } from './helpers/gateway-process';
import { closeServer, listen, portOf } from './helpers/proxy-peers';
import net from 'node:net';

/** The raw answer to one request, read to the close. */
function rawGet(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (c) => (text += c.toString('latin1')));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

test('a rewritten Location with CR LF from $uri: 502, no injected line, the worker lives on', async () => {
  const backend = await listen(http.createServer((_req, res) => res.writeHead(302, { Location: `http://127.0.0.1:${portOf(backend)}/next` }).end('x')));
  const gw = await startGateway(
    `
worker_processes 1;
error_log stderr info;
events {}
http {
  server {
    listen 127.0.0.1:0;
    location / {
      proxy_pass http://127.0.0.1:${portOf(backend)};
      proxy_http_version 1.1;
      proxy_redirect http://127.0.0.1:${portOf(backend)}/ $uri;
    }
  }
}
`,
    { confName: 'test.conf' },
  );
  try {
    const port = gw.ports[0];
    const answer = await rawGet(port, '/a%0d%0aX-Injected:%20yes/');
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 502 Bad Gateway');
    expect(answer).not.toMatch(/^X-Injected/im);
    expect(gw.stderr()).toMatch(/\[error\] .*upstream sent invalid header while reading upstream/);
    expect((await rawGet(port, '/fine/')).split('\r\n')[0]).toBe('HTTP/1.1 302 Found');
  } finally {
    await gw.stop();
    await closeServer(backend);
  }
});
