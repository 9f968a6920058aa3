/**
 * nginx's `try_files` (the core module's try-files phase, before any content handler): each
 * argument but the last names a file under `root` (or `alias`), `name/` a directory; the first
 * that exists becomes `$uri` and the location's handler serves it. Otherwise the last argument
 * decides: `=code` ends the request with that status, `@name` goes to a named location, any
 * other value is an internal redirect to that URI (its `?args` become `$args`).
 */
import type { LocationConf } from '../../config/model';
import { HttpError, InternalRedirect } from '../../errors';
import { FileAccess, fileAccessConf } from '../../shared/file-access';
import { describeSystemError } from '../static/http';
import { compileStaticPaths, expandTemplate, staysUnder, type StaticPaths, type VariableLookup } from '../static/path';
import type { RequestState } from '../../server/request-state';
import { compileValue, type CompiledValue } from '../../http/variables';

/** One file argument: its value, and whether it must be a directory (written with a trailing `/`). */
interface TryEntry {
  readonly value: CompiledValue;
  readonly testDir: boolean;
}

/** A location's `try_files`, compiled once at start. */
export interface CompiledTryFiles {
  readonly entries: readonly TryEntry[];
  readonly fallback: { readonly status: number } | { readonly uri: CompiledValue };
  readonly paths: StaticPaths;
  readonly files: FileAccess;
}

/**
 * Checks `try_files` arguments as nginx does at load: at least two, and a last `=code`
 * must be a number up to 999. Throws nginx's reason.
 */
export function checkTryFiles(args: readonly string[]): void {
  if (args.length < 2) throw new Error('invalid number of arguments in "try_files" directive');
  const last = args[args.length - 1];
  if (last.startsWith('=') && (!/^\d+$/.test(last.slice(1)) || Number(last.slice(1)) > 999)) throw new Error(`invalid code "${last}"`);
}

/**
 * Compiles a location's `try_files` (null without one). Variables compile here, so a request
 * only substitutes them; a trailing slash is dropped from a file argument and makes it a
 * directory test, as nginx does.
 */
export function compileTryFiles(loc: LocationConf, captureNames: ReadonlySet<string>): CompiledTryFiles | null {
  // `return` runs in nginx's rewrite phase, before try_files ever does.
  if (!loc.tryFiles || loc.return !== null) return null;
  const args = loc.tryFiles;
  const entries = args.slice(0, -1).map((arg) => {
    const testDir = arg.endsWith('/');
    return { value: compileValue(testDir ? arg.slice(0, -1) : arg, captureNames), testDir };
  });
  const last = args[args.length - 1];
  const fallback = /^=\d+$/.test(last) ? { status: Number(last.slice(1)) } : { uri: compileValue(last, captureNames) };
  const paths = compileStaticPaths(loc.root, loc.alias, loc.match);
  return { entries, fallback, paths, files: new FileAccess(fileAccessConf(loc)) };
}

const NOT_THERE = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG']);

/**
 * Runs `try_files` for the request: on a hit `state.uri` becomes the file's URI and the
 * caller goes on to the content handler; otherwise this throws the fallback, an
 * `InternalRedirect` or an `HttpError`.
 */
export async function applyTryFiles(tf: CompiledTryFiles, state: RequestState): Promise<void> {
  const lookup: VariableLookup = (name) => (/^\d$/.test(name) ? (state.captures[+name] ?? '') : state.variable(name));
  const template = tf.paths.alias ?? tf.paths.root;
  const root = expandTemplate(template, lookup);
  const base = template.literal ?? template.head;
  const replaces = tf.paths.alias === null ? 0 : tf.paths.aliasReplaces;
  for (const entry of tf.entries) {
    let name = entry.value(state);
    // With an alias, a value built from variables loses the location's prefix (nginx strips it
    // only then: a literal `/prefix/x` is looked for as `alias/prefix/x`).
    if (typeof replaces === 'number' && replaces > 0 && entry.value.constant === null && name.startsWith(state.uri.slice(0, replaces))) {
      name = name.slice(replaces);
    }
    const path = root + name;
    if (!staysUnder(path, base)) continue;
    let isDir: boolean;
    try {
      isDir = (await tf.files.probe(path, lookup)).isDir;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (!NOT_THERE.has(e.code ?? '')) state.log.crit(`${e.syscall === 'openat' ? 'openat()' : 'stat()'} "${path}" failed (${describeSystemError(e)})`);
      continue;
    }
    if (isDir !== entry.testDir) continue;
    if (replaces === 0) state.uri = name;
    else if (replaces === 'whole') {
      if (!entry.testDir) {
        state.uri = name;
        state.aliasTakesUri = true;
      }
    } else state.uri = state.uri.slice(0, replaces) + name;
    return;
  }
  if ('status' in tf.fallback) {
    const status = tf.fallback.status;
    // nginx finalizes a request with a 2xx other than 201/204 by closing it, sending nothing.
    throw new HttpError(status < 300 && status !== 201 && status !== 204 ? 444 : status);
  }
  const target = tf.fallback.uri(state);
  if (target.startsWith('@')) throw new InternalRedirect(target, state.args);
  const q = target.indexOf('?');
  throw new InternalRedirect(q < 0 ? target : target.slice(0, q), q < 0 ? '' : target.slice(q + 1));
}
