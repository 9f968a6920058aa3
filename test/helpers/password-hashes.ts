/**
 * Password hashes in every format auth_basic reads, made at test time by the tools users make
 * them with: `openssl passwd` (`-1`, `-apr1`, `-5`, `-6`), `htpasswd` from apache2-utils (`-B`
 * bcrypt `$2y$`, `-d` DES crypt, `-m` `$apr1$`, `-s` `{SHA}`) and `openssl dgst` for `{SSHA}`
 * (base64 of SHA-1(password salt) then the salt, as slappasswd writes it), `mkpasswd` (whois) for
 * yescrypt `$y$`, Debian's default. `$2a$` and `$2b$` are htpasswd's `$2y$` with the other prefix
 * (the same computation). Throws when a tool is missing:
 * scripts/install-system-deps.sh installs them.
 */
import { spawnSync } from 'node:child_process';

function run(command: string, args: string[], input?: Buffer): Buffer {
  const out = spawnSync(command, args, { input });
  if (out.error || out.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${out.error?.message ?? out.stderr.toString()}`);
  return out.stdout;
}

const line = (b: Buffer) => b.toString('latin1').trim();
/** htpasswd -nb... prints `user:hash`. */
const htpasswd = (flags: string[], password: string) => line(run('htpasswd', ['-n', '-b', ...flags, 'u', password])).slice(2);

/** One format: its name and the hash of a password in it. */
export type HashFormat = 'plain' | 'sha' | 'ssha' | 'md5' | 'apr1-openssl' | 'apr1-htpasswd' | 'sha256' | 'sha512' | 'des' | 'bcrypt-2y' | 'bcrypt-2a' | 'bcrypt-2b' | 'yescrypt';

/** The hash of `password` in `format`, made by the tools. */
export function hashOf(format: HashFormat, password: string): string {
  switch (format) {
    case 'plain':
      return `{PLAIN}${password}`;
    case 'sha':
      return htpasswd(['-s'], password);
    case 'ssha': {
      const salt = Buffer.from('s4lt!x');
      const digest = run('openssl', ['dgst', '-sha1', '-binary'], Buffer.concat([Buffer.from(password, 'latin1'), salt]));
      return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
    }
    case 'md5':
      return line(run('openssl', ['passwd', '-1', '-stdin'], Buffer.from(password, 'latin1')));
    case 'apr1-openssl':
      return line(run('openssl', ['passwd', '-apr1', '-stdin'], Buffer.from(password, 'latin1')));
    case 'apr1-htpasswd':
      return htpasswd(['-m'], password);
    case 'sha256':
      return line(run('openssl', ['passwd', '-5', '-stdin'], Buffer.from(password, 'latin1')));
    case 'sha512':
      return line(run('openssl', ['passwd', '-6', '-stdin'], Buffer.from(password, 'latin1')));
    case 'des':
      return htpasswd(['-d'], password);
    case 'bcrypt-2y':
      return htpasswd(['-B', '-C', '5'], password);
    case 'bcrypt-2a':
      return `$2a$${htpasswd(['-B', '-C', '5'], password).slice(4)}`;
    case 'bcrypt-2b':
      return `$2b$${htpasswd(['-B', '-C', '5'], password).slice(4)}`;
    case 'yescrypt':
      return line(run('mkpasswd', ['-m', 'yescrypt', '--stdin'], Buffer.from(password, 'latin1')));
  }
}

/** Every format. */
export const HASH_FORMATS: readonly HashFormat[] = ['plain', 'sha', 'ssha', 'md5', 'apr1-openssl', 'apr1-htpasswd', 'sha256', 'sha512', 'des', 'bcrypt-2y', 'bcrypt-2a', 'bcrypt-2b', 'yescrypt'];
