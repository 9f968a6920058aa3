/**
 * The system's crypt(3), as nginx calls it for every password that is not `$apr1$`, `{PLAIN}`,
 * `{SHA}` or `{SSHA}`: libxcrypt's `crypt_rn` (Debian's libcrypt1, which nginx links), so the
 * formats it accepts are exactly nginx's: traditional DES, `$1$`, `$5$`, `$6$`, bcrypt
 * `$2a$`/`$2b$`/`$2y$`, yescrypt `$y$` (Debian's default for passwd and mkpasswd), and the
 * rest libxcrypt knows. Each hash is computed on a thread of libuv's pool (koffi's async call),
 * never on the event loop: a bcrypt of cost 12 takes about 200 ms. At most two run at once per
 * process, so a flood of wrong passwords cannot take every pool thread from file reads.
 */
import { loadKoffi } from '../../shared/native';

/** libxcrypt's `CRYPT_DATA_INTERNAL_SIZE` rounded up: the scratch area `crypt_rn` writes into. */
const DATA_SIZE = 32768;
/** crypt calls running at once in this process. */
const MAX_RUNNING = 2;

interface Bindings {
  cryptRn: { async(phrase: Buffer, setting: Buffer, data: Buffer, size: number, done: (err: unknown, result: string | null) => void): void };
  checkSalt: ((setting: Buffer) => number) | null;
}

let bindings: Bindings | string | undefined;

function load(): Bindings | string {
  if (bindings !== undefined) return bindings;
  const koffi = loadKoffi();
  if (typeof koffi === 'string') return (bindings = koffi);
  for (const file of ['libcrypt.so.1', 'libcrypt.so', null]) {
    try {
      const lib = koffi.load(file);
      const cryptRn = lib.func('const char *crypt_rn(const uint8_t *phrase, const uint8_t *setting, _Out_ uint8_t *data, int size)');
      let checkSalt: Bindings['checkSalt'] = null;
      try {
        checkSalt = lib.func('int crypt_checksalt(const uint8_t *setting)');
      } catch {
        // an older libxcrypt, or another libc's crypt: salts are checked by hashing
      }
      return (bindings = { cryptRn, checkSalt });
    } catch {
      // try the next name
    }
  }
  return (bindings = 'no libcrypt with crypt_rn on this system');
}

/** Why crypt(3) is not available here, or null when it is. */
export function cryptUnavailable(): string | null {
  const b = load();
  return typeof b === 'string' ? b : null;
}

const cString = (latin1: string) => Buffer.from(`${latin1}\0`, 'latin1');

const waiting: (() => void)[] = [];
let running = 0;

function release(): void {
  running--;
  waiting.shift()?.();
}

/**
 * crypt(3) of `password` with `setting` (a stored hash: its method, cost and salt), both latin1
 * strings: the hash, or null when libcrypt refuses the setting (nginx's libcrypt answers such a
 * setting with a failure token that never matches, so nginx logs a password mismatch).
 * Rejects when libcrypt cannot be loaded.
 */
export async function crypt(password: string, setting: string): Promise<string | null> {
  const b = load();
  if (typeof b === 'string') throw new Error(b);
  if (running >= MAX_RUNNING) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  const phrase = cString(password);
  const data = Buffer.alloc(DATA_SIZE);
  try {
    return await new Promise<string | null>((resolve, reject) => {
      b.cryptRn.async(phrase, cString(setting), data, DATA_SIZE, (err, result) => (err ? reject(err) : resolve(result)));
    });
  } finally {
    // The password and its intermediate state leave no copy behind (nginx's explicit memzero).
    phrase.fill(0);
    data.fill(0);
    release();
  }
}

/**
 * Whether libcrypt knows `setting`'s method and can read its parameters (`crypt_checksalt`:
 * OK, or a method it calls legacy or too cheap, which it still computes). Null when it cannot tell.
 */
export function knownSetting(setting: string): boolean | null {
  const b = load();
  if (typeof b === 'string' || b.checkSalt === null) return null;
  const verdict = b.checkSalt(cString(setting));
  // CRYPT_SALT_OK 0, CRYPT_SALT_INVALID 1, CRYPT_SALT_METHOD_DISABLED 2, CRYPT_SALT_METHOD_LEGACY 3, CRYPT_SALT_TOO_CHEAP 4
  return verdict === 0 || verdict === 3 || verdict === 4;
}
