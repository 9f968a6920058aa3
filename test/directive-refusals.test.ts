/**
 * Refusals that say the truth (issue 14, item 6): a directive nginx or the OpenResty bundle
 * knows and the gateway does not do is `"X" directive is not supported yet`; a name nobody knows
 * is `unknown directive "X"`; "for handler" only for the options of a handler the location names.
 */
import { NGINX_DIRECTIVES } from '../src/config/nginx-directives';
import { REGISTRY } from '../src/modules/registry';
import { configErrorOf } from './helpers/virtual-config';

const at = (line: number, col: number) => ` in /virtual/site.yaml:${line}:${col}`;
const inLocation = (keys: string) => `http:\n  servers:\n    - locations:\n        - { location: /, ${keys} }\n`;

describe('the wording of a refused directive, per case', () => {
  test.each([
    ['an nginx main directive the gateway lacks', 'google_perftools_profiles: /tmp/p\n', '"google_perftools_profiles" directive is not supported yet' + at(1, 1)],
    ['a typo at the top', 'worker_proceses: 2\n', 'unknown directive "worker_proceses"' + at(1, 1)],
    ['an http-core directive the gateway lacks', 'http:\n  fastcgi_pass: 127.0.0.1:9000\n', '"fastcgi_pass" directive is not supported yet' + at(2, 3)],
    ['an OpenResty directive', 'http:\n  lua_code_cache: off\n', '"lua_code_cache" directive is not supported yet' + at(2, 3)],
    ['a headers-more directive', 'http:\n  more_set_headers: "Server: x"\n', '"more_set_headers" directive is not supported yet' + at(2, 3)],
    ['an nchan directive', 'http:\n  nchan_max_reserved_memory: 64m\n', '"nchan_max_reserved_memory" directive is not supported yet' + at(2, 3)],
    ['a directive of a later nginx', 'http:\n  http3: on\n', '"http3" directive is not supported yet' + at(2, 3)],
    ['a typo at http', 'http:\n  gzipp: on\n', 'unknown directive "gzipp"' + at(2, 3)],
    ['a typo in a location without handler', inLocation('colour: red'), 'unknown directive "colour"' + at(4, 26)],
    ['an nginx directive in a location without handler', inLocation('fastcgi_pass: "127.0.0.1:9000"'), '"fastcgi_pass" directive is not supported yet' + at(4, 26)],
    ['an nginx directive in a proxied location', inLocation('proxy_pass: "http://127.0.0.1:1", uwsgi_pass: "127.0.0.1:9"'), '"uwsgi_pass" directive is not supported yet' + at(4, 60)],
    ['a handler option the named handler never reads', inLocation('handler: websocket-script, script: echo, colour: red'), 'unknown directive "colour" for handler "websocket-script"' + at(4, 67)],
    ['an nginx directive beside a named handler', inLocation('handler: websocket-script, script: echo, fastcgi_pass: x'), '"fastcgi_pass" directive is not supported yet' + at(4, 67)],
    ['a server-only directive in a location', inLocation('listen: 80'), '"listen" directive is not allowed here' + at(4, 26)],
    ['an nginx upstream directive the gateway lacks', 'http:\n  upstreams:\n    b:\n      servers: ["127.0.0.1:1"]\n      zone: "b 64k"\n', '"zone" directive is not supported yet in upstream "b"' + at(5, 7)],
    ['a typo in an upstream', 'http:\n  upstreams:\n    b:\n      servers: ["127.0.0.1:1"]\n      keepalve: 2\n', 'unknown directive "keepalve" in upstream "b"' + at(5, 7)],
  ])('%s', (_case, yaml, message) => {
    expect(configErrorOf(yaml)).toBe(message);
  });
});

describe('the table of nginx directive names', () => {
  const owned = new Set(REGISTRY.modules.flatMap((m) => Object.keys(m.directives)));

  test('holds the names of nginx 1.22 and the OpenResty bundle, each once per family', () => {
    for (const name of ['listen', 'server_name', 'rewrite', 'map', 'ssl_session_cache', 'sendfile', 'worker_rlimit_nofile', 'content_by_lua_block', 'lua_shared_dict', 'set_unescape_uri', 'echo', 'srcache_fetch', 'more_clear_headers', 'load_module', 'thread_pool', 'stream']) {
      expect(NGINX_DIRECTIVES.has(name)).toBe(true);
    }
    for (const name of ['gzipp', 'servers', 'locations', 'handler', 'upstreams']) expect(NGINX_DIRECTIVES.has(name)).toBe(false);
    expect(NGINX_DIRECTIVES.size).toBeGreaterThan(900);
  });

  test('every http-level nginx name no gateway module owns is refused as not supported yet, never as unknown', () => {
    const refused: string[] = [];
    for (const name of NGINX_DIRECTIVES) {
      if (owned.has(name) || ['http', 'events', 'include'].includes(name)) continue;
      let message: string;
      try {
        message = configErrorOf(`http:\n  ${name}: x\n`);
      } catch {
        continue;
      }
      refused.push(name);
      if (message.startsWith('unknown directive')) throw new Error(`${name}: ${message}`);
    }
    expect(refused.length).toBeGreaterThan(500);
  });
});
