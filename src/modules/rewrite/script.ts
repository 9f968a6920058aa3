/**
 * The rewrite module's compiled directives (nginx's `rlcf->codes`): one list per block, in the
 * order written, `if` blocks holding theirs. Made once at load; `run.ts` runs them per request.
 */
import type { MapNode } from '../../config/load';
import type { Position } from '../../errors';
import type { Template } from '../../http/variables';
import type { ReplacementPart } from './replacement';

/** `rewrite REGEX REPLACEMENT [last|break|redirect|permanent]`. */
export interface RewriteOp {
  readonly kind: 'rewrite';
  readonly regex: RegExp;
  /** The regex as written (rewrite_log lines). */
  readonly source: string;
  /** The new URI (the replacement up to its first literal `?`), or the whole URL of a redirect. */
  readonly uri: ReplacementPart;
  /** The new arguments (after the literal `?`), or null when the replacement has none. */
  readonly args: ReplacementPart | null;
  /** 301 or 302 for a redirect, else 0. */
  readonly redirect: 0 | 301 | 302;
  /** `last` (or a redirect): the module's directives stop; `break`: they stop and the location stays. */
  readonly flag: 'last' | 'break' | null;
  /** Whether the request's arguments are appended (the replacement does not end with `?`). */
  readonly addArgs: boolean;
  /** Whether the replacement's literal text holds a `?` (a redirect then joins the arguments with `&`). */
  readonly hasQuery: boolean;
}

/** `return CODE [TEXT|URL]`, `return URL`. */
export interface ReturnOp {
  readonly kind: 'return';
  readonly status: number;
  /** As written (`gateway -T`, `handler: return`). */
  readonly text: string | null;
  readonly template: Template | null;
}

/** `set $name value`. */
export interface SetOp {
  readonly kind: 'set';
  readonly name: string;
  readonly value: Template;
}

/** `break`. */
export interface BreakOp {
  readonly kind: 'break';
}

/** A file test of `if`: `-f`, `-d`, `-e`, `-x` and their negations. */
export type FileTest = 'f' | 'd' | 'e' | 'x';

/** An `if` condition, compiled. */
export type Condition =
  | { readonly kind: 'variable'; readonly value: Template }
  | { readonly kind: 'equal'; readonly negative: boolean; readonly left: Template; readonly right: Template }
  | { readonly kind: 'match'; readonly negative: boolean; readonly left: Template; readonly regex: RegExp; readonly source: string }
  | { readonly kind: 'file'; readonly negative: boolean; readonly test: FileTest; readonly path: Template };

/** A directive inside `if` other than the rewrite module's. */
export interface ForeignEntry {
  readonly key: string;
  readonly position: Position;
}

/** `if (CONDITION) { ... }`. */
export interface IfOp {
  readonly kind: 'if';
  readonly condition: Condition;
  /** The condition as written. */
  readonly text: string;
  readonly body: readonly Op[];
  /** Other directives written inside: in a location, those nginx allows there make the `if` a location of its own; elsewhere refused. */
  readonly foreign: readonly ForeignEntry[];
  /** The block as written, when it has other directives: the builder makes a location of it (`LocationConf.inner`, keyed by this op). */
  readonly block: MapNode | null;
}

/** One compiled directive of the rewrite module. */
export type Op = RewriteOp | ReturnOp | SetOp | BreakOp | IfOp;

/**
 * Whether `ops` answer every request they run for: a `return` outside any `if` (a location
 * that has one takes no upgrade, as nginx's). One inside an `if`, or a redirecting `rewrite`,
 * answers some requests only: an upgrade is then routed through them and served as HTTP when
 * they do answer.
 */
export function answersAlways(ops: readonly Op[]): boolean {
  return ops.some((op) => op.kind === 'return');
}

/** The first `return` written at the top of `ops` (what `handler: return` serves). */
export function firstReturn(ops: readonly Op[] | null): ReturnOp | null {
  return (ops?.find((op) => op.kind === 'return') as ReturnOp | undefined) ?? null;
}
