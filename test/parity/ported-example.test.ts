/**
 * Parity of the ported OpenResty example (handlers/blocklist-access.ts): the `access_by_lua`
 * block of lua-nginx-module's Synopsis (openresty/lua-nginx-module, README.markdown, commit
 * 0025a9827afa647f371158efbb02df5b6d5d6aa1), run as written by nginx-extras, beside the
 * TypeScript port run by the gateway, both in front of the same recording backend (which
 * answers with what it received, the body included): a client on the block list (its address
 * by realip's X-Real-IP), a body with the bad word, a clean body that goes on to the backend, a
 * body over `client_max_body_size`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/gateway-process';
import { startRecordingBackend, type RecordingBackend } from './recording-backend';
import { defineParityCases, type ParityRequest } from './run';
import type { SiteModel } from './site';

const LUA_MODULES = ['/usr/lib/nginx/modules/ndk_http_module.so', '/usr/lib/nginx/modules/ngx_http_lua_module.so'];

/** The original, as lua-nginx-module's README writes it (its comments left out: one line). */
const ORIGINAL =
  'if ngx.var.remote_addr == "132.5.72.3" then ngx.exit(ngx.HTTP_FORBIDDEN) end ' +
  'if ngx.var.request_body and string.match(ngx.var.request_body, "fsck") then return ngx.redirect("/terms_of_use.html") end';

let backend: RecordingBackend;
beforeAll(async () => {
  backend = await startRecordingBackend();
});
afterAll(() => backend?.close());

function site(): SiteModel {
  return {
    nginxMain: LUA_MODULES.map((m) => `load_module ${m};`),
    servers: [
      {
        locations: [
          {
            match: '/',
            directives: {
              client_max_body_size: '100k',
              client_body_buffer_size: '100k',
              set_real_ip_from: '127.0.0.1',
              real_ip_header: 'X-Real-IP',
              proxy_pass: backend.url,
            },
            nginx: { lua_need_request_body: 'on', access_by_lua: `'${ORIGINAL}'` },
            gateway: { access_by: path.join(ROOT, 'handlers/blocklist-access.ts') },
          },
        ],
      },
    ],
  };
}

/** A request the backend answers (what it received, the request line's version included, is compared). */
const upstream = (r: ParityRequest): ParityRequest => r;
const post = (target: string, body: string, extra = '') =>
  `POST ${target} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`;

defineParityCases([
  {
    title: 'a port of lua-nginx-module\'s access_by_lua example, against the original in nginx-extras',
    unavailable: LUA_MODULES.every((m) => existsSync(m)) ? undefined : 'nginx-extras (its Lua module) is not installed',
    site,
    requests: [
      upstream({ name: 'a GET without a body passes to the backend', target: '/page?x=1' }),
      upstream({ name: 'a clean body passes, and reaches the backend', raw: post('/form', 'hello, world') }),
      { name: 'a body with the bad word: 302 to /terms_of_use.html', raw: post('/form', 'what the fsck is this') },
      { name: 'a client on the block list: 403', target: '/page', headers: { 'X-Real-IP': '132.5.72.3' } },
      { name: 'on the block list with the bad word: 403 first', raw: post('/form', 'fsck', 'X-Real-IP: 132.5.72.3\r\n') },
      { name: 'a body over client_max_body_size: 413', raw: post('/form', 'x'.repeat(100 * 1024 + 1)) },
    ],
  },
]);
