'use strict';
/**
 * The push benchmark's configurations, written into the run's temporary tree: the gateway's
 * YAML (push-subscriber at /sub/<channel>, WebSocket only; push-publisher at /pub/<channel>)
 * and the equivalent nginx.conf with nchan (nchan_subscriber websocket, nchan_publisher),
 * each in memory or in Redis. Both keep 10 messages per channel for an hour (nchan's defaults,
 * set explicitly on both sides), log no access (publishes are the only requests), and allow
 * 20,000 connections in their one worker.
 */
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { HARD_NOFILE } = require('./procs');
const { NGINX_TEMP_PATHS } = require('./setup');

const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';
const CONNECTIONS = 20000;
/** The open-files limit of every process the push bench starts (servers, generator, Redis). */
const NOFILE = 65536; // clamped by procs.startPinned to the hard limit (`ulimit -Hn`)

function gatewayYaml({ port, redisPort, master }) {
  return `# Written by scripts/bench/push-setup.js.
worker_processes: 1
master_process: ${master ? 'on' : 'off'}
error_log: logs/error.log warn
pid: logs/gateway.pid
events:
  worker_connections: ${CONNECTIONS}
http:
  access_log: off
  message_buffer_length: 10
  message_timeout: 1h
${redisPort ? `  push_redis_url: redis://127.0.0.1:${redisPort}\n` : ''}  servers:
    - listen: "127.0.0.1:${port}"
      locations:
        - location: ~ ^/sub/(\\w+)$
          handler: push-subscriber
          channel: $1
          # No \`types: [websocket]\`: at a location that key is read as the MIME \`types\`
          # directive (a file to open) and the configuration fails; both kinds are taken.
        - location: ~ ^/pub/(\\w+)$
          handler: push-publisher
          channel: $1
`;
}

function nchanConf({ port, redisPort }) {
  return `# Written by scripts/bench/push-setup.js.
load_module ${NCHAN_MODULE};
worker_processes 1;
worker_rlimit_nofile ${Math.min(NOFILE, HARD_NOFILE)};
error_log logs/error.log warn;
pid logs/nginx.pid;

events {
    worker_connections ${CONNECTIONS};
}

http {
    access_log off;
    keepalive_requests 1000000;
${NGINX_TEMP_PATHS}    nchan_message_buffer_length 10;
    nchan_message_timeout 1h;
${redisPort ? `    nchan_redis_url "redis://127.0.0.1:${redisPort}";\n    nchan_use_redis on;\n` : ''}
    server {
        listen 127.0.0.1:${port};

        location ~ ^/sub/(\\w+)$ {
            nchan_subscriber websocket;
            nchan_channel_id $1;
            # New subscribers start with the next message, as the gateway's (no replay asked).
            nchan_subscriber_first_message newest;
        }

        location ~ ^/pub/(\\w+)$ {
            nchan_publisher;
            nchan_channel_id $1;
        }
    }
}
`;
}

/** The nginx binary when it exists and has nchan, else null with why. */
function findNchan() {
  const bin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
  if (!bin) return { bin: null, missing: 'no nginx binary' };
  if (!fs.existsSync(NCHAN_MODULE)) return { bin: null, missing: `no nchan module (${NCHAN_MODULE}; Debian: nginx-extras or libnginx-mod-nchan)` };
  return { bin, missing: null };
}

/**
 * Writes the configuration of `server` ({ kind, redis, master }) listening on `port` into
 * `dir/conf`, checks nginx's with `nginx -t`, and returns its path.
 */
function writeConf(dir, server, { port, redisPort }) {
  const name = `${server.id}.${server.kind === 'gateway' ? 'yaml' : 'conf'}`;
  const file = path.join(dir, 'conf', name);
  const redis = server.redis ? redisPort : null;
  if (server.kind === 'gateway') fs.writeFileSync(file, gatewayYaml({ port, redisPort: redis, master: server.master }));
  else {
    fs.writeFileSync(file, nchanConf({ port, redisPort: redis }));
    execFileSync(server.bin, ['-t', '-q', '-p', dir, '-c', file, '-g', 'daemon off;'], { stdio: 'pipe' });
  }
  return file;
}

/** The run's tree: conf/, logs/, tmp/ (nginx's temp paths), readable by nginx's `nobody` worker. */
function makeTree(root) {
  fs.chmodSync(root, 0o755);
  for (const sub of ['conf', 'logs', 'prof', 'redis', 'tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) {
    fs.mkdirSync(path.join(root, sub), { recursive: true });
  }
}

module.exports = { gatewayYaml, nchanConf, findNchan, writeConf, makeTree, CONNECTIONS, NOFILE, NCHAN_MODULE };
