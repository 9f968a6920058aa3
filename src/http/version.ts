/** The gateway's version, from package.json (the `Server` header, `-v`, `$nginx_version`). */
export const version: string = require('../../package.json').version;

/** The `Server` header and error page signature: `gateway/x.y.z`, or `gateway` with `server_tokens off`. */
export function serverSignature(serverTokens: boolean): string {
  return serverTokens ? `gateway/${version}` : 'gateway';
}
