'use strict';
/**
 * Peer: Socket.IO, WebSocket transport only, as its README shows (`node socket.io.js PORT
 * BACKEND_PORT DIR`): `new Server(httpServer, { transports: ['websocket'] })` and an echo
 * handler, `socket.on('m', (data) => socket.emit('m', data))`. Clients speak engine.io v4
 * framing (`42["m",...]`; ws-load.js's `socket.io` protocol). Prints `listening PORT` when
 * ready; stops on SIGTERM.
 */
const http = require('node:http');
const { Server } = require('socket.io');

const port = Number(process.argv[2]);
const httpServer = http.createServer();
const io = new Server(httpServer, { transports: ['websocket'] });
io.on('connection', (socket) => socket.on('m', (data) => socket.emit('m', data)));
httpServer.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => process.exit(0));
