'use strict';
/**
 * Peer: fastify with @fastify/reply-from (undici underneath: a keep-alive pool per upstream),
 * as its README shows (`node fastify-reply-from.js PORT BACKEND_PORT DIR`): the plugin
 * registered with `base` = the backend, and a route `/proxy/*` answering `reply.from(path)`
 * with the `/proxy` prefix cut. Fastify's logger is off (its default). Prints `listening PORT`
 * when ready; stops on SIGTERM.
 */
const Fastify = require('fastify');
const replyFrom = require('@fastify/reply-from');

const [port, backendPort] = [Number(process.argv[2]), Number(process.argv[3])];
const app = Fastify();
app.register(replyFrom, { base: `http://127.0.0.1:${backendPort}/` });
app.get('/proxy/*', (request, reply) => reply.from(request.url.slice('/proxy'.length)));
app.listen({ port, host: '127.0.0.1' }).then(() => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => process.exit(0));
