/**
 * The configure side of the handler contract: what a handler module's `configure` gets (its
 * location, helpers to read its own keys and report errors at their line), and what the
 * configuration needs of a handler module. `src/types.ts` re-exports these for authors.
 */
import type { Template } from '../http/variables';
import type { LocationConf } from './model';

/** Helps a handler's `configure` read its own keys and report errors at their line. */
export interface ConfigContext {
  /**
   * The location being configured: its match, name and position, and each module's conf
   * merged from the blocks above (`location.confs.get(module)`).
   */
  readonly location: Omit<LocationConf, 'handlerOptions'>;
  /** The prefix (`-p`) that relative paths resolve against. */
  readonly prefix: string;
  /** Where bare handler and script names are looked up (`handlers_dir`, default `handlers/`). */
  readonly handlersDir: string;
  /** Named captures of the configuration's regexes (they are variables too). */
  readonly captureNames: ReadonlySet<string>;
  /** Throws a ConfigError pointing at `key` (or at the location when no key is given). */
  error(reason: string, key?: string): never;
  /** The key as a time in milliseconds (`unit`: what a bare number means, default seconds). */
  time(key: string, unit?: 's' | 'ms'): number | undefined;
  /** The key as a size in bytes. */
  size(key: string): number | undefined;
  /** The key as on/off. */
  flag(key: string): boolean | undefined;
  /** The key as a string. */
  string(key: string): string | undefined;
  /** The key as an integer. */
  integer(key: string): number | undefined;
  /** Resolves a path against the prefix. */
  resolve(path: string): string;
  /**
   * Compiles `text` with nginx's variables (`$host`, `$arg_id`, `$1`...) once, at load; an
   * unknown variable is an error at `key`. A request evaluates it with `ctx.evaluate`.
   */
  compile(text: string, key?: string): Template;
}

/** What the configuration needs of a handler module: its `configure`. */
export interface Configurable {
  configure(raw: Readonly<Record<string, unknown>>, cx: ConfigContext): unknown;
}
