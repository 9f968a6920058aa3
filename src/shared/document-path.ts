/**
 * Pure mapping of a request URI to a file path, nginx's `ngx_http_map_uri_to_path`: `root`
 * plus the URI, or with `alias` the location's prefix replaced by the alias; in a regex
 * location the alias (with its `$1`... captures) is the whole path. Both values are compiled
 * once, at load, into templates whose variables are compiled too: a request only evaluates them.
 */
import type { LocationMatch } from '../config/values';
import { compileValue, type Template } from '../http/variables';

/** One piece of a compiled `root` or `alias` value: literal text, or a variable and its compiled value. */
export type TemplatePart = { readonly text: string } | { readonly variable: string; readonly value: Template };

/** A `root` or `alias` value, compiled once. */
export interface PathTemplate {
  readonly parts: readonly TemplatePart[];
  /** The value itself when it has no variables, else null. */
  readonly literal: string | null;
  /** The literal head up to its last slash (`/data/$1` -> `/data/`); `''` if it starts with a variable. */
  readonly head: string;
}

/** What the static handler precomputes per location: its path templates. */
export interface StaticPaths {
  readonly root: PathTemplate;
  readonly alias: PathTemplate | null;
  /**
   * How many leading URI characters the alias replaces (the location prefix's length), or
   * `'whole'` in a regex location, where the alias is the whole path.
   */
  readonly aliasReplaces: number | 'whole';
}

/** A mapped path and the directory it must not leave. */
export interface MappedPath {
  readonly path: string;
  readonly base: string;
}

/** What evaluates a compiled variable for one request (the request's context). */
export interface Evaluator {
  evaluate(template: Template): string;
}

const VARIABLE = /\$(?:\{([A-Za-z0-9_]+)\}|([0-9])|([A-Za-z_][A-Za-z0-9_]*))/g;

/**
 * Compiles a `root`/`alias` value: `$1`, `${1}`, `$name` and `${name}` are variables (named
 * captures among `captureNames`); throws on a variable nginx does not know. `resolve` makes a
 * relative literal head absolute (against the prefix).
 */
export function compilePathTemplate(value: string, resolve: (p: string) => string = (p) => p, captureNames?: ReadonlySet<string>): PathTemplate {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const m of value.matchAll(VARIABLE)) {
    if (m.index > last) parts.push({ text: value.slice(last, m.index) });
    const variable = m[1] ?? m[2] ?? m[3];
    parts.push({ variable, value: compileValue(`\${${variable}}`, captureNames) });
    last = m.index + m[0].length;
  }
  if (last < value.length) parts.push({ text: value.slice(last) });
  const first = parts[0];
  if (first && 'text' in first && !first.text.startsWith('/')) {
    // Keep a trailing slash: `alias: img/` must stay `.../img/` once resolved.
    const resolved = resolve(first.text);
    const slash = first.text.endsWith('/') && !resolved.endsWith('/') ? '/' : '';
    parts[0] = { text: resolved + slash };
  }
  const head = parts[0] && 'text' in parts[0] ? parts[0].text : '';
  const literal = parts.every((p) => 'text' in p) ? head : null;
  return { parts, literal, head: head.slice(0, head.lastIndexOf('/') + 1) };
}

/** Substitutes a template's variables for one request. */
export function expandTemplate(template: PathTemplate, request: Evaluator): string {
  if (template.literal !== null) return template.literal;
  let out = '';
  for (const part of template.parts) out += 'text' in part ? part.text : request.evaluate(part.value);
  return out;
}

/** Compiles a location's `root` and `alias` (pure: what `configure` runs at load). */
export function compileStaticPaths(
  root: string,
  alias: string | null,
  match: LocationMatch,
  resolve?: (p: string) => string,
  captureNames?: ReadonlySet<string>,
): StaticPaths {
  let aliasReplaces: number | 'whole' = 0;
  if (alias !== null) {
    if (match.kind === 'regex') aliasReplaces = 'whole';
    else if (match.kind === 'prefix' || match.kind === 'exact') aliasReplaces = match.path.length;
  }
  return {
    root: compilePathTemplate(root, resolve, captureNames),
    alias: alias === null ? null : compilePathTemplate(alias, resolve, captureNames),
    aliasReplaces,
  };
}

/**
 * Maps a URI to its file path, as nginx does: root + uri, or the alias for the location part.
 * The base is the root or alias itself, or, when it holds variables, its literal head: the
 * part no variable or capture can change. `addUriToAlias`: a regex location's alias gets the
 * URI appended, as after try_files found a file there (nginx's `r->add_uri_to_alias`).
 */
export function mapUriToPath(uri: string, paths: StaticPaths, request: Evaluator, addUriToAlias = false): MappedPath {
  const template = paths.alias ?? paths.root;
  const value = expandTemplate(template, request);
  const base = template.literal ?? template.head;
  if (paths.alias === null) return { path: value + uri, base };
  if (paths.aliasReplaces === 'whole') return { path: addUriToAlias ? value + uri : value, base };
  return { path: value + uri.slice(paths.aliasReplaces), base };
}

/**
 * True when `file` stays under `base`: `base` is a leading directory of it (or it is `base`)
 * and the rest has no `..` segment (the kernel resolves `..` after following symlinks, so a
 * lexical `path.resolve` check would not be enough).
 */
export function staysUnder(file: string, base: string): boolean {
  const dir = base === '' || base.endsWith('/') ? base : base + '/';
  if (file === base || file === dir) return true;
  if (!file.startsWith(dir)) return false;
  // Most paths have no `..` at all: no segments to cut.
  if (!file.includes('..', dir.length)) return true;
  return !file.slice(dir.length).split('/').includes('..');
}
