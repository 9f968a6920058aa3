/**
 * auth_basic's pure parts: the Authorization header read as nginx reads it, the password file
 * scanned as nginx scans it, every password format (hashes made now by `openssl passwd` and
 * `htpasswd`) checked right and wrong, the constant-time comparison, the file cache's clock
 * (a change seen after a second, a success remembered for its file version only), and the
 * configuration: inheritance, `off`, variables, and `gateway -t`'s one-line errors for a
 * missing or malformed file.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildConfig } from '../src/config/build';
import { parseText } from '../src/config/load';
import { ConfigError } from '../src/errors';
import { basicCredentials } from '../src/http/basic-credentials';
import { compileValue } from '../src/http/variables';
import { authBasicModule } from '../src/modules/auth-basic/module';
import { sameText, schemeOf, unusableHash, verifyPassword } from '../src/modules/auth-basic/passwords';
import { loadUserFile, malformedLine, MAX_FILE_BYTES, parseUsers, RECHECK_MS, UserFiles, VERIFIED_TTL_MS } from '../src/modules/auth-basic/user-file';
import { REGISTRY } from '../src/modules/registry';
import { HASH_FORMATS, hashOf } from './helpers/password-hashes';

const b64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');

describe('the Authorization header, as ngx_http_auth_basic_user reads it', () => {
  test.each([
    ['Basic ' + b64('alice:secret'), { user: 'alice', password: 'secret' }],
    ['basic ' + b64('alice:secret'), { user: 'alice', password: 'secret' }],
    ['BASIC    ' + b64('alice:secret'), { user: 'alice', password: 'secret' }],
    ['Basic ' + b64('alice:se:cret'), { user: 'alice', password: 'se:cret' }],
    ['Basic ' + b64('alice:'), { user: 'alice', password: '' }],
    ['Basic ' + b64('alice:pa\0ss'), { user: 'alice', password: 'pa' }],
    ['Basic ' + b64('\xe9l\xe8ve:\xff'), { user: '\xe9l\xe8ve', password: '\xff' }],
    // What follows the first "=" is not read.
    ['Basic ' + b64('alice:secret1') + '=garbage!', { user: 'alice', password: 'secret1' }],
    // No padding is needed.
    ['Basic ' + b64('alice:secret1').replace(/=+$/, ''), { user: 'alice', password: 'secret1' }],
  ])('%s', (header, expected) => {
    expect(basicCredentials(header)).toEqual(expected);
  });

  test.each([
    [undefined],
    [''],
    ['Basic'],
    ['Basic '],
    ['Basic      '],
    ['Bearer ' + b64('alice:secret')],
    ['Basic\t' + b64('alice:secret')],
    ['Basicx' + b64('alice:secret')],
    ['Basic ' + b64('alicesecret')],
    ['Basic ' + b64(':secret')],
    ['Basic ' + b64('alice:secret') + '!'],
    ['Basic YWxpY2U6c2VjcmV0M'], // 4n+1 characters
    ['Basic YWxp Y2U6c2VjcmV0'],
  ])('%s: no credentials', (header) => {
    expect(basicCredentials(header)).toBeNull();
  });
});

describe('the password file, as nginx scans it', () => {
  test('comments, empty lines, CR lines, the first line of a user, the hash up to CR, ":" or NUL', () => {
    const users = parseUsers(
      ['# alice:{PLAIN}comment', '', '\r', '\rbob:{PLAIN}cr-line', 'alice:{PLAIN}one\r', 'alice:{PLAIN}two', 'carol:{PLAIN}x:comment', 'dave', ' erin:{PLAIN}e', 'fred:{PLAIN}a\0b', 'gina:'].join('\n'),
    );
    expect([...users]).toEqual([
      ['alice', '{PLAIN}one'],
      ['carol', '{PLAIN}x'],
      [' erin', '{PLAIN}e'],
      ['fred', '{PLAIN}a'],
      ['gina', ''],
    ]);
  });

  test('malformed for gateway -t: a line with no "user:", an empty or unreadable hash; locked entries pass', () => {
    expect(malformedLine('# c\n\nalice:{PLAIN}x\r\nbob:!\ncarol:*\n')).toBeNull();
    expect(malformedLine('alice:{PLAIN}x\nbob\n')).toBe('line 2 is not "user:password"');
    expect(malformedLine(':{PLAIN}x\n')).toBe('line 1 is not "user:password"');
    expect(malformedLine('alice:\n')).toBe('line 1 has an empty password hash');
    expect(malformedLine('alice:$9$nothing\n')).toBe('line 1 has a password hash in no format nginx or crypt(3) reads');
    expect(unusableHash('$6$salt$x')).toBeNull();
  });
});

describe('every password format nginx reads, made by openssl passwd and htpasswd', () => {
  test.each(HASH_FORMATS.map((f) => [f]))('%s: the right password matches, a wrong one does not', async (format) => {
    const hash = hashOf(format, 'correct horse');
    expect(await verifyPassword('correct horse', hash)).toBe(true);
    expect(await verifyPassword('Correct horse', hash)).toBe(false);
    expect(await verifyPassword('correct_horse', hash)).toBe(false);
    expect(await verifyPassword('', hash)).toBe(false);
    if (format === 'des') return; // the first 8 characters only: below
    expect(await verifyPassword('correct hors', hash)).toBe(false);
    expect(await verifyPassword('correct horse ', hash)).toBe(false);
  });

  test.each(['md5', 'apr1-openssl', 'sha256', 'sha512', 'ssha'] as const)('%s: a password with bytes past ASCII (latin1 and UTF-8)', async (format) => {
    for (const password of ['p\xe4ss\xff', Buffer.from('pässwörd', 'utf8').toString('latin1')]) {
      const hash = hashOf(format, password);
      expect(await verifyPassword(password, hash)).toBe(true);
      expect(await verifyPassword(password.slice(0, -1), hash)).toBe(false);
    }
  });

  test('DES crypt reads the first 8 characters only, as crypt(3)', async () => {
    const hash = hashOf('des', 'abcdefgh');
    expect(await verifyPassword('abcdefghXYZ', hash)).toBe(true);
    expect(await verifyPassword('abcdefg', hash)).toBe(false);
  });

  test('the scheme is picked by a case-sensitive prefix, as ngx_crypt', () => {
    expect(schemeOf('$apr1$x$y')).toBe('apr1');
    expect(schemeOf('{PLAIN}x')).toBe('plain');
    expect(schemeOf('{plain}x')).toBe('crypt');
    expect(schemeOf('{SSHA}x')).toBe('ssha');
    expect(schemeOf('{SHA}x')).toBe('sha');
    expect(schemeOf('$2y$05$x')).toBe('crypt');
  });

  test('an $apr1$ salt is at most 8 characters (nginx): a longer one never matches', async () => {
    const hash = hashOf('apr1-openssl', 'pw');
    const [, , salt, digest] = hash.split('$');
    expect(await verifyPassword('pw', `$apr1$${salt}x$${digest}`)).toBe(false);
  });

  test('{SSHA} that does not decode is a digest without salt; a locked or unknown hash never matches', async () => {
    expect(await verifyPassword('pw', '{SSHA}!!!')).toBe(false);
    expect(await verifyPassword('pw', '!')).toBe(false);
    expect(await verifyPassword('pw', '*')).toBe(false);
    expect(await verifyPassword('pw', '')).toBe(false);
    expect(await verifyPassword('pw', '{UNKNOWN}pw')).toBe(false);
    expect(await verifyPassword('pw', '{PLAIN}pw')).toBe(true);
  });

  test('the comparison', () => {
    expect(sameText('abc', 'abc')).toBe(true);
    expect(sameText('abc', 'abd')).toBe(false);
    expect(sameText('abc', 'abcd')).toBe(false);
    expect(sameText('', '')).toBe(true);
  });
});

describe('the file cache', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'auth-basic-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('looked at once a second: a change is seen after RECHECK_MS, a removal is a 403 with nginx\'s line', async () => {
    let now = 0;
    const files = new UserFiles(() => now);
    const file = path.join(dir, 'users');
    writeFileSync(file, 'alice:{PLAIN}one\n');
    files.seed(file, loadUserFile(file));
    const first = files.get(file);
    expect('users' in first && first.users.get('alice')).toBe('{PLAIN}one');
    writeFileSync(file, 'alice:{PLAIN}two-longer\n');
    expect(files.get(file)).toBe(first);
    now = RECHECK_MS;
    const second = await files.get(file);
    expect('users' in second && second.users.get('alice')).toBe('{PLAIN}two-longer');
    rmSync(file);
    now = 2 * RECHECK_MS;
    expect(await files.get(file)).toEqual({ status: 403, level: 'error', message: `open() "${file}" failed (2: No such file or directory)` });
    expect(await files.get(path.join(dir))).toEqual({ status: 500, level: 'crit', message: `pread() "${dir}" failed (21: Is a directory)` });
    // nginx's worker would read these forever; here they are refused before any read.
    expect(await files.get('/dev/zero')).toEqual({ status: 500, level: 'crit', message: '"/dev/zero" is not a regular file' });
    const fifo = path.join(dir, 'fifo');
    spawnSync('mkfifo', [fifo]);
    expect(await files.get(fifo)).toEqual({ status: 500, level: 'crit', message: `"${fifo}" is not a regular file` });
    const big = path.join(dir, 'big');
    writeFileSync(big, '');
    truncateSync(big, MAX_FILE_BYTES + 1);
    expect(await files.get(big)).toEqual({ status: 500, level: 'crit', message: `"${big}" is larger than ${MAX_FILE_BYTES} bytes` });
    expect(() => loadUserFile('/dev/zero')).toThrow('"/dev/zero" is not a regular file');
  });

  test('a success is remembered for VERIFIED_TTL_MS and for its file version only', () => {
    let now = 0;
    const files = new UserFiles(() => now);
    const file = path.join(dir, 'users');
    writeFileSync(file, 'alice:{PLAIN}one\n');
    const snapshot = loadUserFile(file);
    const key = files.verifiedKey('alice', 'one', '{PLAIN}one');
    expect(key).not.toContain('one');
    expect(files.wasVerified(snapshot, key)).toBe(false);
    files.markVerified(snapshot, key);
    expect(files.wasVerified(snapshot, key)).toBe(true);
    expect(files.wasVerified(loadUserFile(file), key)).toBe(false);
    now = VERIFIED_TTL_MS + 1;
    expect(files.wasVerified(snapshot, key)).toBe(false);
  });
});

describe('configuration', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'auth-basic-conf-'));
    writeFileSync(path.join(dir, 'users'), 'alice:{PLAIN}a\n');
    writeFileSync(path.join(dir, 'bad-users'), 'alice:{PLAIN}a\nbob\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const build = (yaml: string) => {
    const file = path.join(dir, 'site.yaml');
    return buildConfig(parseText(yaml, file), file, dir, REGISTRY);
  };
  const errorOf = (yaml: string) => {
    try {
      build(yaml);
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    return 'no error';
  };
  const site = (server: string, location = '') => `
http:
  servers:
    - listen: 127.0.0.1:0
${server}
      locations:
        - location: /
${location}
        - location: /other/
`;

  test('each directive inherits on its own; a relative file is taken against the configuration file\'s directory', () => {
    const conf = build(site('      auth_basic: Server\n', '          auth_basic_user_file: users\n'));
    const [root, other] = conf.http.servers[0].locations.map((l) => l.confs.get(authBasicModule));
    expect(root.authBasic!.constant).toBe('Server');
    expect(root.authBasicUserFile!.constantPath).toBe(path.join(dir, 'users'));
    expect(root.authBasicUserFile!.loaded!.users.get('alice')).toBe('{PLAIN}a');
    expect(other.authBasic!.constant).toBe('Server');
    expect(other.authBasicUserFile).toBeNull();
  });

  test('off, and YAML\'s false, are the realm "off"; variables compile', () => {
    const conf = build(site(`      auth_basic_user_file: users\n      auth_basic: "'Zone $host'"\n`, '          auth_basic: off\n'));
    const [root, other] = conf.http.servers[0].locations.map((l) => l.confs.get(authBasicModule));
    expect(root.authBasic!.constant).toBe('off');
    expect(other.authBasic!.constant).toBeNull();
  });

  test('a file path with variables is not read at load', () => {
    const conf = build(site('      auth_basic: x\n      auth_basic_user_file: "users-$host"\n'));
    const c = conf.http.servers[0].locations[0].confs.get(authBasicModule);
    expect(c.authBasicUserFile!.loaded).toBeNull();
    expect(c.authBasicUserFile!.template).toEqual(expect.any(Function));
    expect(compileValue('users-$host').constant).toBeNull();
  });

  test.each([
    ['a missing file', '      auth_basic: x\n      auth_basic_user_file: missing\n', `open() "${'DIR'}/missing" failed (2: No such file or directory)`, '6:29'],
    ['a malformed file', '      auth_basic: x\n      auth_basic_user_file: bad-users\n', `malformed password file "DIR/bad-users": line 2 is not "user:password"`, '6:29'],
    ['a directory', '      auth_basic: x\n      auth_basic_user_file: .\n', `pread() "DIR" failed (21: Is a directory)`, '6:29'],
    ['an unknown variable in the realm', '      auth_basic: $nope\n', 'unknown "nope" variable', '5:19'],
    ['two arguments', '      auth_basic: a b\n', 'invalid number of arguments in "auth_basic" directive', '5:19'],
  ])('%s: one line with file:line:column', (_name, server, reason, at) => {
    expect(errorOf(site(server))).toBe(`${reason.replace('DIR', dir)} in ${path.join(dir, 'site.yaml')}:${at}`);
  });
});
