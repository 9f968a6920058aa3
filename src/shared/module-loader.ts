/**
 * Loads a user's `.ts` or `.js` module at run time, without a build step: TypeScript goes
 * through tsx's namespaced require hook (the only importer of tsx), JavaScript through Node.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { require as tsxRequire } from 'tsx/cjs/api';

const EXTENSIONS = ['.ts', '.js', '.mts', '.mjs', '.cts', '.cjs'];

/**
 * Finds the module a `handler:` or `script:` value names: a path (relative to the prefix) when
 * it has a slash or an extension, else a bare name looked up in `dir`. Returns null if absent.
 */
export function findModule(name: string, prefix: string, dir: string): string | null {
  const isPath = name.includes('/') || EXTENSIONS.includes(path.extname(name));
  const base = isPath ? path.resolve(prefix, name) : path.join(dir, name);
  const candidates = path.extname(base) ? [base] : EXTENSIONS.map((ext) => base + ext);
  return candidates.find((file) => existsSync(file)) ?? null;
}

/** Loads a module file and returns its default export (or the module itself without one). */
export function loadModule(file: string): unknown {
  const mod = /\.[mc]?ts$/.test(file) ? tsxRequire(file, __filename) : require(file);
  return mod && typeof mod === 'object' && 'default' in mod ? mod.default : mod;
}
