'use strict';
/**
 * Peer: uWebSockets.js, as its README's echo shows (`node uwebsockets.js PORT BACKEND_PORT
 * DIR`): `App().ws('/*', { compression: DISABLED, message: (ws, message, isBinary) =>
 * ws.send(message, isBinary) })`. The project publishes uWebSockets.js on GitHub only (its
 * name is no valid npm name; `uws` on npm is an empty deprecation stub since v200); this is
 * `@trufflesuite/uws-js-unofficial`, uWebSockets.js v20.30.0's own binaries republished on npm,
 * with a native build for Node 20 (ABI 115). That package falls back to a JavaScript
 * imitation on `ws` when no binary fits: this script refuses to run on it, so the figure is
 * always the native server's. Prints `listening PORT` when ready; stops on SIGTERM.
 */
const port = Number(process.argv[2]);
const nativeFile = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
let uWS;
try {
  uWS = require(`@trufflesuite/uws-js-unofficial/binaries/${nativeFile}`);
} catch (err) {
  process.stderr.write(`no native uWebSockets.js build for this Node (${nativeFile}): ${err.message}\n`);
  process.exit(1);
}

uWS
  .App()
  .ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: 16 * 1024 * 1024,
    idleTimeout: 60,
    message: (ws, message, isBinary) => ws.send(message, isBinary),
  })
  .listen('127.0.0.1', port, (token) => {
    if (!token) {
      process.stderr.write(`cannot listen on ${port}\n`);
      process.exit(1);
    }
    process.stdout.write(`listening ${port}\n`);
  });
process.on('SIGTERM', () => process.exit(0));
