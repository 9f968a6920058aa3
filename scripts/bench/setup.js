'use strict';
/**
 * The benchmark's tree, written fresh for each run under a temporary directory: the static
 * files (1 KiB, 64 KiB, 1 MiB of HTML-like text, compressible as real pages are), the gateway's
 * YAML and the equivalent nginx.conf (the seed's: worker_processes 1, `error_log ... info`,
 * gzip on with gzip_min_length 1, `listen ... so_keepalive=2s:2s:8`, the echo Lua at /s), both
 * serving the same `public/` and proxying /proxy/ to the same backend with keep-alive.
 *
 * Also finds out whether this machine can run nginx with the Lua module and the WebSocket
 * library; when it cannot, the run measures the gateway alone and says why.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

/** The static files of the bench, by URL path and size in bytes. */
/** nginx's temporary directories inside the bench tree (the Debian defaults need root). */
const NGINX_TEMP_PATHS = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
  .map((kind) => `    ${kind}_temp_path tmp/${kind === 'client_body' ? 'body' : kind};\n`)
  .join('');

const STATIC_FILES = { '/1k.html': 1024, '/64k.html': 64 * 1024, '/1m.html': 1024 * 1024 };

/** Words the pages are made of: text compresses about 3:1 at gzip level 1, as prose does. */
const WORDS = (
  'the gateway serves static files proxies requests and echoes websocket messages like nginx with ' +
  'openresty lua scripts on node worker connection keepalive header body response request upstream ' +
  'location server listen gzip buffer socket frame text binary ping pong close timeout error log'
).split(' ');

/** `size` bytes of HTML-like text; the same bytes every run (a fixed linear congruential walk). */
function pageText(size) {
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  const parts = ['<!doctype html>\n<html><head><title>bench</title></head><body>\n<p>'];
  let length = parts[0].length;
  while (length < size) {
    const n = next();
    let word = WORDS[n % WORDS.length];
    if (n % 97 === 0) word += '</p>\n<p>';
    else if (n % 13 === 0) word += String(n % 10007);
    parts.push(word, ' ');
    length += word.length + 1;
  }
  return parts.join('').slice(0, size);
}

/** Where the Lua module is, or null: the modules-enabled snippet's path, else Debian's place. */
function findLuaModules() {
  const dir = '/usr/lib/nginx/modules';
  const candidates = [];
  try {
    for (const f of fs.readdirSync('/etc/nginx/modules-enabled')) {
      const text = fs.readFileSync(path.join('/etc/nginx/modules-enabled', f), 'utf8');
      for (const m of text.matchAll(/load_module\s+([^;]+);/g)) candidates.push(m[1].trim());
    }
  } catch {
    /* no modules-enabled: look in the usual directory */
  }
  const resolve = (name) => {
    const hit = candidates.find((c) => c.endsWith(`/${name}`));
    const abs = hit ? (path.isAbsolute(hit) ? hit : path.join('/usr/share/nginx', hit)) : path.join(dir, name);
    return fs.existsSync(abs) ? fs.realpathSync(abs) : null;
  };
  const ndk = resolve('ndk_http_module.so');
  const lua = resolve('ngx_http_lua_module.so');
  return ndk && lua ? { ndk, lua } : null;
}

/** The nginx binary, or null. */
function findNginx() {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx', '/usr/local/openresty/nginx/sbin/nginx']) {
    if (fs.existsSync(p)) return p;
  }
  return null;
}

/**
 * The seed's content_by_lua loop, verbatim but for the module name: lua-resty-websocket is
 * `resty.websocket.server`; Debian's lua-nginx-websocket ships the same code as
 * `nginx.websocket.server`.
 */
const ECHO_LUA = `
            local ok, server = pcall(require, "resty.websocket.server")
            if not ok then server = require "nginx.websocket.server" end
            local wb, err = server:new{
                timeout = 50000,
                max_payload_len = 65535,
            }
            if not wb then
                ngx.log(ngx.ERR, "failed to new websocket: ", err)
                return ngx.exit(444)
            end
            while true do
                local data, typ, err = wb:recv_frame()
                if wb.fatal then
                    ngx.log(ngx.ERR, "failed to receive frame: ", err)
                    return ngx.exit(444)
                end
                if not data then
                    local bytes, err = wb:send_ping()
                    if not bytes then
                        ngx.log(ngx.ERR, "failed to send ping: ", err)
                        return ngx.exit(444)
                    end
                elseif typ == "close" then break
                elseif typ == "ping" then
                    local bytes, err = wb:send_pong()
                    if not bytes then
                        ngx.log(ngx.ERR, "failed to send pong: ", err)
                        return ngx.exit(444)
                    end
                elseif typ == "pong" then
                    ngx.log(ngx.INFO, "client ponged")
                elseif typ == "text" then
                    local bytes, err = wb:send_text(data)
                    if not bytes then
                        ngx.log(ngx.ERR, "failed to send text: ", err)
                        return ngx.exit(444)
                    end
                end
            end
            wb:send_close()`;

/** The shared-dict case: one ngx.shared get per request (set once), in Lua and as a gateway handler. */
const DICT_GET_LUA = `
                local d = ngx.shared.benchdict
                local v = d:get("greeting")
                if not v then v = "hello from a shared dict"; d:set("greeting", v) end
                ngx.print(v)`;
const DICT_GET_HANDLER = `module.exports = {
  configure() { return {}; },
  create(_options, env) {
    const d = env.shared('benchdict');
    return {
      http(_req, res) {
        let v = d.get('greeting');
        if (v === null) { v = 'hello from a shared dict'; d.set('greeting', v); }
        res.setHeader('Content-Type', 'text/plain');
        res.end(v);
      },
    };
  },
};
`;

/**
 * The gateway's configuration: conf/site.yaml's (open_file_cache included), plus the proxy
 * location, a location without open_file_cache (`/cold/`), one behind limit_req (`/limited/`,
 * a rate and burst no load reaches: every request is checked, none refused or delayed), one behind
 * an access script that lets every request through (`/scripted/`), the proxy through a body
 * filter that returns each chunk as it came (`/filtered/`), the proxy behind proxy_cache
 * (`/cached/`: every request after the first a HIT; each server its own cache directory) and
 * the bench's limits.
 */
function gatewayYaml({ port, backendPort, connections, h2Port = null, scale = null }) {
  // This commit's tree (h2Port given): the HTTP/2 listener, and nginx's keepalive_requests as the
  // nginx.conf sets it (a baseline commit may know neither: its YAML stays as it was).
  const current = h2Port !== null;
  return `# Written by scripts/bench/setup.js: the seed's site plus a proxied location.
worker_processes: ${scale ? scale.workers : 1}
${scale ? `worker_rlimit_nofile: ${scale.rlimitNofile}\n` : ''}error_log: logs/error.log info
pid: logs/gateway.pid
events:
  worker_connections: ${connections}
http:
  default_type: application/octet-stream
  gzip: on
  gzip_min_length: 1
  access_log: logs/access.log combined
  open_file_cache: max=1000 inactive=20s
  open_file_cache_valid: 2s
  limit_req_zone: "$binary_remote_addr zone=bench:10m rate=1000000r/s"
  shared_dict: { benchdict: 1m }
  proxy_cache_path: tmp/cache-gateway levels=1:2 keys_zone=benchcache:1m
${current ? '  keepalive_requests: 1000000\n' : ''}${scale ? `  send_timeout: ${scale.sendTimeout}\n  client_header_timeout: ${scale.headerTimeout}\n` : ''}  servers:
    - listen: ${current ? `["127.0.0.1:${port} ${listenOptions(scale)}", "127.0.0.1:${h2Port} http2"]` : `"127.0.0.1:${port} so_keepalive=2s:2s:8"`}
      locations:
        - location: /s
          handler: websocket-script
          script: echo
          timeout: 50000
          max_payload_len: 65535
          lua_socket_log_errors: on
          lua_check_client_abort: on
        - location: /cold/
          handler: static
          alias: public/
          open_file_cache: "off"
        - location: /limited/
          handler: static
          alias: public/
          limit_req: zone=bench burst=100000 nodelay
        - location: /scripted/
          handler: static
          alias: public/
          access_by: pass-through
        - location: = /dict
          handler: dict-get
        - location: /filtered/
          proxy_pass: http://127.0.0.1:${backendPort}/
          proxy_http_version: "1.1"
          proxy_set_header: { Connection: "" }
          body_filter_by: pass-chunks
        - location: /proxy/
          proxy_pass: http://127.0.0.1:${backendPort}/
          proxy_http_version: "1.1"
          proxy_set_header: { Connection: "" }
        - location: /cached/
          proxy_pass: http://127.0.0.1:${backendPort}/
          proxy_http_version: "1.1"
          proxy_set_header: { Connection: "" }
          proxy_cache: benchcache
          proxy_cache_valid: 200 10m
        - location: /
          handler: static
          root: public
`;
}

/**
 * The main listener's options: the seed's `so_keepalive=2s:2s:8`; for the scale run a deep
 * backlog instead (100,000 connections opened at thousands a second overflowed the default 511:
 * 10,383 handshakes dropped and retried in one run) and no keepalive probes (every 2 s on each
 * of 100,000 idle connections: 50,000 probes a second of kernel work on this 2-core machine).
 */
function listenOptions(scale) {
  return scale ? `backlog=${scale.backlog}` : 'so_keepalive=2s:2s:8';
}

/** The equivalent nginx.conf (the seed's, plus the same open_file_cache, locations and limits). */
function nginxConf({ port, h2Port, backendPort, connections, modules, scale = null }) {
  return `# Written by scripts/bench/setup.js: the seed's nginx.conf plus a proxied location.
load_module ${modules.ndk};
load_module ${modules.lua};
worker_processes ${scale ? scale.workers : 1};
worker_rlimit_nofile ${scale ? scale.rlimitNofile : connections + 1000};
error_log logs/error.log info;
pid logs/nginx.pid;

events {
    worker_connections ${connections};
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log logs/access.log combined;
    # Both servers: no reconnections every 1000 requests in a run.
    keepalive_requests 1000000;
${scale ? `    send_timeout ${scale.sendTimeout};\n    client_header_timeout ${scale.headerTimeout};\n` : ''}${NGINX_TEMP_PATHS}
    gzip on;
    gzip_min_length 1;
    open_file_cache max=1000 inactive=20s;
    open_file_cache_valid 2s;
    limit_req_zone $binary_remote_addr zone=bench:10m rate=1000000r/s;
    lua_shared_dict benchdict 1m;
    proxy_cache_path tmp/cache-nginx levels=1:2 keys_zone=benchcache:1m;

    upstream backend {
        server 127.0.0.1:${backendPort};
        keepalive 64;
        keepalive_requests 1000000;
    }

    server {
        listen 127.0.0.1:${port} ${listenOptions(scale)};
        listen 127.0.0.1:${h2Port} http2;

        location /s {
            lua_socket_log_errors on;
            lua_check_client_abort on;
            content_by_lua_block {${ECHO_LUA}
            }
        }

        location /cold/ {
            alias public/;
            open_file_cache off;
        }

        location /limited/ {
            alias public/;
            limit_req zone=bench burst=100000 nodelay;
        }

        location /scripted/ {
            alias public/;
            access_by_lua_block { }
        }

        location = /dict {
            default_type text/plain;
            content_by_lua_block {${DICT_GET_LUA}
            }
        }

        location /filtered/ {
            proxy_pass http://backend/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            body_filter_by_lua_block { }
        }

        location /proxy/ {
            proxy_pass http://backend/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location /cached/ {
            proxy_pass http://backend/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache benchcache;
            proxy_cache_valid 200 10m;
        }

        location / {
            root public;
        }
    }
}
`;
}

/**
 * Writes the tree and returns where everything is. `nginx` is `{ bin, conf }` when nginx with
 * the Lua module checks the configuration, else null with `nginxMissing` saying why.
 */
function prepare({ gatewayPort, nginxPort, gatewayH2Port, nginxH2Port, backendPort, connections, scale = null }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-bench-'));
  // nginx's workers run as `nobody` when the master is root: the tree must be readable to all.
  fs.chmodSync(dir, 0o755);
  for (const sub of ['public', 'handlers', 'conf', 'logs', 'tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) {
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
  }
  for (const [file, size] of Object.entries(STATIC_FILES)) fs.writeFileSync(path.join(dir, 'public', file), pageText(size));
  // The access script of /scripted/: lets every request through (nginx: an empty access_by_lua_block).
  fs.writeFileSync(path.join(dir, 'handlers', 'pass-through.js'), 'module.exports = { run() {} };\n');
  fs.writeFileSync(path.join(dir, 'handlers', 'dict-get.js'), DICT_GET_HANDLER);
  // The body filter of /filtered/: returns every chunk as it came, and says so (`keepsLength`: the
  // response keeps its Content-Length, as nginx keeps it for an empty body_filter_by_lua_block).
  fs.writeFileSync(path.join(dir, 'handlers', 'pass-chunks.js'), 'module.exports = { keepsLength: true, bodyFilter(chunk) { return chunk; } };\n');
  const gatewayConf = path.join(dir, 'conf', 'gateway.yaml');
  fs.writeFileSync(gatewayConf, gatewayYaml({ port: gatewayPort, h2Port: gatewayH2Port, backendPort, connections, scale }));

  let nginx = null;
  let nginxMissing = null;
  const bin = findNginx();
  const modules = findLuaModules();
  const luaLib = ['/usr/share/lua/5.1/nginx/websocket/server.lua', '/usr/share/lua/5.1/resty/websocket/server.lua'].some((f) => fs.existsSync(f));
  if (!bin) nginxMissing = 'no nginx binary';
  else if (!modules) nginxMissing = 'nginx has no Lua module (ngx_http_lua_module.so)';
  else if (!luaLib) nginxMissing = 'no lua-resty-websocket (resty.websocket.server or nginx.websocket.server)';
  else {
    const conf = path.join(dir, 'conf', 'nginx.conf');
    fs.writeFileSync(conf, nginxConf({ port: nginxPort, h2Port: nginxH2Port, backendPort, connections, modules, scale }));
    try {
      execFileSync(bin, ['-t', '-q', '-p', dir, '-c', conf, '-g', 'daemon off;'], { stdio: 'pipe' });
      nginx = { bin, conf };
    } catch (err) {
      nginxMissing = `nginx -t failed: ${String(err.stderr || err.message).trim().split('\n').pop()}`;
    }
  }
  return { dir, gatewayConf, nginx, nginxMissing, h2Ports: { gateway: gatewayH2Port, nginx: nginxH2Port } };
}

module.exports = { prepare, STATIC_FILES, NGINX_TEMP_PATHS, pageText, gatewayYaml, nginxConf };
