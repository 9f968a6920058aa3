'use strict';
/**
 * Peer: serve-handler (the engine of Vercel's `serve`) on node:http, as its README shows
 * (`node serve-handler.js PORT BACKEND_PORT DIR`): `handler(req, res, { public: DIR/peer-public, cleanUrls: false })`
 * per request (`cleanUrls`, on by default, would answer `/1k.html` with a 301 to `/1k`). It has no compression of its own (`serve` adds a middleware for that), so it is
 * measured on the rows without gzip only. Prints `listening PORT` when ready; stops on SIGTERM.
 */
const http = require('node:http');
const path = require('node:path');
const handler = require('serve-handler');

const [port, , dir] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const options = { public: path.join(dir, 'peer-public'), cleanUrls: false };
http.createServer((req, res) => handler(req, res, options)).listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => process.exit(0));
