/**
 * The files a configuration is read from (the YAML file, its includes, `types` files), kept as
 * read. The master checks a configuration and hands the very same text to its workers, as
 * nginx's workers inherit what the master parsed: a file edited after the check (and not yet
 * reloaded) never reaches a worker that starts or restarts in the meantime.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** The environment variable that carries a snapshot from the master to a worker. */
export const SOURCES_ENV = 'GATEWAY_CONFIG_SOURCES';

type Snapshot = Record<string, string | string[]>;

/** Reads configuration files and folder listings, from disk or from a snapshot. */
export class ConfigSources {
  private readonly seen: Snapshot = {};

  constructor(private readonly snapshot: Readonly<Snapshot> | null = null) {}

  /** The snapshot a master passed in the environment, or null (read the disk). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): ConfigSources | null {
    const text = env[SOURCES_ENV];
    return text ? new ConfigSources(JSON.parse(text) as Snapshot) : null;
  }

  /** A file's text. Throws as `readFileSync` does when it is absent. */
  readFile(file: string): string {
    const text = this.snapshot ? this.fromSnapshot(`file:${file}`) : readFileSync(file, 'utf8');
    this.seen[`file:${file}`] = text as string;
    return text as string;
  }

  /** A folder's entries (for `include` with `*`). */
  readDir(dir: string): string[] {
    const names = this.snapshot ? (this.fromSnapshot(`dir:${dir}`) as string[]) : readdirSync(dir);
    this.seen[`dir:${dir}`] = names;
    return names;
  }

  /** Everything read so far, for a worker's environment. */
  toEnv(): Record<string, string> {
    return { [SOURCES_ENV]: JSON.stringify(this.seen) };
  }

  private fromSnapshot(key: string): string | string[] {
    const value = this.snapshot![key];
    if (value === undefined) {
      throw Object.assign(new Error(`${key.slice(key.indexOf(':') + 1)} is not in the checked configuration`), { code: 'ENOENT' });
    }
    return value;
  }
}
