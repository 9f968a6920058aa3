/**
 * The gateway's modules, in the order their directives imply a handler and their filters run,
 * and the content handlers a location can name: the built-ins, or a user's module found by
 * path or by bare name in `handlers_dir` (resolved once, at load). What a configuration is
 * built with (`REGISTRY`).
 */
import type { Registry } from '../config/build';
import type { ConfModule } from '../config/module';
import { findModule, loadModule } from '../shared/module-loader';
import type { HandlerModule, LocationModule } from '../types';
import { accessPhase } from './access/access-phase';
import { authBasicPhase } from './auth-basic/auth-phase';
import { authRequestPhase } from './auth-request/auth-request';
import { authRequestModule } from './auth-request/module';
import { realipPhase } from './realip/realip-phase';
import { limitConnPhase } from './limit-conn/limit-conn-phase';
import { limitConnModule } from './limit-conn/module';
import { limitReqPhase } from './limit-req/limit-req-phase';
import { limitReqModule } from './limit-req/module';
import { zonesModule } from './zones/module';
import { resolverModule } from './resolver/module';
import { sharedDictModule } from './shared-dict/module';
import { initWorkerModule } from './init-worker/module';
import { tryFilesPhase } from './core/try-files';
import { gzipFilter } from './gzip/filter';
import { headersFilter } from './headers/filter';
import { logPhase } from './log/log-phase';
import { rewritePhase } from './rewrite/phase';
import { accessModule } from './access/module';
import { authBasicModule } from './auth-basic/module';
import { autoindexModule } from './autoindex/module';
import { coreModule } from './core/module';
import { gzipModule } from './gzip/module';
import { headersModule } from './headers/module';
import { indexModule } from './index/module';
import { logModule } from './log/module';
import { proxyModule } from './proxy/module';
import { grpcModule } from './grpc/module';
import { proxyCacheModule } from './proxy/cache/module';
import { realipModule } from './realip/module';
import { pushModule } from './push/module';
import { rewriteModule } from './rewrite/module';
import { sslModule } from './ssl/module';
import { http2Module } from './http2/module';
import { statusModule } from './status/module';
import { mapModule } from './map/module';
import proxy from './proxy/proxy';
import grpc from './grpc/grpc';
import pushPublisher from './push/publisher';
import pushPubsub from './push/pubsub';
import pushSubscriber from './push/subscriber';
import metrics from './status/metrics-handler';
import returnHandler from './return/return';
import staticHandler from './static/static';
import stubStatus from './status/stub-status';
import websocketScript from './websocket-script/websocket-script';
import contentBy from './scripts/content';
import { CONTENT_BY_HANDLER, scriptsModule } from './scripts/module';
import { scriptPhases } from './scripts/phases';
import { pluginsModule } from './plugins/module';
import { processTuningModule } from './tuning/process-module';
import { httpTuningModule } from './tuning/http-module';
import { charsetModule } from './charset/module';
import { charsetFilter } from './charset/charset-filter';
import { upstreamSetsCharset, upstreamSetsRate } from './proxy/accel-headers';
import { sliceModule } from './slice/module';
import { sliceFilter } from './slice/filter';
import { limitExceptModule } from './limit-except/module';
import { limitRateModule } from './limit-rate/module';
import { limitRateFilter } from './limit-rate/filter';

const BUILT_IN: Readonly<Record<string, HandlerModule<any>>> = {
  static: staticHandler,
  proxy,
  grpc,
  return: returnHandler,
  'websocket-script': websocketScript,
  stub_status: stubStatus,
  metrics,
  'push-publisher': pushPublisher,
  'push-pubsub': pushPubsub,
  'push-subscriber': pushSubscriber,
  [CONTENT_BY_HANDLER]: contentBy,
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

/** Every module: a directive implies its handler in this order (`proxy_pass`, `grpc_pass`, then `return`, then `stub_status`). */
export const MODULES: readonly ConfModule[] = [
  coreModule,
  processTuningModule,
  httpTuningModule,
  indexModule,
  autoindexModule,
  sslModule,
  http2Module,
  realipModule,
  accessModule,
  authBasicModule,
  authRequestModule,
  limitExceptModule,
  limitRateModule,
  limitReqModule,
  limitConnModule,
  zonesModule,
  mapModule,
  resolverModule,
  sharedDictModule,
  initWorkerModule,
  proxyModule,
  grpcModule,
  proxyCacheModule,
  rewriteModule,
  statusModule,
  pushModule,
  scriptsModule,
  pluginsModule,
  headersModule,
  charsetModule,
  sliceModule,
  gzipModule,
  logModule,
];

/** What every configuration of the gateway is built with. */
export const REGISTRY: Registry = { modules: MODULES, handlers: resolveHandler, core: coreModule };

/**
 * What each module builds per location, in nginx's order: phase handlers run by phase, then in
 * this order within a phase (realip first: a preaccess limit keyed on the address sees the real
 * one; the scripts' rewrite_by and access_by last in theirs, log_by before the access log);
 * response filters see the header in this order (the slice filter first, as nginx's top filter;
 * `expires` and `add_header` before gzip decides, as nginx's chain; limit_rate last, pacing what
 * goes out, as nginx's write filter).
 */
export const LOCATION_MODULES: readonly LocationModule[] = [realipPhase, rewritePhase, limitReqPhase, limitConnPhase, accessPhase, authBasicPhase, authRequestPhase, scriptPhases, tryFilesPhase, sliceFilter, charsetFilter(upstreamSetsCharset), headersFilter, gzipFilter, limitRateFilter(upstreamSetsRate), logPhase];
