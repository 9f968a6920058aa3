/**
 * Checks a password against the hash an htpasswd line stores, as nginx's ngx_crypt: `$apr1$`
 * (Apache's MD5, through apache-md5), `{PLAIN}`, `{SHA}` (base64 of SHA-1) and `{SSHA}` (SHA-1
 * with the salt that follows the digest) here; anything else is crypt(3) (`libcrypt.ts`: DES,
 * `$1$`, `$5$`, `$6$`, bcrypt, yescrypt...). The computed hash is compared with the stored one
 * in constant time. A stored value no scheme can read never matches, as with nginx's libcrypt.
 * This is the only module that imports apache-md5.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import apacheMd5 from 'apache-md5';
import { crypt, knownSetting } from './libcrypt';

/** Compares two latin1 strings in time that depends on their lengths only. */
export function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  if (x.length !== y.length) {
    timingSafeEqual(y, y);
    return false;
  }
  return timingSafeEqual(x, y);
}

/** nginx's base64 decoder: the alphabet up to the first `=`, never 4n+1 characters long; null otherwise. */
function strictBase64(text: string): Buffer | null {
  const end = text.indexOf('=');
  const encoded = end < 0 ? text : text.slice(0, end);
  if (!/^[A-Za-z0-9+/]*$/.test(encoded) || encoded.length % 4 === 1) return null;
  return Buffer.from(encoded, 'base64');
}

const sha1 = (...parts: Buffer[]) => {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** nginx's `$apr1$`: the salt is at most 8 characters and stops at the first `$`. */
function apr1(password: string, stored: string): string {
  const salt = /^[^$]{0,8}/.exec(stored.slice(6))![0];
  return apacheMd5(password, `$apr1$${salt}$`);
}

/** `{SSHA}`: the salt is what follows the 20 bytes of the digest in the decoded value (none when it does not decode). */
function ssha(password: Buffer, stored: string): string {
  const decoded = strictBase64(stored.slice(6));
  const salt = decoded && decoded.length >= 20 ? decoded.subarray(20) : Buffer.alloc(0);
  return `{SSHA}${Buffer.concat([sha1(password, salt), salt]).toString('base64')}`;
}

/** The scheme nginx picks for a stored value, by its prefix (case-sensitive, as nginx). */
export type Scheme = 'apr1' | 'plain' | 'ssha' | 'sha' | 'crypt';

export function schemeOf(stored: string): Scheme {
  if (stored.startsWith('$apr1$')) return 'apr1';
  if (stored.startsWith('{PLAIN}')) return 'plain';
  if (stored.startsWith('{SSHA}')) return 'ssha';
  if (stored.startsWith('{SHA}')) return 'sha';
  return 'crypt';
}

/** Whether a scheme costs enough that a success is worth remembering (`user-file.ts`). */
export const isExpensive = (scheme: Scheme): boolean => scheme === 'apr1' || scheme === 'crypt';

/**
 * Whether `password` (a latin1 string, up to its first NUL) matches `stored`. Synchronous for
 * nginx's own schemes, a promise for crypt(3), which runs off the event loop. Rejects only when
 * the system has no crypt(3).
 */
export function verifyPassword(password: string, stored: string): boolean | Promise<boolean> {
  const bytes = Buffer.from(password, 'latin1');
  switch (schemeOf(stored)) {
    case 'plain':
      return sameText(`{PLAIN}${password}`, stored);
    case 'sha':
      return sameText(`{SHA}${sha1(bytes).toString('base64')}`, stored);
    case 'ssha':
      return sameText(ssha(bytes, stored), stored);
    case 'apr1':
      return sameText(apr1(password, stored), stored);
    case 'crypt':
      return crypt(password, stored).then((hash) => hash !== null && sameText(hash, stored));
  }
}

/**
 * Why a stored value can never match (for `gateway -t`), or null when some password may: a
 * crypt(3) setting libcrypt does not know. A value starting with `!` or `*` is a locked entry,
 * written so on purpose, and passes.
 */
export function unusableHash(stored: string): string | null {
  if (schemeOf(stored) !== 'crypt' || stored.startsWith('!') || stored.startsWith('*')) return null;
  if (stored === '') return 'an empty password hash';
  return knownSetting(stored) === false ? 'a password hash in no format nginx or crypt(3) reads' : null;
}
