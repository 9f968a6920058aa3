'use strict';
/**
 * Peer: a bare `ws` server, as its README's echo shows (`node ws.js PORT BACKEND_PORT DIR`):
 * `new WebSocketServer({ port })` (no permessage-deflate, its default; bufferutil as installed),
 * every message sent back as it came. Prints `listening PORT` when ready; stops on SIGTERM.
 */
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
const wss = new WebSocketServer({ port, host: '127.0.0.1' }, () => process.stdout.write(`listening ${port}\n`));
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
process.on('SIGTERM', () => process.exit(0));
