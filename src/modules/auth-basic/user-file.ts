/**
 * auth_basic's password files: read and parsed as nginx reads them, kept in memory, and read
 * again when they change. nginx opens and scans the file on every request; here a file is
 * looked at (one `stat`) at most once a second per worker and read again only when its inode,
 * size or modification time changed, so a change is seen within a second and a request costs
 * a map lookup. A file that is gone or unreadable is nginx's answer for it (403 when it does
 * not exist, 500 otherwise) with nginx's log line, at the first look after it went: never the
 * users it had.
 *
 * The lines, as nginx scans them: a line starting with `#` or CR is a comment, an empty line
 * is skipped; `user:hash[:anything]`, the hash ending at CR, `:` or the end of the line (and at
 * a NUL byte, as nginx's C strings); the first line for a user wins; bytes are kept as latin1.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { describeSystemError } from '../../shared/system-errors';
import { unusableHash } from './passwords';

/** One version of a password file. */
export interface UserFileSnapshot {
  /** The hash stored for each user. */
  readonly users: ReadonlyMap<string, string>;
  /** Inode, size and modification time: a change of any is a new version. */
  readonly version: string;
  /** Successful checks of an expensive hash: a keyed digest of (user, password, hash) -> when it expires (ms). */
  readonly verified: Map<string, number>;
}

/** What a request gets when the file cannot be used: nginx's status, log level and line. */
export interface UserFileFailure {
  readonly status: 403 | 500;
  readonly level: 'error' | 'crit';
  readonly message: string;
}

/** How long a file is trusted before it is looked at again. */
export const RECHECK_MS = 1000;
/** How long a successful check of an expensive hash is remembered for its file version. */
export const VERIFIED_TTL_MS = 30_000;
const MAX_VERIFIED = 1024;
const MAX_FILES = 128;

const versionOf = (s: Stats) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;

/** The users of a file's text (latin1), nginx's way. */
export function parseUsers(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line[0] === '#' || line[0] === '\r') continue;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const user = line.slice(0, colon);
    if (users.has(user)) continue;
    const hash = /^[^\r:\0]*/.exec(line.slice(colon + 1))![0];
    users.set(user, hash);
  }
  return users;
}

/**
 * What is wrong with a file's text for `gateway -t` (nginx would skip such a line, or never
 * match it, without a word): a line with no `user:`, or a hash no scheme reads. Null when sound.
 */
export function malformedLine(text: string): string | null {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '' || line === '\r' || line[0] === '#' || line[0] === '\r') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return `line ${i + 1} is not "user:password"`;
    const hash = /^[^\r:\0]*/.exec(line.slice(colon + 1))![0];
    const why = unusableHash(hash);
    if (why) return `line ${i + 1} has ${why}`;
  }
  return null;
}

const snapshotOf = (text: string, s: Stats): UserFileSnapshot => ({ users: parseUsers(text), version: versionOf(s), verified: new Map() });

/** The largest password file read (some 500,000 bcrypt users): past it, 500 rather than a worker's memory. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Why a file is not read at all, or null: a directory (nginx's `pread()` error), something that is
 * not a regular file (a FIFO or `/dev/zero` would hold the read forever; nginx's worker hangs on
 * them), or a file over MAX_FILE_BYTES.
 */
function unreadable(file: string, s: Stats): UserFileFailure | null {
  if (s.isDirectory()) return failureOf(file, Object.assign(new Error('EISDIR'), { code: 'EISDIR' }), 'pread');
  if (!s.isFile()) return { status: 500, level: 'crit', message: `"${file}" is not a regular file` };
  if (s.size > MAX_FILE_BYTES) return { status: 500, level: 'crit', message: `"${file}" is larger than ${MAX_FILE_BYTES} bytes` };
  return null;
}

/** nginx's answer for a file it cannot open or read. */
function failureOf(file: string, err: NodeJS.ErrnoException, call: 'open' | 'pread'): UserFileFailure {
  const missing = err.code === 'ENOENT' && call === 'open';
  return { status: missing ? 403 : 500, level: missing ? 'error' : 'crit', message: `${call}() "${file}" failed (${describeSystemError(err)})` };
}

/**
 * Reads a file at load (`gateway -t`, a worker's start): its snapshot, or throws a one-line
 * reason (nginx's `open() "..." failed (2: No such file or directory)`, or a malformed line).
 */
export function loadUserFile(file: string): UserFileSnapshot {
  let s: Stats;
  let text: string;
  try {
    s = statSync(file);
  } catch (err) {
    throw new Error(failureOf(file, err as NodeJS.ErrnoException, 'open').message);
  }
  const refused = unreadable(file, s);
  if (refused) throw new Error(refused.message);
  try {
    text = readFileSync(file).toString('latin1');
  } catch (err) {
    throw new Error(failureOf(file, err as NodeJS.ErrnoException, 'open').message);
  }
  const malformed = malformedLine(text);
  if (malformed) throw new Error(`malformed password file "${file}": ${malformed}`);
  return snapshotOf(text, s);
}

interface Watched {
  current: UserFileSnapshot | UserFileFailure;
  checkedAt: number;
  pending: Promise<UserFileSnapshot | UserFileFailure> | null;
}

/** The password files of this process, by absolute path. */
export class UserFiles {
  private readonly files = new Map<string, Watched>();
  private readonly key = randomBytes(32);

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Starts from what was read at load, so a first request reads nothing. */
  seed(file: string, snapshot: UserFileSnapshot): void {
    if (!this.files.has(file)) this.remember(file, { current: snapshot, checkedAt: this.now(), pending: null });
  }

  /** The file's current version, or why it cannot be used; a promise only when it must be looked at. */
  get(file: string): UserFileSnapshot | UserFileFailure | Promise<UserFileSnapshot | UserFileFailure> {
    const watched = this.files.get(file);
    if (watched && this.now() - watched.checkedAt < RECHECK_MS) return watched.current;
    if (watched?.pending) return watched.pending;
    const entry: Watched = watched ?? { current: { status: 500, level: 'crit', message: '' }, checkedAt: -Infinity, pending: null };
    if (!watched) this.remember(file, entry);
    entry.pending = this.refresh(file, entry.current).then((current) => {
      entry.current = current;
      entry.checkedAt = this.now();
      entry.pending = null;
      return current;
    });
    return entry.pending;
  }

  private async refresh(file: string, previous: UserFileSnapshot | UserFileFailure): Promise<UserFileSnapshot | UserFileFailure> {
    let s: Stats;
    try {
      s = await stat(file);
    } catch (err) {
      return failureOf(file, err as NodeJS.ErrnoException, 'open');
    }
    if ('users' in previous && previous.version === versionOf(s)) return previous;
    const refused = unreadable(file, s);
    if (refused) return refused;
    try {
      return snapshotOf((await readFile(file)).toString('latin1'), s);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return failureOf(file, e, e.code === 'ENOENT' || e.code === 'EACCES' ? 'open' : 'pread');
    }
  }

  /** Keeps at most MAX_FILES files (paths with variables may name many): the oldest goes first. */
  private remember(file: string, entry: Watched): void {
    if (this.files.size >= MAX_FILES) this.files.delete(this.files.keys().next().value!);
    this.files.set(file, entry);
  }

  /** The key under which a successful check of (user, password, hash) is remembered. */
  verifiedKey(user: string, password: string, hash: string): string {
    return createHmac('sha256', this.key).update(`${user}\0${password}\0${hash}`, 'latin1').digest('base64');
  }

  /** Whether (user, password) was checked successfully against this version lately. */
  wasVerified(snapshot: UserFileSnapshot, key: string): boolean {
    const until = snapshot.verified.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    snapshot.verified.delete(key);
    return false;
  }

  /** Remembers a successful check for VERIFIED_TTL_MS. */
  markVerified(snapshot: UserFileSnapshot, key: string): void {
    if (snapshot.verified.size >= MAX_VERIFIED) snapshot.verified.delete(snapshot.verified.keys().next().value!);
    snapshot.verified.set(key, this.now() + VERIFIED_TTL_MS);
  }
}
