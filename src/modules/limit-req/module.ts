/**
 * nginx's ngx_http_limit_req_module, its directives: `limit_req_zone KEY zone=NAME:SIZE
 * rate=Nr/s|Nr/m [sync]` (http; `sync`, nginx Plus's, is accepted: zones are always shared
 * here), `limit_req zone=NAME [burst=N] [nodelay | delay=N]` (several per block; a block that
 * writes any replaces those it would inherit), `limit_req_status`, `limit_req_log_level`,
 * `limit_req_dry_run`. The check runs in the preaccess phase (`limit-req-phase.ts`).
 */
import { argsOf, flag, guard, occurrences, oneOf, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { ConfigError, type Position } from '../../errors';
import { compileValue, type Template } from '../../http/variables';
import { zoneRate } from '../../shared/zones/leaky-bucket';
import { atoi, parseZoneArg } from '../../shared/zones/zone-args';
import type { ZoneSpec } from '../../shared/zones/zone-types';

/** One declared zone with its key compiled. */
export interface ZoneDecl {
  readonly spec: ZoneSpec;
  readonly key: Template;
  readonly position: Position;
}

/** One `limit_req` (burst and delay in thousandths of a request, as nginx keeps them). */
export interface ReqLimitConf {
  readonly zone: string;
  readonly burst: number;
  readonly delay: number;
  readonly position: Position;
}

/** `nodelay`: no request waits (nginx's NGX_MAX_INT_T_VALUE / 1000, kept exact here). */
export const NO_DELAY = Number.MAX_SAFE_INTEGER;

export type LimitLogLevel = 'info' | 'notice' | 'warn' | 'error';

/** The limit_req module's conf of a block. */
export interface LimitReqConf {
  /** `limit_req_zone` (http), by name. */
  readonly limitReqZones: ReadonlyMap<string, ZoneDecl>;
  /** `limit_req`, in order; null: none written (nothing limited). */
  readonly limitReq: readonly ReqLimitConf[] | null;
  readonly limitReqStatus: number;
  readonly limitReqLogLevel: LimitLogLevel;
  readonly limitReqDryRun: boolean;
}

/** `limit_req_zone KEY zone=NAME:SIZE rate=R [sync]`, one or a list. */
function zones(node: ConfNode, cx: ParseContext, name: string): Map<string, ZoneDecl> {
  const out = new Map<string, ZoneDecl>();
  for (const n of occurrences(node)) {
    const args = argsOf(n, cx);
    const sync = args.length === 4 && args[3] === 'sync';
    if (args.length !== 3 && !sync) cx.fail(`invalid number of arguments in "${name}" directive`, n);
    const key = guard(n, cx, () => compileValue(args[0], cx.captureNames));
    let zone: { name: string; size: number } | null = null;
    let rate = zoneRate(1, false);
    for (const arg of args.slice(1, 3)) {
      if (arg.startsWith('zone=')) zone = guard(n, cx, () => parseZoneArg(arg));
      else if (arg.startsWith('rate=')) rate = guard(n, cx, () => parseRate(arg));
      else cx.fail(`invalid parameter "${arg}"`, n);
    }
    if (!zone || zone.name === '') return cx.fail(`"${name}" must have "zone" parameter`, n);
    const decl: ZoneDecl = { spec: { name: zone.name, kind: 'limit_req', size: zone.size, rate, key: args[0] }, key, position: n.pos };
    addZone(out, decl, name);
  }
  return out;
}

/** `rate=Nr/s`, `Nr/m`, or `N` (per second), as nginx reads it. */
function parseRate(arg: string): number {
  let text = arg.slice('rate='.length);
  let perMinute = false;
  if (text.endsWith('r/s')) text = text.slice(0, -3);
  else if (text.endsWith('r/m')) {
    text = text.slice(0, -3);
    perMinute = true;
  }
  const n = atoi(text);
  if (n <= 0 || n > 1_000_000_000) throw new Error(`invalid rate "${arg}"`);
  return zoneRate(n, perMinute);
}

/** Adds a zone, refusing a second one of that name as nginx does. */
function addZone(table: Map<string, ZoneDecl>, decl: ZoneDecl, directive: string): void {
  const earlier = table.get(decl.spec.name);
  if (earlier) throw new ConfigError(`${directive} "${decl.spec.name}" is already bound to key "${earlier.spec.key}"`, decl.position);
  table.set(decl.spec.name, decl);
}

/** `limit_req zone=NAME [burst=N] [nodelay | delay=N]`, one or a list. */
function limits(node: ConfNode, cx: ParseContext, name: string): ReqLimitConf[] {
  const out: ReqLimitConf[] = [];
  for (const n of occurrences(node)) {
    const args = argsOf(n, cx);
    if (args.length < 1 || args.length > 3) cx.fail(`invalid number of arguments in "${name}" directive`, n);
    let zone: string | null = null;
    let burst = 0;
    let delay = 0;
    for (const arg of args) {
      if (arg.startsWith('zone=')) zone = arg.slice(5);
      else if (arg.startsWith('burst=')) {
        burst = atoi(arg.slice(6));
        if (burst <= 0) cx.fail(`invalid burst value "${arg}"`, n);
      } else if (arg.startsWith('delay=')) {
        delay = atoi(arg.slice(6));
        if (delay <= 0) cx.fail(`invalid delay value "${arg}"`, n);
      } else if (arg === 'nodelay') delay = NO_DELAY / 1000;
      else cx.fail(`invalid parameter "${arg}"`, n);
    }
    if (zone === null) return cx.fail(`"${name}" must have "zone" parameter`, n);
    if (out.some((l) => l.zone === zone)) cx.fail(`"${name}" directive is duplicate`, n);
    out.push({ zone, burst: burst * 1000, delay: delay === NO_DELAY / 1000 ? NO_DELAY : delay * 1000, position: n.pos });
  }
  return out;
}

export const limitReqModule: ConfModule<LimitReqConf> = {
  name: 'limit_req',
  directives: {
    limit_req_zone: row(['http'], zones, {
      field: 'limitReqZones',
      combine: (earlier, later) => {
        const table = new Map(earlier as Map<string, ZoneDecl>);
        for (const decl of (later as Map<string, ZoneDecl>).values()) addZone(table, decl, 'limit_req_zone');
        return table;
      },
    }),
    limit_req: row(INHERITED, limits, {
      combine: (earlier, later) => {
        const all = [...(earlier as ReqLimitConf[])];
        for (const limit of later as ReqLimitConf[]) {
          if (all.some((l) => l.zone === limit.zone)) throw new ConfigError('"limit_req" directive is duplicate', limit.position);
          all.push(limit);
        }
        return all;
      },
    }),
    limit_req_status: row(INHERITED, statusCode),
    limit_req_log_level: row(INHERITED, oneOf<LimitLogLevel>(['info', 'notice', 'warn', 'error'])),
    limit_req_dry_run: row(INHERITED, flag),
  },
  defaults: () => ({ limitReqZones: new Map(), limitReq: null, limitReqStatus: 503, limitReqLogLevel: 'error', limitReqDryRun: false }),
  check(conf, own, _block, fail) {
    for (const limit of own.limitReq ?? []) {
      if (!conf.limitReqZones.has(limit.zone)) fail(`zero size shared memory zone "${limit.zone}"`, limit.position);
    }
  },
};

/** `limit_req_status` / `limit_conn_status`: 400 to 599, with nginx's message. */
export function statusCode(node: ConfNode, cx: ParseContext, name: string): number {
  const args = argsOf(node, cx);
  if (args.length !== 1) cx.fail(`invalid number of arguments in "${name}" directive`, node);
  const n = atoi(args[0]);
  if (n < 0) cx.fail(`invalid number "${args[0]}"`, node);
  if (n < 400 || n > 599) cx.fail('value must be between 400 and 599', node);
  return n;
}

