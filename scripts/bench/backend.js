'use strict';
/**
 * The upstream of the proxied cases, run as its own process (`node backend.js PORT`), pinned
 * by the runner to the load generator's core so it never takes CPU from the server measured.
 *
 * It answers `GET /small` (a 100-byte body) and `GET /64k` (65,536 bytes) with canned HTTP/1.1
 * keep-alive responses, straight on `node:net`: it finds the end of each request head
 * (`\r\n\r\n`), reads the path from the request line, and writes a prebuilt buffer. No HTTP
 * parser, no header objects: a few microseconds per request, so that on a shared core with wrk
 * it is not what limits nginx. It ignores request bodies (the bench sends GETs only) and
 * answers anything else with 404. Both servers proxy to this same backend.
 *
 * It prints `listening PORT` on stdout when ready and stops on SIGTERM.
 */
const net = require('node:net');

const SMALL_BODY = Buffer.from('{"ok":true,"service":"bench-backend","note":"a small proxied response of exactly one hundred bytes"}\n');
const BIG_BODY = Buffer.alloc(64 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789\n');

/** A whole response (head and body) in one buffer: one write per request. */
function canned(status, reason, body) {
  const head =
    `HTTP/1.1 ${status} ${reason}\r\n` +
    'Content-Type: text/plain\r\n' +
    `Content-Length: ${body.length}\r\n` +
    'Connection: keep-alive\r\n\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

const RESPONSES = new Map([
  ['/small', canned(200, 'OK', SMALL_BODY)],
  ['/64k', canned(200, 'OK', BIG_BODY)],
]);
const NOT_FOUND = canned(404, 'Not Found', Buffer.from('not found\n'));
const HEAD_END = Buffer.from('\r\n\r\n');

/** The response for one request head (its first line is `METHOD /path HTTP/1.x`). */
function respond(head) {
  const firstSpace = head.indexOf(0x20);
  const secondSpace = head.indexOf(0x20, firstSpace + 1);
  if (firstSpace < 0 || secondSpace < 0) return NOT_FOUND;
  let target = head.toString('latin1', firstSpace + 1, secondSpace);
  const query = target.indexOf('?');
  if (query >= 0) target = target.slice(0, query);
  return RESPONSES.get(target) ?? NOT_FOUND;
}

/** One connection: any number of pipelined or keep-alive requests. */
function serve(socket) {
  socket.setNoDelay(true);
  let pending = null;
  socket.on('data', (chunk) => {
    let data = pending ? Buffer.concat([pending, chunk]) : chunk;
    let start = 0;
    const out = [];
    for (;;) {
      const end = data.indexOf(HEAD_END, start);
      if (end < 0) break;
      out.push(respond(data.subarray(start, end)));
      start = end + HEAD_END.length;
    }
    pending = start < data.length ? Buffer.from(data.subarray(start)) : null;
    if (pending && pending.length > 64 * 1024) {
      socket.destroy(); // a head this long is not one of the bench's requests
      return;
    }
    if (out.length === 1) socket.write(out[0]);
    else if (out.length > 1) socket.write(Buffer.concat(out));
    data = null;
  });
  socket.on('error', () => socket.destroy());
}

/** Starts the backend on 127.0.0.1:port; resolves with the server once it listens. */
function startBackend(port) {
  const server = net.createServer(serve);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => resolve(server));
  });
}

if (require.main === module) {
  const port = Number(process.argv[2] || 0);
  startBackend(port).then(
    (server) => {
      process.stdout.write(`listening ${server.address().port}\n`);
      process.once('SIGTERM', () => process.exit(0));
      process.once('SIGINT', () => process.exit(0));
    },
    (err) => {
      process.stderr.write(`backend: ${err.message}\n`);
      process.exit(1);
    },
  );
}

module.exports = { startBackend, SMALL_BODY, BIG_BODY };
