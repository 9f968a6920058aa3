'use strict';
/**
 * Node's floor on this machine: the least a Node server does for the bench's cases, measured
 * in the same run as the gateway and nginx (`node floor-server.js PORT BACKEND_PORT DIR`).
 *
 * - `GET /1k.html`: DIR/public/1k.html, read once at start, sent from memory with
 *   Content-Type and Content-Length (no routing, no validators, no log, no filters);
 * - `/proxy/*`: `http.request` on a keep-alive `http.Agent` to the backend, the response
 *   headers and body piped back, the upstream answer dropped when the client goes first (no
 *   header rules, no timeouts, no log);
 * - `/s`: a `ws` echo (bufferutil when installed, as the gateway's), no script API.
 *
 * What separates the gateway from these figures is its own work; what separates them from
 * nginx's is Node's. Prints `listening PORT` when ready; stops on SIGTERM.
 */
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { WebSocketServer } = require('ws');

const [port, backendPort, dir] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const page = fs.readFileSync(path.join(dir, 'public', '1k.html'));
const agent = new http.Agent({ keepAlive: true });

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/proxy/')) return proxy(req, res);
  if (req.url !== '/1k.html') {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': page.length });
  res.end(page);
});

function proxy(req, res) {
  const upstream = http.request({ host: '127.0.0.1', port: backendPort, method: req.method, path: req.url.slice('/proxy'.length), headers: { host: `127.0.0.1:${backendPort}` }, agent }, (answer) => {
    res.writeHead(answer.statusCode, answer.headers);
    answer.pipe(res);
    // A client gone mid-answer (wrk stops with requests in flight): without this the upstream
    // socket stays paused and busy for good, one more backend connection left open per run.
    res.once('close', () => res.writableFinished || answer.destroy());
  });
  upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
  req.pipe(upstream);
}

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
server.on('upgrade', (req, socket, head) => {
  if (req.url !== '/s') return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
});

server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => process.exit(0));
