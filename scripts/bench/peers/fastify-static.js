'use strict';
/**
 * Peer: fastify with @fastify/static, as its README shows (`node fastify-static.js PORT
 * BACKEND_PORT DIR`): the plugin registered with `root` = DIR/peer-public and
 * `preCompressed: true` (the README's way to gzip: it sends FILE.gz, written beside each file by
 * the runner, to a client that accepts gzip). Fastify's logger is off (its default).
 * Prints `listening PORT` when ready; stops on SIGTERM.
 */
const path = require('node:path');
const Fastify = require('fastify');
const fastifyStatic = require('@fastify/static');

const [port, , dir] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const app = Fastify();
app.register(fastifyStatic, { root: path.join(dir, 'peer-public'), preCompressed: true });
app.listen({ port, host: '127.0.0.1' }).then(() => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => process.exit(0));
