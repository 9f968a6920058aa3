'use strict';
/**
 * The benchmarks' WebSocket client (the load generators' only importer of `ws`; the servers
 * floor-server.js and peers/ws.js import it too): connections that cost the generator as little
 * as the protocol allows, with no compression, no UTF-8 check and a zero masking key.
 */
const { WebSocket } = require('ws');

const zeroMask = (mask) => mask.fill(0);

/** Opens one connection from `localAddress`; resolves with it once open, rejects on failure. */
function openWebSocket(url, localAddress, extra = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      generateMask: zeroMask,
      handshakeTimeout: 30000,
      localAddress,
      ...extra,
    });
    const fail = (err) => {
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      reject(err);
    };
    ws.once('open', () => {
      ws.off('error', fail);
      ws.on('error', () => {});
      resolve(ws);
    });
    ws.once('error', fail);
  });
}

module.exports = { WebSocket, openWebSocket };
