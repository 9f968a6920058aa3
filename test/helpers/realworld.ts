/**
 * The real-world nginx configurations of test/realworld/: which file is which (its context,
 * whether it is FastCGI), the documented placeholders filled before `gateway -t` (or
 * `nginx -t`) reads it, and a count of the directive uses in a file. Shared by
 * test/realworld.test.ts and scripts/realworld-report.js; the files themselves are never edited.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const REALWORLD_DIR = path.resolve(__dirname, '../realworld');

/** Where a file's directives stand: a whole nginx.conf, the inside of `http {}`, or of `server {}`. */
export type RealWorldContext = 'main' | 'http' | 'server';

/** One collected configuration. */
export interface RealWorldCase {
  /** Path under test/realworld/. */
  readonly file: string;
  readonly project: string;
  readonly context: RealWorldContext;
  /** FastCGI/uWSGI/SCGI configurations are counted apart (the gateway has no such upstreams). */
  readonly fastcgi?: boolean;
  /** Other collected files put where the configuration includes them: [file under test/realworld/, path under conf/]. */
  readonly beside?: readonly (readonly [string, string])[];
  /** Placeholders of this file only: [text as published, what the test writes instead]. */
  readonly fill?: readonly (readonly [string, string])[];
}

const CERTBOT: readonly [string, string] = ['certbot-options-ssl-nginx.conf', 'certbot-options-ssl-nginx.conf'];
const FASTCGI_PARAMS: readonly [string, string] = ['fastcgi_params', 'fastcgi_params'];

/** Every collected configuration (README.md lists their sources and licences). */
export const REALWORLD_CASES: readonly RealWorldCase[] = [
  { file: 'nginx-default.conf', project: 'nginx', context: 'main' },
  { file: 'debian-nginx.conf', project: 'Debian', context: 'main', beside: [['debian-default-site.conf', 'sites-enabled/default']] },
  { file: 'debian-default-site.conf', project: 'Debian', context: 'http' },
  { file: 'openresty-docker-nginx.conf', project: 'OpenResty', context: 'main', beside: [['openresty-docker-default-site.conf', 'conf.d/default.conf']] },
  { file: 'openresty-docker-default-site.conf', project: 'OpenResty', context: 'http' },
  { file: 'certbot-options-ssl-nginx.conf', project: 'Certbot', context: 'server' },
  { file: 'h5bp-server-configs/nginx.conf', project: 'H5BP server configs', context: 'main' },
  {
    file: 'h5bp-server-configs/conf.d/templates/example.com.conf',
    project: 'H5BP server configs',
    context: 'main',
    // As h5bp's README says: the template copied into conf.d/, read by h5bp's nginx.conf.
    beside: [['h5bp-server-configs/conf.d/templates/example.com.conf', 'conf.d/example.com.conf']],
  },
  { file: 'nchan-basic.conf', project: 'Nchan', context: 'main' },
  {
    file: 'mastodon-nginx.conf',
    project: 'Mastodon',
    context: 'http',
    // The file's own instruction: "Uncomment these lines once you acquire a certificate".
    fill: [
      ['# ssl_certificate     /etc', 'ssl_certificate     /etc'],
      ['# ssl_certificate_key /etc', 'ssl_certificate_key /etc'],
    ],
  },
  { file: 'gitlab-nginx.conf', project: 'GitLab', context: 'http' },
  { file: 'mattermost-nginx.conf', project: 'Mattermost', context: 'http', fill: [['{domain-name}', 'example.com']] },
  { file: 'synapse-nginx.conf', project: 'Synapse (Matrix)', context: 'http' },
  { file: 'jellyfin-nginx.conf', project: 'Jellyfin', context: 'http', beside: [CERTBOT] },
  { file: 'grafana-nginx.conf', project: 'Grafana', context: 'http' },
  { file: 'home-assistant-nginx.conf', project: 'Home Assistant', context: 'http' },
  { file: 'gitea-nginx.conf', project: 'Gitea', context: 'http' },
  { file: 'jenkins-nginx.conf', project: 'Jenkins', context: 'http' },
  { file: 'uptime-kuma-nginx.conf', project: 'Uptime Kuma', context: 'http' },
  { file: 'immich-nginx.conf', project: 'Immich', context: 'http', fill: [['<public_url>', 'immich.example.com'], ['<backend_url>', '127.0.0.1']] },
  { file: 'zammad-ssl.conf', project: 'Zammad', context: 'http' },
  {
    file: 'peertube-nginx.conf',
    project: 'PeerTube',
    context: 'http',
    fill: [['${WEBSERVER_HOST}', 'peertube.example.com'], ['${PEERTUBE_HOST}', '127.0.0.1:9000']],
  },
  {
    file: 'lemmy-ansible-nginx.conf',
    project: 'Lemmy',
    context: 'http',
    fill: [['{{domain|replace(".","_")|replace("-","_")}}', 'example_com'], ['{{ domain }}', 'example.com'], ['{{domain}}', 'example.com'], ['{{lemmy_port}}', '8536']],
  },
  {
    file: 'sentry-self-hosted-nginx.conf',
    project: 'Sentry self-hosted',
    context: 'main',
    fill: [
      // Docker compose's service names, and the image's user.
      ['server relay:3000', 'server 127.0.0.1:3000'],
      ['server web:9000', 'server 127.0.0.1:9000'],
      ['user nginx;', 'user www-data;'],
    ],
  },
  { file: 'netbox-nginx.conf', project: 'NetBox', context: 'http' },
  { file: 'odoo-nginx.conf', project: 'Odoo', context: 'http' },
  { file: 'rocketchat-nginx.conf', project: 'Rocket.Chat', context: 'http' },
  { file: 'gunicorn-nginx.conf', project: 'Gunicorn', context: 'main' },
  { file: 'puma-nginx.conf', project: 'Puma', context: 'http' },
  { file: 'nextcloud-nginx-root.conf', project: 'Nextcloud', context: 'http', fastcgi: true, beside: [FASTCGI_PARAMS] },
];

/**
 * The placeholders every file gets, by directive: the argument that names a file outside the
 * test's prefix (certificates, logs, pid, cache and temp directories) is replaced with one
 * inside it. `{prefix}` is the prefix; the certificates are made by `makeCertificates`.
 */
export const DIRECTIVE_PLACEHOLDERS: readonly { readonly directive: string; readonly becomes: string }[] = [
  { directive: 'ssl_certificate', becomes: '{prefix}/certs/cert.pem' },
  { directive: 'ssl_certificate_key', becomes: '{prefix}/certs/key.pem' },
  { directive: 'ssl_trusted_certificate', becomes: '{prefix}/certs/cert.pem' },
  { directive: 'ssl_client_certificate', becomes: '{prefix}/certs/cert.pem' },
  { directive: 'ssl_dhparam', becomes: '{prefix}/certs/dhparam.pem' },
  { directive: 'access_log', becomes: '{prefix}/logs/{basename}' },
  { directive: 'error_log', becomes: '{prefix}/logs/{basename}' },
  { directive: 'pid', becomes: '{prefix}/logs/{basename}' },
  { directive: 'proxy_cache_path', becomes: '{prefix}/temp/{basename}' },
  { directive: 'client_body_temp_path', becomes: '{prefix}/temp/{basename}' },
  { directive: 'proxy_temp_path', becomes: '{prefix}/temp/{basename}' },
  { directive: 'fastcgi_temp_path', becomes: '{prefix}/temp/{basename}' },
  { directive: 'uwsgi_temp_path', becomes: '{prefix}/temp/{basename}' },
  { directive: 'scgi_temp_path', becomes: '{prefix}/temp/{basename}' },
];

/**
 * Placeholders in any file, as text: nginx's configuration directory of the distributions
 * (`/etc/nginx/`, where `mime.types`, `conf.d/`, `sites-enabled/` are) is the test's conf
 * directory; certbot's include is the collected certbot file, put there.
 */
export const PATH_PLACEHOLDERS: readonly (readonly [string, string])[] = [
  ['/etc/letsencrypt/options-ssl-nginx.conf', '{conf}/certbot-options-ssl-nginx.conf'],
  ['/etc/nginx/', '{conf}/'],
];

/** Fills a file's placeholders (pure): the file's own first (templates' variables), then by directive, then the paths. */
export function fillPlaceholders(text: string, kase: Pick<RealWorldCase, 'fill'>, prefix: string, conf: string): string {
  let out = text;
  for (const [from, to] of kase.fill ?? []) out = out.split(from).join(to);
  for (const { directive, becomes } of DIRECTIVE_PLACEHOLDERS) {
    // The directive at the start of a line or after a `;` or `{` (never in a comment), its first argument.
    const re = new RegExp(`(^|[;{]|^[ \\t]+)([ \\t]*${directive}[ \\t]+)("[^"]*"|'[^']*'|[^\\s;'"]+)`, 'gm');
    out = out.replace(re, (_m, lead: string, head: string, arg: string) => {
      if (arg === 'off' || arg === 'stderr' || arg.startsWith('syslog:') || arg.startsWith('memory:')) return lead + head + arg;
      const bare = arg.replace(/^["']|["']$/g, '');
      const basename = path.basename(bare.replace(/\/+$/, '')) || 'none';
      return lead + head + becomes.replace('{prefix}', prefix).replace('{basename}', basename);
    });
  }
  for (const [from, to] of PATH_PLACEHOLDERS) out = out.split(from).join(to.replace('{conf}', conf));
  return out;
}

/** The main file the test writes around a file that is not a whole nginx.conf. */
export function wrapperFor(kase: RealWorldCase, prefix: string): string | undefined {
  const include = `include ${path.basename(kase.file)};`;
  if (kase.context === 'http') return `events {}\nhttp {\n    include mime.types;\n    ${include}\n}\n`;
  if (kase.context === 'server') {
    return (
      'events {}\nhttp {\n    server {\n        listen 8443 ssl;\n' +
      `        ssl_certificate ${prefix}/certs/cert.pem;\n        ssl_certificate_key ${prefix}/certs/key.pem;\n` +
      `        ${include}\n    }\n}\n`
    );
  }
  return undefined;
}

/** A self-signed certificate, its key and DH parameters (RFC 7919 ffdhe2048), under `dir`/certs. */
export function makeCertificates(dir: string): void {
  const certs = path.join(dir, 'certs');
  mkdirSync(certs, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=example.com', '-keyout', path.join(certs, 'key.pem'), '-out', path.join(certs, 'cert.pem')], { stdio: 'ignore' });
  execFileSync('openssl', ['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048', '-out', path.join(certs, 'dhparam.pem')], { stdio: 'ignore' });
}

/**
 * Writes a case into `prefix` (which must hold certs/ from `makeCertificates`): the file with
 * its placeholders filled under conf/, the collected files it includes beside it, nginx's
 * mime.types and the directories the distributions' files include; returns the main file to
 * hand to `-c` (the file itself, or the wrapper around it).
 */
export function prepareCase(kase: RealWorldCase, prefix: string): string {
  const conf = path.join(prefix, 'conf');
  for (const dir of ['conf/conf.d', 'conf/sites-enabled', 'conf/modules-enabled', 'logs', 'temp']) mkdirSync(path.join(prefix, dir), { recursive: true });
  const source = path.join(REALWORLD_DIR, kase.file);
  // A file of a collected tree (h5bp's) is read with the whole tree around it, as published.
  const tree = kase.file.includes('/') ? kase.file.split('/')[0] : undefined;
  if (tree) {
    cpSync(path.join(REALWORLD_DIR, tree), conf, { recursive: true });
    for (const file of listFiles(conf)) writeFileSync(file, fillPlaceholders(readFileSync(file, 'utf8'), kase, prefix, conf));
  } else if (!existsSync(path.join(conf, 'mime.types'))) {
    writeFileSync(path.join(conf, 'mime.types'), readFileSync(path.join(REALWORLD_DIR, 'mime.types')));
  }
  for (const [from, to] of kase.beside ?? []) {
    const target = path.join(conf, to);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, fillPlaceholders(readFileSync(path.join(REALWORLD_DIR, from), 'utf8'), kase, prefix, conf));
  }
  if (tree) return kase.context === 'main' ? path.join(conf, 'nginx.conf') : path.join(conf, path.relative(tree, kase.file));
  const own = path.join(conf, path.basename(kase.file));
  writeFileSync(own, fillPlaceholders(readFileSync(source, 'utf8'), kase, prefix, conf));
  const wrapper = wrapperFor(kase, prefix);
  if (!wrapper) return own;
  const main = path.join(conf, 'nginx.conf');
  writeFileSync(main, wrapper);
  return main;
}

function listFiles(dir: string): string[] {
  const { readdirSync, statSync } = require('node:fs') as typeof import('node:fs');
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full) : [full];
  });
}

/** One directive as written: its name and the line it starts on. */
export interface DirectiveUse {
  readonly name: string;
  readonly line: number;
}

/**
 * The directives written in an nginx.conf text, in order (block directives included; the
 * inside of `*_by_lua_block`, `map`, `types` and `split_clients` blocks is not directives and
 * is skipped). A count for the report, not the gateway's reader.
 */
export function directiveUses(text: string): DirectiveUse[] {
  const uses: DirectiveUse[] = [];
  let line = 1;
  let i = 0;
  let words: { text: string; line: number }[] = [];
  const opaque: boolean[] = []; // per open block: is its inside not directives?
  let skipDepth = 0;
  const end = (opensBlock: boolean) => {
    if (words.length > 0 && skipDepth === 0) uses.push({ name: words[0].text, line: words[0].line });
    if (opensBlock) {
      const name = words[0]?.text ?? '';
      const isOpaque = skipDepth > 0 || /_by_lua_block$/.test(name) || ['map', 'types', 'split_clients', 'geo', 'match'].includes(name);
      opaque.push(isOpaque);
      if (isOpaque) skipDepth++;
    }
    words = [];
  };
  while (i < text.length) {
    const c = text[i];
    if (c === '\n') {
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') i++;
    else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === ';') {
      end(false);
      i++;
    } else if (c === '{') {
      end(true);
      i++;
    } else if (c === '}') {
      words = [];
      if (opaque.pop()) skipDepth--;
      i++;
    } else {
      const start = line;
      let word = '';
      if (c === '"' || c === "'") {
        i++;
        while (i < text.length && text[i] !== c) {
          if (text[i] === '\\') word += text[i++];
          if (text[i] === '\n') line++;
          word += text[i++];
        }
        i++;
      } else {
        while (i < text.length && !/[\s;{}]/.test(text[i])) {
          if (text[i] === '\\') word += text[i++];
          word += text[i++];
        }
      }
      words.push({ text: word, line: start });
    }
  }
  return uses;
}
