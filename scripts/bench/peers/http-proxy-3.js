'use strict';
/**
 * Peer: http-proxy-3 (http-proxy's API rewritten in TypeScript; 1.x, the last line for
 * Node 20: 2.x needs Node 22), as its README shows (`node http-proxy-3.js PORT BACKEND_PORT
 * DIR`): `createProxyServer({ target, agent })` with a keep-alive `http.Agent` and
 * `proxy.web(req, res)` in an `http` server, the `/proxy` prefix cut first. A failed exchange
 * ends the response with 502. Prints `listening PORT` when ready; stops on SIGTERM.
 */
const http = require('node:http');
const { createProxyServer } = require('http-proxy-3');

const [port, backendPort] = [Number(process.argv[2]), Number(process.argv[3])];
const proxy = createProxyServer({ target: `http://127.0.0.1:${backendPort}`, agent: new http.Agent({ keepAlive: true }) });
proxy.on('error', (_err, _req, res) => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
http
  .createServer((req, res) => {
    req.url = req.url.slice('/proxy'.length);
    proxy.web(req, res);
  })
  .listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => process.exit(0));
