/**
 * Runs a block's rewrite directives for one request, as nginx's script engine runs
 * `rlcf->codes`: in order, `if` entering its block when its condition holds, a regex (of
 * `rewrite` or `if`) setting the captures `$1`... of its match (none after a failed one), a
 * `rewrite` changing `$uri` and `$args`, `last`/`break`/a redirect/`return`/`break` ending the
 * run. Pure but for the file tests of `if` (a stat, as nginx's).
 */
import { statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { parseSize } from '../../config/values';
import type { VariableSource } from '../../http/variables';
import { requestLogContext } from '../../shared/log-context';
import { describeSystemError } from '../../shared/system-errors';
import type { RequestContext } from '../../types';
import { evaluatePart, unescapeRedirect } from './replacement';
import type { Condition, FileTest, Op, ReturnOp, RewriteOp } from './script';

/** What the module's directives changed in the request (RequestState has these fields). */
type Writable = RequestContext & {
  args: string;
  captures: readonly string[];
  internal?: boolean;
  /** The request takes the configuration of the location nginx makes of an `if` block (RequestState's). */
  enterInner?(key: object): void;
};

/** How a run ended. */
export type RunOutcome =
  /** Ran through, or stopped by `last`, `break`: `uriChanged` says whether the location must be found again (nginx's `uri_changed`). */
  | { readonly kind: 'done'; readonly uriChanged: boolean }
  /** A `return`: the request is answered with it. */
  | { readonly kind: 'return'; readonly op: ReturnOp }
  /** A redirecting `rewrite`: 301 or 302 to `location`. */
  | { readonly kind: 'redirect'; readonly status: 301 | 302; readonly location: string };

/** What a run needs besides the request. */
export interface RunOptions {
  /** `rewrite_log on`: notice lines for each regex tried and each rewrite. */
  readonly log: boolean;
}

class Run {
  uriChanged = false;
  constructor(
    private readonly req: IncomingMessage,
    private readonly ctx: Writable,
    private readonly options: RunOptions,
  ) {}

  /** Runs `ops`; an outcome other than null ends the whole run. */
  ops(ops: readonly Op[]): RunOutcome | null {
    for (const op of ops) {
      switch (op.kind) {
        case 'set':
          this.set(op.name, this.ctx.evaluate(op.value));
          break;
        case 'break':
          if (this.uriChanged) this.ctx.rewrittenInPlace = true;
          this.uriChanged = false;
          return { kind: 'done', uriChanged: false };
        case 'return':
          return { kind: 'return', op };
        case 'if':
          if (this.holds(op.condition)) {
            if (op.block) this.ctx.enterInner?.(op);
            const outcome = this.ops(op.body);
            if (outcome) return outcome;
          }
          break;
        case 'rewrite': {
          const outcome = this.rewrite(op);
          if (outcome) return outcome;
          break;
        }
      }
    }
    return null;
  }

  private set(name: string, value: string): void {
    if (name === 'args') {
      this.ctx.args = value;
      this.ctx.uriChanged = true;
    } else if (name === 'limit_rate') this.setLimitRate(value);
    else this.ctx.setVariable(name, value);
  }

  /** `set $limit_rate SIZE`: the request's rate, in bytes per second (nginx's ngx_http_variable_set_limit_rate); no size is an error line, and changes nothing. */
  private setLimitRate(value: string): void {
    let bytes: number;
    try {
      bytes = parseSize(value);
    } catch {
      this.ctx.log.error(`invalid $limit_rate "${value}"${requestLogContext(this.req, this.ctx)}`);
      return;
    }
    this.ctx.setVariable('limit_rate', String(bytes));
  }

  /** Matches `regex` against `line`, setting the captures as nginx does (none after a failure). */
  private match(regex: RegExp, source: string, line: string): boolean {
    const m = regex.exec(line);
    if (this.options.log) this.notice(`"${source}" ${m ? 'matches' : 'does not match'} "${line}"`);
    if (!m) {
      this.ctx.captures = [];
      return false;
    }
    this.ctx.captures = m.map((c) => c ?? '');
    if (m.groups) for (const [name, value] of Object.entries(m.groups)) this.ctx.setVariable(name, value ?? '');
    return true;
  }

  private holds(c: Condition): boolean {
    switch (c.kind) {
      case 'variable': {
        const v = this.ctx.evaluate(c.value);
        return v !== '' && v !== '0';
      }
      case 'equal':
        return (this.ctx.evaluate(c.left) === this.ctx.evaluate(c.right)) !== c.negative;
      case 'match':
        return this.match(c.regex, c.source, this.ctx.evaluate(c.left)) !== c.negative;
      case 'file': {
        const file = this.ctx.evaluate(c.path);
        const result = fileTest(c.test, file);
        // nginx: a failure other than "not there" is a crit line; the test is false either way.
        if (typeof result !== 'boolean') this.ctx.log.crit(`stat() "${file}" failed (${describeSystemError(result)})${requestLogContext(this.req, this.ctx)}`);
        return (result === true) !== c.negative;
      }
    }
  }

  private rewrite(op: RewriteOp): RunOutcome | null {
    if (!this.match(op.regex, op.source, this.ctx.uri)) return null;
    const ctx = this.ctx;
    const source = ctx as unknown as VariableSource;
    // nginx escapes captures in a redirect and in the new arguments when the client's URI came encoded.
    const encoded = quotedUri(ctx.mainRequest.url ?? '');
    if (op.redirect) {
      let url = unescapeRedirect(evaluatePart(op.uri, source, ctx.captures, encoded));
      if (op.addArgs && ctx.args) url += (op.hasQuery ? '&' : '?') + ctx.args;
      if (this.options.log) this.notice(`rewritten redirect: "${url}"`);
      return { kind: 'redirect', status: op.redirect, location: url };
    }
    const uri = evaluatePart(op.uri, source, ctx.captures, false);
    if (op.args) {
      const args = evaluatePart(op.args, source, ctx.captures, encoded);
      ctx.args = op.addArgs && ctx.args ? `${args}&${ctx.args}` : args;
    } else if (!op.addArgs) ctx.args = '';
    if (this.options.log) this.notice(`rewritten data: "${uri}", args: "${ctx.args}"`);
    ctx.internal = true;
    ctx.uriChanged = true;
    if (uri === '') throw new ZeroLengthUri();
    ctx.setUri(uri);
    this.uriChanged = op.flag !== 'break';
    if (op.flag === 'break') ctx.rewrittenInPlace = true;
    if (op.flag) return { kind: 'done', uriChanged: this.uriChanged };
    return null;
  }

  private notice(message: string): void {
    this.ctx.log.notice(message + requestLogContext(this.req, this.ctx));
  }
}

/** nginx's "the rewritten URI has a zero length" (a 500). */
export class ZeroLengthUri extends Error {
  constructor() {
    super('the rewritten URI has a zero length');
  }
}

/** Runs `ops` for a request. */
export function runScript(ops: readonly Op[], req: IncomingMessage, ctx: RequestContext, options: RunOptions): RunOutcome {
  const run = new Run(req, ctx as Writable, options);
  return run.ops(ops) ?? { kind: 'done', uriChanged: run.uriChanged };
}

/** nginx's `quoted_uri` or `plus_in_uri`: the client's path held a `%` escape or a `+`. */
function quotedUri(url: string): boolean {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return path.includes('%') || path.includes('+');
}

/** `-f`, `-d`, `-e`, `-x` on a path (stat follows links, as nginx's); the error of a stat that failed otherwise than "not there". */
function fileTest(test: FileTest, file: string): boolean | NodeJS.ErrnoException {
  let stat;
  try {
    stat = statSync(file, { throwIfNoEntry: false });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOTDIR' || code === 'ENAMETOOLONG' ? false : (err as NodeJS.ErrnoException);
  }
  if (!stat) return false;
  if (test === 'f') return stat.isFile();
  if (test === 'd') return stat.isDirectory();
  if (test === 'e') return true;
  return (stat.mode & 0o100) !== 0;
}

