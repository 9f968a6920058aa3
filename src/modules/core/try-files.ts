/**
 * nginx's `try_files` (the core module's try-files phase, before any content handler): each
 * argument but the last names a file under `root` (or `alias`), `name/` a directory; the first
 * that exists becomes `$uri` and the location's handler serves it. Otherwise the last argument
 * decides: `=code` ends the request with that status, `@name` goes to a named location, any
 * other value is an internal redirect to that URI (its `?args` become `$args`).
 */
import { HttpError, InternalRedirect } from '../../errors';
import type { Template } from '../../http/variables';
import { compileStaticPaths, expandTemplate, staysUnder, type StaticPaths } from '../../shared/document-path';
import { FileAccess, fileAccessConf } from '../../shared/file-access';
import { describeSystemError } from '../../shared/system-errors';
import type { CompileEnv, LocationConf, LocationModule, PhaseHandler, RequestContext } from '../../types';
import { coreModule } from './module';

/**
 * Set in `RequestContext.data` when try_files found a file in a regex location with `alias`:
 * the alias gets `$uri` appended (nginx's `r->add_uri_to_alias`), read by the static handler.
 */
export const ADD_URI_TO_ALIAS = Symbol('try_files: add the URI to the alias');

/** One file argument: its value, and whether it must be a directory (written with a trailing `/`). */
interface TryEntry {
  readonly value: Template;
  readonly testDir: boolean;
}

/** A location's `try_files`, compiled once at start. */
export interface CompiledTryFiles {
  readonly entries: readonly TryEntry[];
  readonly fallback: { readonly status: number } | { readonly uri: Template };
  readonly paths: StaticPaths;
  readonly files: FileAccess;
}


/** Compiles a location's `try_files` (null without one). */
function compileTryFiles(args: readonly string[], location: LocationConf, env: CompileEnv): CompiledTryFiles {
  const compile = env.compile;
  // A trailing slash is dropped from a file argument and makes it a directory test, as nginx does.
  const entries = args.slice(0, -1).map((arg) => {
    const testDir = arg.endsWith('/');
    return { value: compile(testDir ? arg.slice(0, -1) : arg), testDir };
  });
  const last = args[args.length - 1];
  const fallback = /^=\d+$/.test(last) ? { status: Number(last.slice(1)) } : { uri: compile(last) };
  const core = location.confs.get(coreModule);
  const paths = compileStaticPaths(core.root, core.alias, location.match, undefined, env.captureNames);
  return { entries, fallback, paths, files: new FileAccess(fileAccessConf(core, env.captureNames)) };
}

const NOT_THERE = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG']);

/**
 * Runs `try_files` for the request: on a hit `$uri` becomes the file's URI and the content
 * handler serves it; otherwise this throws the fallback, an `InternalRedirect` or an `HttpError`.
 */
async function applyTryFiles(tf: CompiledTryFiles, ctx: RequestContext): Promise<void> {
  const template = tf.paths.alias ?? tf.paths.root;
  const root = expandTemplate(template, ctx);
  const base = template.literal ?? template.head;
  const replaces = tf.paths.alias === null ? 0 : tf.paths.aliasReplaces;
  for (const entry of tf.entries) {
    let name = ctx.evaluate(entry.value);
    // With an alias, a value built from variables loses the location's prefix (nginx strips it
    // only then: a literal `/prefix/x` is looked for as `alias/prefix/x`).
    if (typeof replaces === 'number' && replaces > 0 && entry.value.constant === null && name.startsWith(ctx.uri.slice(0, replaces))) {
      name = name.slice(replaces);
    }
    const path = root + name;
    if (!staysUnder(path, base)) continue;
    let isDir: boolean;
    try {
      isDir = (await tf.files.probe(path, ctx)).isDir;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (!NOT_THERE.has(e.code ?? '')) ctx.log.crit(`${e.syscall === 'openat' ? 'openat()' : 'stat()'} "${path}" failed (${describeSystemError(e)})`);
      continue;
    }
    if (isDir !== entry.testDir) continue;
    if (replaces === 0) ctx.setUri(name);
    else if (replaces === 'whole') {
      if (!entry.testDir) {
        ctx.setUri(name);
        ctx.data[ADD_URI_TO_ALIAS] = true;
      }
    } else ctx.setUri(ctx.uri.slice(0, replaces) + name);
    return;
  }
  if ('status' in tf.fallback) {
    const status = tf.fallback.status;
    // nginx finalizes a request with a 2xx other than 201/204 by closing it, sending nothing.
    throw new HttpError(status < 300 && status !== 201 && status !== 204 ? 444 : status);
  }
  const target = ctx.evaluate(tf.fallback.uri);
  if (target.startsWith('@')) throw new InternalRedirect(target, ctx.args);
  const q = target.indexOf('?');
  throw new InternalRedirect(q < 0 ? target : target.slice(0, q), q < 0 ? '' : target.slice(q + 1));
}

/** try_files in the precontent phase, before any content handler. */
export const tryFilesPhase: LocationModule = {
  name: 'try_files',
  phases(location, env): PhaseHandler[] {
    const args = location.confs.get(coreModule).tryFiles;
    if (!args) return [];
    const tf = compileTryFiles(args, location, env);
    return [{ phase: 'precontent', name: `try_files ${args.join(' ')}`, run: (_req, _res, ctx) => applyTryFiles(tf, ctx) }];
  },
};
