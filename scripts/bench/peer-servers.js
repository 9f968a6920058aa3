'use strict';
/**
 * The Node peers of the report: the servers users compare the gateway with, each a small
 * script in peers/ configured as its README shows, started pinned on the server core beside the
 * gateway and nginx and measured on the same files, backend and load (`BENCH_PEERS=0`: none).
 *
 * `kind` says which cases a peer takes (the cases of cases.js with the same `peers` field):
 * `static` (the files of public/, served by the peers from a copy, `peer-public/`, that also
 * holds each file gzipped: the static peers' README way to gzip is to send FILE.gz), `proxy`
 * (/proxy/* to the bench's backend) or `ws` (an echo at `wsPath`). `gzip`: the peer takes the
 * static rows with `Accept-Encoding: gzip`. `does` is what it is configured to do, for the report.
 */
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const procs = require('./procs');
const { STATIC_FILES } = require('./setup');

/** The peers, in report order. */
const PEERS = [
  { name: 'fastify-static', label: 'fastify + @fastify/static', kind: 'static', gzip: true, does: '`register(fastifyStatic, { root, preCompressed: true })`; weak ETag and Last-Modified, 304 on If-None-Match and If-Modified-Since, ranges (checked with curl); `preCompressed` costs it some CPU on the rows without gzip too (64 KiB, measured apart, two rounds: 157-210 µs per request without it, 210-249 with it)' },
  { name: 'sirv', label: 'sirv (node:http)', kind: 'static', gzip: true, does: '`http.createServer(sirv(dir, { etag: true, gzip: true }))`, production mode (files and headers read at start); 304 on If-None-Match only (If-Modified-Since ignored: 200), ranges (checked with curl)' },
  { name: 'serve-handler', label: 'serve-handler (node:http)', kind: 'static', gzip: false, does: '`handler(req, res, { public: dir, cleanUrls: false })`; no compression of its own, no ETag, never 304 (If-Modified-Since ignored), ranges (checked with curl)' },
  { name: 'http-proxy', label: 'http-proxy', kind: 'proxy', does: '`createProxyServer({ target, agent: keep-alive http.Agent })`, `proxy.web(req, res)`' },
  { name: 'http-proxy-3', label: 'http-proxy-3 (1.x)', kind: 'proxy', does: 'the same calls as http-proxy (its 1.x line, the last for Node 20)' },
  { name: 'httpxy', label: 'httpxy', kind: 'proxy', does: '`createProxyServer({ agent: keep-alive http.Agent })`, `await proxy.web(req, res, { target })`' },
  { name: 'fastify-reply-from', label: 'fastify + @fastify/reply-from', kind: 'proxy', does: '`register(replyFrom, { base })`, `reply.from(path)` (undici pool)' },
  { name: 'ws', label: 'ws', kind: 'ws', wsPath: '/', does: '`new WebSocketServer({ port })`, every message sent back' },
  { name: 'socket.io', label: 'Socket.IO (WebSocket transport)', kind: 'ws', wsPath: '/socket.io/?EIO=4&transport=websocket', wsProtocol: 'socket.io', does: "`new Server(http, { transports: ['websocket'] })`, `socket.on('m', (d) => socket.emit('m', d))`: each message an event `42[\"m\",...]`" },
  { name: 'uwebsockets', label: 'uWebSockets.js (native)', kind: 'ws', wsPath: '/', does: "`App().ws('/*', { compression: DISABLED, message: (ws, m, b) => ws.send(m, b) })`, uWebSockets.js v20.30.0's binaries for Node 20 as `@trufflesuite/uws-js-unofficial`" },
];

/** The peers that take `kase` (none when the case has no `peers` kind). */
function peersFor(kase, peers = PEERS) {
  if (!kase.peers) return [];
  return peers.filter((peer) => peer.kind === kase.peers && (!kase.gzip || peer.gzip));
}

/** The peers the selected cases need. */
function peersNeeded(cases) {
  return PEERS.filter((peer) => cases.some((kase) => peersFor(kase, [peer]).length > 0));
}

/**
 * Writes `peer-public/` in the tree: the bytes of public/, and beside each file FILE.gz at gzip
 * level 1 (nginx's and the gateway's `gzip_comp_level` in the bench), read by the static peers
 * with gzip. A directory apart, so that nothing the gateway or nginx serve changes.
 */
function preparePeerFiles(tree) {
  const dir = path.join(tree.dir, 'peer-public');
  fs.mkdirSync(dir, { recursive: true });
  for (const file of Object.keys(STATIC_FILES)) {
    const bytes = fs.readFileSync(path.join(tree.dir, 'public', file));
    fs.writeFileSync(path.join(dir, file), bytes);
    fs.writeFileSync(path.join(dir, `${file}.gz`), zlib.gzipSync(bytes, { level: 1 }));
  }
}

/**
 * Starts each of `peers` on `core`, on the given ports in order (`node peers/NAME.js PORT
 * BACKEND_PORT DIR`); resolves with the servers by name ({ name, pid, port, wsPath,
 * wsProtocol }). A peer that does not start is left out, with `failed[name]` saying why.
 */
async function startPeers(peers, { tree, backendPort, ports, core }) {
  const servers = {};
  const failed = {};
  for (const [i, peer] of peers.entries()) {
    const port = ports[i];
    const logFile = path.join(tree.dir, 'logs', `peer-${peer.name}.out`);
    try {
      const child = procs.startPinned(peer.name, core, process.execPath, [path.join(__dirname, 'peers', `${peer.name}.js`), String(port), String(backendPort), tree.dir], { logFile });
      await procs.waitForPort(port, '127.0.0.1', 15000, child);
      servers[peer.name] = { name: peer.name, pid: child.pid, port, wsPath: peer.wsPath, wsProtocol: peer.wsProtocol, child };
    } catch (err) {
      let said = '';
      try {
        said = fs.readFileSync(logFile, 'utf8').trim().split('\n').pop() || '';
      } catch {
        /* nothing written */
      }
      failed[peer.name] = `${err.message}${said ? `; it said: ${said}` : ''}`;
    }
  }
  return { servers, failed };
}

module.exports = { PEERS, peersFor, peersNeeded, preparePeerFiles, startPeers };
