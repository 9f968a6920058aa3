/**
 * The content handlers a location can name: the built-ins, or a user's module found by path or
 * by bare name in `handlers_dir`. Resolved once, at load.
 */
import { findModule, loadModule } from '../shared/module-loader';
import type { HandlerModule } from '../types';
import proxy from './proxy/proxy';
import pushPublisher from './push/publisher';
import pushSubscriber from './push/subscriber';
import metrics from './status/metrics-handler';
import returnHandler from './return/return';
import staticHandler from './static/static';
import stubStatus from './status/stub-status';
import websocketScript from './websocket-script/websocket-script';

const BUILT_IN: Readonly<Record<string, HandlerModule<any>>> = {
  static: staticHandler,
  proxy,
  return: returnHandler,
  'websocket-script': websocketScript,
  stub_status: stubStatus,
  metrics,
  'push-publisher': pushPublisher,
  'push-subscriber': pushSubscriber,
};

/** The handler module `name` stands for. Throws with a one-line reason when there is none. */
export function resolveHandler(name: string, prefix: string, handlersDir: string): HandlerModule {
  if (Object.hasOwn(BUILT_IN, name)) return BUILT_IN[name];
  const file = findModule(name, prefix, handlersDir);
  if (!file) throw new Error(`handler "${name}" not found (no built-in of that name, no module in "${handlersDir}" or at that path)`);
  let module: unknown;
  try {
    module = loadModule(file);
  } catch (err) {
    throw new Error(`handler module "${file}" failed to load: ${firstLine(err)}`);
  }
  const candidate = module as Partial<HandlerModule> | null;
  if (!candidate || typeof candidate.configure !== 'function' || typeof candidate.create !== 'function') {
    throw new Error(`handler module "${file}" must export a default { configure, create }`);
  }
  return candidate as HandlerModule;
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}
