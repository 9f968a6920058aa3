'use strict';
/**
 * Peer: http-proxy, as its README shows (`node http-proxy.js PORT BACKEND_PORT DIR`):
 * `createProxyServer({ target, agent })` with a keep-alive `http.Agent`, and an `http` server
 * whose handler calls `proxy.web(req, res)`; the bench's `/proxy` prefix is cut from the URL
 * first (as the gateway's and nginx's `proxy_pass http://backend/` do). A failed exchange ends
 * the response with 502. Prints `listening PORT` when ready; stops on SIGTERM.
 */
const http = require('node:http');
const httpProxy = require('http-proxy');

const [port, backendPort] = [Number(process.argv[2]), Number(process.argv[3])];
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${backendPort}`, agent: new http.Agent({ keepAlive: true }) });
proxy.on('error', (_err, _req, res) => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
http
  .createServer((req, res) => {
    req.url = req.url.slice('/proxy'.length);
    proxy.web(req, res);
  })
  .listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => process.exit(0));
