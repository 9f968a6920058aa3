/**
 * Parity and safety: a corpus of path traversal attempts against `root` and `alias`
 * locations. Every one must be refused by both servers, and no response may carry the
 * secret file kept beside the document root (the harness checks that on every request of
 * every case; here each request also demands a refusal).
 */
import { defineParityCases, type ParityCase, type ParityRequest } from './run';
import { DELIBERATE } from './differences';
import { loc } from './site';

/** Attempts to reach `secret.txt`, which sits one level above `www/` and `alias-target/`. */
const ATTEMPTS: readonly [string, string][] = [
  ['plain dot-dot', '/../secret.txt'],
  ['dot-dot after a segment', '/sub/../../secret.txt'],
  ['dot-dot after a dot', '/./../secret.txt'],
  ['dot-dot with merged slashes', '//..//secret.txt'],
  ['encoded dots', '/%2e%2e/secret.txt'],
  ['mixed-case encoded dots', '/%2E%2e/secret.txt'],
  ['half-encoded dots', '/.%2e/secret.txt'],
  ['encoded slash', '/..%2fsecret.txt'],
  ['encoded dots and slash', '/%2e%2e%2fsecret.txt'],
  ['encoded slash after a segment', '/sub%2f..%2f..%2fsecret.txt'],
  ['backslashes', '/..\\secret.txt'],
  ['encoded backslashes', '/..%5csecret.txt'],
  ['backslash traversal in a segment', '/sub\\..\\..\\secret.txt'],
  ['NUL before a suffix', '/../secret.txt%00.html'],
  ['NUL in a name', '/index.html%00/../../secret.txt'],
  ['overlong UTF-8 dots', '/%c0%ae%c0%ae/secret.txt'],
  ['overlong UTF-8 slash', '/..%c0%afsecret.txt'],
  ['overlong UTF-8, 3 bytes', '/%e0%80%ae%e0%80%ae/secret.txt'],
  ['double-encoded dots', '/%252e%252e/secret.txt'],
  ['double-encoded slash', '/..%252fsecret.txt'],
  ['unicode full stops', '/%ef%bc%8e%ef%bc%8e/secret.txt'],
  ['many dot-dots', '/a/b/../../../../../../secret.txt'],
  ['dot-dot at the end', '/sub/../../..'],
  ['encoded dot-dot at the end', '/sub/%2e%2e/%2e%2e/%2e%2e'],
  ['absolute-form target', 'http://localhost/../secret.txt'],
];

const requests: ParityRequest[] = [];
for (const [prefix, where] of [
  ['', 'root'],
  ['/files', 'alias'],
  ['/re', 'regex alias'],
] as const) {
  for (const [name, target] of ATTEMPTS) {
    if (target.startsWith('http://')) {
      if (!prefix) requests.push({ name: `${where}: ${name}`, target, refused: true });
      continue;
    }
    requests.push({ name: `${where}: ${name}`, target: prefix + target, refused: true });
  }
}

const corpus: ParityCase = {
  title: 'traversal corpus',
  site: {
    servers: [
      {
        directives: { root: 'www' },
        locations: [loc('/'), loc('/files/', { alias: 'alias-target/' }), loc('~ ^/re/(.*)$', { alias: 'alias-target/$1' })],
      },
    ],
  },
  files: { 'www/index.html': 'index\n', 'www/sub/a.txt': 'a\n', 'alias-target/a.txt': 'a\n' },
  requests: [
    ...requests,
    {
      name: 'raw NUL in the request line',
      raw: Buffer.from('GET /\0/../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'latin1'),
      refused: true,
    },
    { name: 'dot-dots in the query are not a path (the index is served)', target: '/?/../../secret.txt' },
    { name: 'raw dot-dot without a leading slash', raw: 'GET ../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', refused: true },
    { name: 'raw dot-dot in an absolute URI', raw: 'GET http://x/%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', refused: true },
  ],
};

/**
 * nginx's classic alias pitfall: `location /files { alias .../; }` without the trailing slash
 * on the location lets `/files../secret.txt` map to `.../../secret.txt`, which nginx serves.
 */
const aliasPitfall: ParityCase = {
  title: 'alias without a trailing slash on its location',
  site: { servers: [{ directives: { root: 'www' }, locations: [loc('/'), loc('/files', { alias: 'alias-target/' })] }] },
  files: { 'www/index.html': 'index\n', 'alias-target/a.txt': 'a\n' },
  requests: [
    { name: 'the file through the alias', target: '/files/a.txt' },
    {
      name: 'off-by-slash traversal',
      target: '/files../secret.txt',
      refused: true,
      differs: DELIBERATE.aliasTraversal,
    },
  ],
};

defineParityCases([corpus, aliasPitfall]);
