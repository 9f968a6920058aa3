/**
 * Parity of the phase scripts with OpenResty (Debian's nginx-extras runs Lua in the same phases):
 * the same behaviour written in Lua in nginx.conf and in TypeScript/JavaScript scripts for the
 * gateway: access_by exit(403), a script that lets the client in under `satisfy any` beside
 * `deny all`, a rewrite that routes by a header with `set_uri(uri, true)`, a header filter that
 * sets and clears headers, a body filter that upper-cases chunks (`ngx.arg[1]`), content that
 * says, `ngx.exec`, `ngx.location.capture`, `ngx.redirect`, and a script that throws (500).
 */
import { existsSync } from 'node:fs';
import { defineParityCases, type ParityCase } from './run';
import type { LocationModel } from './site';

const LUA_MODULES = ['/usr/lib/nginx/modules/ndk_http_module.so', '/usr/lib/nginx/modules/ngx_http_lua_module.so'];

/** A location with the same behaviour in Lua (nginx) and in a script (the gateway). */
const both = (match: string, directives: Record<string, string>, nginx: Record<string, string>, gateway: Record<string, string>): LocationModel => ({ match, directives, nginx, gateway });

const scripts: ParityCase = {
  title: 'phase scripts against OpenResty (nginx-extras)',
  unavailable: LUA_MODULES.every((m) => existsSync(m)) ? undefined : 'nginx-extras (its Lua module) is not installed',
  site: {
    nginxMain: LUA_MODULES.map((m) => `load_module ${m};`),
    servers: [
      {
        directives: { root: 'www' },
        locations: [
          { match: '/v1/' },
          { match: '/v2/' },
          both('/deny/', {}, { access_by_lua: `'ngx.exit(403)'` }, { access_by: 'scripts/deny.js' }),
          both('/let-in/', { satisfy: 'any', deny: 'all' }, { access_by_lua: `'local x = 1'` }, { access_by: 'scripts/nothing.js' }),
          both('/route/', {}, { rewrite_by_lua: `'if ngx.var.http_x_version == "2" then ngx.req.set_uri("/v2/a.txt", true) end ngx.req.set_uri("/v1/a.txt", true)'` }, { rewrite_by: 'scripts/route.js' }),
          both(
            '/hf/',
            { alias: 'www/v1/' },
            { header_filter_by_lua: `'ngx.header["X-Filtered"] = "yes" ngx.header["ETag"] = nil ngx.header["Last-Modified"] = nil'` },
            { header_filter_by: 'scripts/headers.js' },
          ),
          both(
            '/bf/',
            { alias: 'www/v1/' },
            { header_filter_by_lua: `'ngx.header.content_length = nil'`, body_filter_by_lua: `'ngx.arg[1] = string.upper(ngx.arg[1])'` },
            { body_filter_by: 'scripts/upper.js' },
          ),
          both('/say', {}, { content_by_lua: `'ngx.say("hello ", ngx.var.arg_name)'` }, { content_by: 'scripts/say.js' }),
          both('/exec', {}, { content_by_lua: `'ngx.exec("/v2/a.txt")'` }, { content_by: 'scripts/exec.js' }),
          both('/capture', {}, { content_by_lua: `'local r = ngx.location.capture("/v1/a.txt") ngx.print(r.status, " ", r.body)'` }, { content_by: 'scripts/capture.js' }),
          both('/throw', {}, { content_by_lua: `'error("boom")'` }, { content_by: 'scripts/throw.js' }),
          both('/redirect', {}, { content_by_lua: `'ngx.redirect("/v1/a.txt", 301)'` }, { content_by: 'scripts/redirect.js' }),
          both('/status', {}, { content_by_lua: `'ngx.status = 202 ngx.say("accepted")'` }, { content_by: 'scripts/status.js' }),
          both('/ctx-route', {}, { rewrite_by_lua: `'ngx.ctx.routed = "yes" ngx.req.set_uri("/ctx-show", true)'` }, { rewrite_by: 'scripts/ctx-route.js' }),
          both('/ctx-show', {}, { content_by_lua: `'ngx.say("routed=", tostring(ngx.ctx.routed))'` }, { content_by: 'scripts/ctx-show.js' }),
          both('/hf-status', {}, { header_filter_by_lua: `'if ngx.status == 404 then ngx.status = 410 end'`, content_by_lua: `'ngx.exit(404)'` }, { header_filter_by: 'scripts/hf-status.js', content_by: 'scripts/not-found.js' }),
          both('/said-then-404', {}, { content_by_lua: `'ngx.say("x") ngx.exit(404)'` }, { content_by: 'scripts/said-then-404.js' }),
          both('/exit-body', {}, { access_by_lua: `'ngx.say("early") ngx.exit(200)'` }, { access_by: 'scripts/early.js' }),
        ],
      },
    ],
  },
  files: {
    'www/v1/a.txt': 'version one\n',
    'www/v2/a.txt': 'version two\n',
    'www/deny/a.txt': 'never\n',
    'www/let-in/a.txt': 'let in\n',
    'www/exit-body': 'never\n',
    'scripts/deny.js': 'module.exports = { run(r) { r.exit(403); } };\n',
    'scripts/nothing.js': 'module.exports = { run() {} };\n',
    'scripts/route.js': "module.exports = { run(r) { if (r.header('x-version') === '2') r.setUri('/v2/a.txt', true); r.setUri('/v1/a.txt', true); } };\n",
    'scripts/headers.js': "module.exports = { run(r) { r.setResponseHeader('X-Filtered', 'yes'); r.setResponseHeader('ETag', null); r.setResponseHeader('Last-Modified', null); } };\n",
    'scripts/upper.js': 'module.exports = { bodyFilter(chunk) { return chunk.toString().toUpperCase(); } };\n',
    'scripts/say.js': "module.exports = { run(r) { r.say('hello ', r.var.arg_name); } };\n",
    'scripts/exec.js': "module.exports = { run(r) { r.exec('/v2/a.txt'); } };\n",
    'scripts/capture.js': "module.exports = { async run(r) { const res = await r.capture('/v1/a.txt'); r.print(res.status, ' ', res.body); } };\n",
    'scripts/throw.js': "module.exports = { run() { throw new Error('boom'); } };\n",
    'scripts/redirect.js': "module.exports = { run(r) { r.redirect('/v1/a.txt', 301); } };\n",
    'scripts/status.js': "module.exports = { run(r) { r.status = 202; r.say('accepted'); } };\n",
    'scripts/ctx-route.js': "module.exports = { run(r) { r.ctx.routed = 'yes'; r.setUri('/ctx-show', true); } };\n",
    'scripts/ctx-show.js': "module.exports = { run(r) { r.say('routed=', String(r.ctx.routed === undefined ? 'nil' : r.ctx.routed)); } };\n",
    'scripts/hf-status.js': 'module.exports = { run(r) { if (r.status === 404) r.status = 410; } };\n',
    'scripts/not-found.js': 'module.exports = { run(r) { r.exit(404); } };\n',
    'scripts/said-then-404.js': "module.exports = { run(r) { r.say('x'); r.exit(404); } };\n",
    'scripts/early.js': "module.exports = { run(r) { r.say('early'); r.exit(200); } };\n",
  },
  requests: [
    { name: 'access exit(403)', target: '/deny/a.txt' },
    { name: 'satisfy any, deny all: an access script that returns lets in', target: '/let-in/a.txt' },
    { name: 'rewrite set_uri jump by a header', target: '/route/x', headers: { 'X-Version': '2' } },
    { name: 'rewrite set_uri jump, no header', target: '/route/x' },
    { name: 'header filter sets and clears headers', target: '/hf/a.txt' },
    { name: 'body filter upper-cases the body', target: '/bf/a.txt' },
    { name: 'body filter: a range request gets the whole body', target: '/bf/a.txt', headers: { Range: 'bytes=0-3' } },
    { name: 'redirect 301', target: '/redirect' },
    { name: 'status set before say', target: '/status' },
    { name: 'content says', target: '/say?name=world' },
    { name: 'exec', target: '/exec' },
    { name: 'capture', target: '/capture' },
    { name: 'a script that throws: 500', target: '/throw' },
    { name: 'ctx kept through a set_uri jump', target: '/ctx-route' },
    { name: 'a header filter changes the status of an error page', target: '/hf-status' },
    { name: 'exit(404) after say: the 200 stays', target: '/said-then-404' },
    { name: 'say then exit(200) in access', target: '/exit-body' },
  ],
};

defineParityCases([scripts]);
