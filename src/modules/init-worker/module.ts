/**
 * `init_worker_by` (http), OpenResty's `init_worker_by_lua`: scripts that run in every worker
 * when it starts (and in the new workers of a reload), with the worker API (shared dictionaries,
 * timers, the log, the worker's id, count and pid). The value is a script's name (a bare name in
 * `handlers_dir`, or a path to a `.ts`/`.js` module), a map `{ script: NAME, options: {...} }`,
 * or a list of those, run in the order written. Each module is loaded and its options checked at
 * load (`gateway -t`): a module that does not load, that is not a worker script, or whose
 * `configure` refuses its options is one line at the value's file:line:column.
 */
import type { ParseContext } from '../../config/args';
import { plainValue, type ConfNode } from '../../config/load';
import { row, type ConfModule } from '../../config/module';
import type { Position } from '../../errors';
import { findModule, loadModule } from '../../shared/module-loader';
import type { WorkerScript } from '../../types';

/** One `init_worker_by` script, loaded, with its options checked. */
export interface WorkerScriptDecl {
  /** The name as written (error-log lines name it). */
  readonly name: string;
  readonly file: string;
  readonly script: WorkerScript<unknown>;
  readonly options: unknown;
  readonly position: Position;
}

/** The init-worker module's conf of a block. */
export interface InitWorkerConf {
  readonly initWorkerBy: readonly WorkerScriptDecl[];
}

function scripts(node: ConfNode, cx: ParseContext): WorkerScriptDecl[] {
  const items = node.kind === 'seq' ? node.items : [node];
  return items.map((item) => script(item, cx));
}

function script(node: ConfNode, cx: ParseContext): WorkerScriptDecl {
  let name: unknown;
  let optionsNode: ConfNode | null = null;
  if (node.kind === 'scalar') name = node.value;
  else if (node.kind === 'map') {
    const seen = new Set<string>();
    for (const e of node.entries) {
      if (seen.has(e.key)) cx.fail(`duplicate key "${e.key}"`, e.value);
      seen.add(e.key);
      if (e.key === 'script') name = e.value.kind === 'scalar' ? e.value.value : null;
      else if (e.key === 'options') optionsNode = e.value;
      else cx.fail(`unknown key "${e.key}" in "init_worker_by" (script, options)`, e.value);
    }
  } else cx.fail('"init_worker_by" takes a script name, a map { script, options }, or a list of them', node);
  if (typeof name !== 'string' || name === '') return cx.fail('"init_worker_by" needs a script name', node);
  const dir = cx.handlersDir ?? `${cx.prefix}/handlers`;
  const file = findModule(name, cx.prefix, dir);
  if (!file) return cx.fail(`init_worker_by script "${name}" not found (no module in "${dir}" or at that path)`, node);
  let loaded: unknown;
  try {
    loaded = loadModule(file);
  } catch (err) {
    return cx.fail(`init_worker_by script "${file}" failed to load: ${String((err as Error)?.message ?? err).split('\n')[0]}`, node);
  }
  const module: WorkerScript<unknown> | null =
    typeof loaded === 'function' ? { init: loaded as WorkerScript<unknown>['init'] } : loaded && typeof (loaded as WorkerScript).init === 'function' ? (loaded as WorkerScript<unknown>) : null;
  if (!module) return cx.fail(`init_worker_by script "${file}" must export a default function or defineWorkerScript({ init })`, node);
  const raw = optionsNode ? plainValue(optionsNode) : {};
  if (optionsNode && (raw === null || typeof raw !== 'object' || Array.isArray(raw))) return cx.fail('"options" must be a map', optionsNode);
  let options: unknown = raw;
  if (module.configure) {
    try {
      options = module.configure(raw as Record<string, unknown>);
    } catch (err) {
      return cx.fail(`init_worker_by script "${name}": ${String((err as Error)?.message ?? err).split('\n')[0]}`, optionsNode ?? node);
    }
  }
  return { name, file, script: module, options, position: node.pos };
}

export const initWorkerModule: ConfModule<InitWorkerConf> = {
  name: 'init_worker',
  directives: {
    init_worker_by: row(['http'], scripts, { combine: (earlier, later) => [...(earlier as WorkerScriptDecl[]), ...(later as WorkerScriptDecl[])] }),
  },
  defaults: () => ({ initWorkerBy: [] }),
};
