/**
 * Parity: auth_basic (ngx_http_auth_basic_module). One password file holds a user for every
 * format (hashes made now by `openssl passwd` and `htpasswd`); each is tried with its password
 * and a wrong one; then an unknown user, no Authorization header, malformed ones, `auth_basic
 * off` in a nested location, the realm with variables and quotes, an empty realm,
 * `$remote_user` (auth_basic's or not: nginx reads it from the header), a file that does not
 * exist (403) or is a directory (500), odd lines of a file (comments, CR, a second line for a
 * user, `user:hash:comment`), `allow`/`deny` beside it under the default `satisfy all`,
 * `error_page 401`, HEAD and a body; a realm from `$uri` with CR LF, which nginx 1.22 writes
 * as it is (a header injected), is a documented difference. Both read the same files by absolute path (the two
 * configurations live in different directories).
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HASH_FORMATS, hashOf } from '../helpers/password-hashes';
import { DELIBERATE } from './differences';
import { defineParityCases, type ParityCase, type ParityRequest } from './run';
import { loc } from './site';

const PASSWORD = 'Open Sesame 1';
const files = mkdtempSync(path.join(os.tmpdir(), 'auth-basic-parity-'));
afterAll(() => rmSync(files, { recursive: true, force: true }));

const users = `# one user per format\n${HASH_FORMATS.map((f) => `${f}:${hashOf(f, PASSWORD)}`).join('\n')}\nlocked:!\n`;
writeFileSync(path.join(files, 'users'), users);
writeFileSync(
  path.join(files, 'users-odd'),
  [
    '#commented:{PLAIN}pw',
    '',
    '\rcr-first:{PLAIN}pw',
    'dup:{PLAIN}first',
    'dup:{PLAIN}second',
    'crlf:{PLAIN}pw\r',
    'colon:{PLAIN}pw:a comment',
    ' spaced:{PLAIN}pw',
    'nocolon',
    'empty:',
    'unknown:{UNKNOWN}pw',
    'last:{PLAIN}pw',
  ].join('\n'),
);
mkdirSync(path.join(files, 'a-directory'));

const USERS = path.join(files, 'users');
const basic = (credentials: string) => ({ Authorization: `Basic ${Buffer.from(credentials, 'latin1').toString('base64')}` });

const site: ParityCase = {
  title: 'auth_basic',
  site: {
    servers: [
      {
        directives: { root: 'www' },
        locations: [
          loc('/fmt/', { auth_basic: '"Formats"', auth_basic_user_file: USERS }),
          loc('/var/', { auth_basic: '"Zone of $host $arg_z"', auth_basic_user_file: USERS }),
          loc('/quote/', { auth_basic: '"say \\"hi\\""', auth_basic_user_file: USERS }),
          loc('/empty-realm/', { auth_basic: '""', auth_basic_user_file: USERS }),
          loc('/inject/', { auth_basic: '"$uri"', auth_basic_user_file: USERS }),
          loc('/utf8/', { auth_basic: '"Zoné $arg_z"', auth_basic_user_file: USERS }),
          loc('/no-file/', { auth_basic: 'x' }),
          loc('/ru/', { add_header: 'X-Remote-User "[$remote_user]" always' }),
          loc('/fmt-ru/', { auth_basic: 'x', auth_basic_user_file: USERS, add_header: 'X-Remote-User "[$remote_user]" always' }),
          loc('/file/', { auth_basic: 'x', auth_basic_user_file: `${files}/$arg_f` }),
          loc('/allow/', { allow: '127.0.0.1', deny: 'all', auth_basic: 'x', auth_basic_user_file: USERS }),
          loc('/deny/', { deny: 'all', auth_basic: 'x', auth_basic_user_file: USERS }),
          loc('/page/', { auth_basic: 'x', auth_basic_user_file: USERS, error_page: '401 /open/401.html' }),
          loc('/page200/', { auth_basic: 'x', auth_basic_user_file: USERS, error_page: '401 =200 /open/401.html' }),
          loc('/page-named/', { auth_basic: 'x', auth_basic_user_file: USERS, error_page: '401 @denied' }),
          loc('@denied', { return: "401 'named page'" }),
          loc('/page-into-auth/', { auth_basic: 'x', auth_basic_user_file: USERS, error_page: '401 /fmt/a.txt' }),
          loc('/open/'),
          loc('= /return', { auth_basic: 'x', auth_basic_user_file: USERS, return: "200 'returned'" }),
        ],
      },
      {
        listen: ['1'],
        directives: { root: 'www', auth_basic: '"Server"', auth_basic_user_file: USERS },
        locations: [loc('/inherits/'), loc('/off/', { auth_basic: 'off' }), loc('/own-realm/', { auth_basic: 'Own' })],
      },
    ],
  },
  files: {
    ...Object.fromEntries(
      ['fmt', 'var', 'quote', 'empty-realm', 'utf8', 'no-file', 'ru', 'fmt-ru', 'file', 'allow', 'deny', 'page', 'inherits', 'off', 'own-realm'].map((d) => [`www/${d}/a.txt`, `${d}\n`]),
    ),
    'www/open/401.html': '<p>custom 401</p>\n',
  },
  requests: [
    ...HASH_FORMATS.map((f): ParityRequest => ({ name: `${f}: the right password`, target: '/fmt/a.txt', headers: basic(`${f}:${PASSWORD}`) })),
    ...HASH_FORMATS.map((f): ParityRequest => ({ name: `${f}: a wrong password`, target: '/fmt/a.txt', headers: basic(`${f}:${PASSWORD}x`) })),
    { name: 'a locked entry (!)', target: '/fmt/a.txt', headers: basic(`locked:${PASSWORD}`) },
    { name: 'an unknown user', target: '/fmt/a.txt', headers: basic(`nobody:${PASSWORD}`) },
    { name: 'no Authorization header', target: '/fmt/a.txt' },
    { name: 'a file that does not exist: still 401 without credentials', target: '/fmt/missing' },
    { name: 'the right password, a file that does not exist: 404', target: '/fmt/missing', headers: basic(`plain:${PASSWORD}`) },
    { name: 'HEAD without credentials', target: '/fmt/a.txt', method: 'HEAD' },
    { name: 'a POST with a body, no credentials', target: '/fmt/a.txt', method: 'POST', headers: { 'Content-Length': '5' } },
    { name: 'malformed: not base64', target: '/fmt/a.txt', headers: { Authorization: 'Basic !!!!' } },
    { name: 'malformed: no colon', target: '/fmt/a.txt', headers: basic('plain') },
    { name: 'malformed: an empty user', target: '/fmt/a.txt', headers: basic(`:${PASSWORD}`) },
    { name: 'malformed: another scheme', target: '/fmt/a.txt', headers: { Authorization: 'Bearer abc' } },
    { name: 'malformed: the scheme alone', target: '/fmt/a.txt', headers: { Authorization: 'Basic' } },
    { name: 'malformed: 4n+1 characters', target: '/fmt/a.txt', headers: { Authorization: 'Basic cGxhaW46T3Blb' } },
    { name: 'lower-case scheme, spaces, text after "=": read', target: '/fmt/a.txt', headers: { Authorization: `basic    ${Buffer.from(`plain:${PASSWORD}`).toString('base64')}=tail` } },
    { name: 'two Authorization headers: 400', raw: `GET /fmt/a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YTpi\r\nAuthorization: Basic YTpi\r\nConnection: close\r\n\r\n` },
    { name: 'the realm with variables', target: '/var/a.txt?z=zz', host: 'site.test' },
    { name: 'the realm with quotes, written as they are', target: '/quote/a.txt' },
    { name: 'an empty realm: still on', target: '/empty-realm/a.txt' },
    { name: 'a realm from the URI with CR LF: no header injected', target: '/inject/a%0D%0ASet-Cookie:%20pwned=1', differs: DELIBERATE.realmHeaderInjection },
    { name: 'a realm past ASCII: the configuration\'s UTF-8 bytes (é)', target: '/utf8/a.txt?z=%C3%A9' },
    { name: 'auth_basic without a file: off', target: '/no-file/a.txt' },
    { name: '$remote_user without auth_basic: the header\'s user', target: '/ru/a.txt', headers: basic('someone:anything') },
    { name: '$remote_user of a malformed header: empty', target: '/ru/a.txt', headers: { Authorization: 'Basic !!' } },
    { name: '$remote_user on a 401: the user who failed', target: '/fmt-ru/a.txt', headers: basic('plain:wrong') },
    { name: '$remote_user once authenticated', target: '/fmt-ru/a.txt', headers: basic(`plain:${PASSWORD}`) },
    { name: 'a file named by a variable', target: '/file/a.txt?f=users', headers: basic(`sha:${PASSWORD}`) },
    { name: 'a file that does not exist: 403', target: '/file/a.txt?f=nothing', headers: basic(`sha:${PASSWORD}`) },
    { name: 'a file that does not exist, no credentials: 401 first', target: '/file/a.txt?f=nothing' },
    { name: 'a directory for a file: 500', target: '/file/a.txt?f=a-directory', headers: basic(`sha:${PASSWORD}`) },
    { name: 'odd file: a commented user', target: '/file/a.txt?f=users-odd', headers: basic('#commented:pw') },
    { name: 'odd file: a line starting with CR', target: '/file/a.txt?f=users-odd', headers: basic('\rcr-first:pw') },
    { name: 'odd file: the first line of a user wins', target: '/file/a.txt?f=users-odd', headers: basic('dup:first') },
    { name: 'odd file: a second line is never read', target: '/file/a.txt?f=users-odd', headers: basic('dup:second') },
    { name: 'odd file: a CRLF line', target: '/file/a.txt?f=users-odd', headers: basic('crlf:pw') },
    { name: 'odd file: user:hash:comment', target: '/file/a.txt?f=users-odd', headers: basic('colon:pw') },
    { name: 'odd file: a user with a leading space', target: '/file/a.txt?f=users-odd', headers: basic(' spaced:pw') },
    { name: 'odd file: a line without a colon', target: '/file/a.txt?f=users-odd', headers: basic('nocolon:pw') },
    { name: 'odd file: an empty hash', target: '/file/a.txt?f=users-odd', headers: basic('empty:') },
    { name: 'odd file: an unknown scheme', target: '/file/a.txt?f=users-odd', headers: basic('unknown:pw') },
    { name: 'odd file: the last line, no newline', target: '/file/a.txt?f=users-odd', headers: basic('last:pw') },
    { name: 'allow matches, no credentials: satisfy all wants both', target: '/allow/a.txt' },
    { name: 'allow matches, the right password', target: '/allow/a.txt', headers: basic(`md5:${PASSWORD}`) },
    { name: 'deny all runs first: 403 even with the right password', target: '/deny/a.txt', headers: basic(`md5:${PASSWORD}`) },
    { name: 'error_page 401 to an open page', target: '/page/a.txt' },
    { name: 'error_page 401 =200', target: '/page200/a.txt' },
    { name: 'error_page 401 to a named location', target: '/page-named/a.txt' },
    { name: 'error_page 401 into a location with auth_basic', target: '/page-into-auth/a.txt' },
    { name: 'return runs before access: 200', target: '/return' },
    { name: 'the server\'s auth_basic, inherited', target: '/inherits/a.txt', slot: 1 },
    { name: 'the server\'s auth_basic, the right password', target: '/inherits/a.txt', slot: 1, headers: basic(`sha512:${PASSWORD}`) },
    { name: 'auth_basic off in a nested location', target: '/off/a.txt', slot: 1 },
    { name: 'a location\'s own realm, the server\'s file', target: '/own-realm/a.txt', slot: 1 },
    { name: 'a URI no location matches: the server\'s auth_basic', target: '/nowhere', slot: 1 },
  ],
};

defineParityCases([site]);
