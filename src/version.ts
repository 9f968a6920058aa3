/** The gateway's version, from package.json (the `Server` header, `-v`, `$nginx_version`). */
export const version: string = require('../package.json').version;
