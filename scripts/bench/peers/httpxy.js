'use strict';
/**
 * Peer: httpxy (unjs's http-proxy fork), as its README shows (`node httpxy.js PORT
 * BACKEND_PORT DIR`): `createProxyServer({ agent })` and `await proxy.web(req, res, { target })`
 * in an `http` server, with a keep-alive `http.Agent` as the other http-proxy peers, the
 * `/proxy` prefix cut first. A failed exchange ends the response with 502. Prints
 * `listening PORT` when ready; stops on SIGTERM.
 */
const http = require('node:http');
const { createProxyServer } = require('httpxy');

const [port, backendPort] = [Number(process.argv[2]), Number(process.argv[3])];
const target = `http://127.0.0.1:${backendPort}`;
const proxy = createProxyServer({ agent: new http.Agent({ keepAlive: true }) });
http
  .createServer(async (req, res) => {
    req.url = req.url.slice('/proxy'.length);
    try {
      await proxy.web(req, res, { target });
    } catch {
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    }
  })
  .listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => process.exit(0));
