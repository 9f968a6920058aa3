'use strict';
/**
 * Peer: sirv on node:http, as its README shows (`node sirv.js PORT BACKEND_PORT DIR`):
 * `http.createServer(sirv(DIR/peer-public, { etag: true, gzip: true }))`, production mode (the
 * directory's files and their headers read once at start). `gzip: true` is sirv's gzip: it
 * sends FILE.gz, written beside each file by the runner; `etag: true` so it has a validator
 * beside Last-Modified. Prints `listening PORT` when ready; stops on SIGTERM.
 */
const http = require('node:http');
const path = require('node:path');
const sirv = require('sirv');

const [port, , dir] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const serve = sirv(path.join(dir, 'peer-public'), { etag: true, gzip: true });
http.createServer(serve).listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => process.exit(0));
