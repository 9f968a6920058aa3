'use strict';
/**
 * Node's HTTP/2 floor, one way of answering a 1 KiB file over h2c (`node h2-floor-server.js
 * MODE PORT FILE`), no routing, no validators, no log:
 *
 * - `compat`: the compatibility API (`'request'`, Http2ServerRequest/Response), the file from memory;
 * - `core`: the core API (`'stream'`, `stream.respond` + `stream.end(buffer)`), the file from memory;
 * - `fd`: the core API, `stream.respondWithFD` on a descriptor opened once (stat taken once);
 * - `file`: the core API, `stream.respondWithFile` (opens and stats the file per stream).
 *
 * Prints `listening PORT` when ready; stops on SIGTERM.
 */
const fs = require('node:fs');
const http2 = require('node:http2');

const [mode, port, file] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const page = fs.readFileSync(file);
const fd = fs.openSync(file, 'r');
const headers = { 'content-type': 'text/html', 'content-length': page.length };

const server = http2.createServer();
if (mode === 'compat') {
  server.on('request', (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': page.length });
    res.end(page);
  });
} else if (mode === 'core') {
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, ...headers });
    stream.end(page);
  });
} else if (mode === 'fd') {
  server.on('stream', (stream) => {
    // The descriptor is shared by every stream: offset and length given, so nothing moves it.
    stream.respondWithFD(fd, { ':status': 200, ...headers }, { offset: 0, length: page.length });
  });
} else if (mode === 'file') {
  server.on('stream', (stream) => {
    stream.respondWithFile(file, { ':status': 200, 'content-type': 'text/html' });
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}
server.on('sessionError', () => undefined);
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => process.exit(0));
