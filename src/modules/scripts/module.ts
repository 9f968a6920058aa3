/**
 * The directives of the TypeScript entry points at every request phase, named after
 * OpenResty's (`rewrite_by_lua`, `access_by_lua`, `content_by_lua`, `header_filter_by_lua`,
 * `body_filter_by_lua`, `log_by_lua`): `rewrite_by`, `access_by`, `header_filter_by`,
 * `body_filter_by`, `log_by` at http, server and location, each inherited whole by a block that
 * writes none (a block that writes one replaces its parent's, as nginx merges the `*_by_lua`
 * directives); `content_by` in a location (as `content_by_lua`), which makes it the location's
 * content handler; `script_timeout`, how long a script may take before its request is a 500.
 * Each names a script module (a bare name in `handlers_dir`, or a path), `{ script, options }`,
 * or a list of these run in the order written; modules are loaded and configured here, once.
 */
import { timerTime } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';
import type { ParseContext } from '../../config/args';
import { loadScripts, type LoadedScript as Loaded, type ScriptEntry } from '../../shared/script-loader';
import type { PhaseScript } from '../../types';

/** A phase script as its directive loaded it. */
export type LoadedScript = Loaded<PhaseScript<unknown>>;

/** The function each directive calls: `bodyFilter` for `body_filter_by`, `run` for the others. */
const RUN: ScriptEntry = { key: 'run', shown: 'run(r)' };
const BODY_FILTER: ScriptEntry = { key: 'bodyFilter', shown: 'bodyFilter(chunk, eof, r)' };

/** The scripts module's conf of a block: each phase's scripts (empty: none). */
export interface ScriptsConf {
  readonly rewriteBy: readonly LoadedScript[];
  readonly accessBy: readonly LoadedScript[];
  readonly contentBy: readonly LoadedScript[];
  readonly headerFilterBy: readonly LoadedScript[];
  readonly bodyFilterBy: readonly LoadedScript[];
  readonly logBy: readonly LoadedScript[];
  /** ms a script's promise may stay unsettled (60 s, nginx's usual timeout); 0: no bound. */
  readonly scriptTimeout: number;
}

/** The handler `content_by` implies. */
export const CONTENT_BY_HANDLER = 'content_by';

const scripts = (node: ConfNode, cx: ParseContext, name: string): LoadedScript[] => loadScripts<PhaseScript<unknown>>(node, cx, name, name === 'body_filter_by' ? BODY_FILTER : RUN);

export const scriptsModule: ConfModule<ScriptsConf> = {
  name: 'scripts',
  directives: {
    rewrite_by: row(INHERITED, scripts),
    access_by: row(INHERITED, scripts),
    content_by: row(['location'], scripts),
    header_filter_by: row(INHERITED, scripts),
    body_filter_by: row(INHERITED, scripts),
    log_by: row(INHERITED, scripts),
    script_timeout: row(INHERITED, timerTime),
  },
  implies: { content_by: CONTENT_BY_HANDLER },
  defaults: () => ({ rewriteBy: [], accessBy: [], contentBy: [], headerFilterBy: [], bodyFilterBy: [], logBy: [], scriptTimeout: 60_000 }),
};
