/**
 * nginx's ngx_http_limit_conn_module, its directives: `limit_conn_zone KEY zone=NAME:SIZE`
 * (http), `limit_conn ZONE N` (several per block; a block that writes any replaces those it
 * would inherit), `limit_conn_status`, `limit_conn_log_level`, `limit_conn_dry_run`. The check
 * runs in the preaccess phase, after limit_req's (`limit-conn-phase.ts`).
 */
import { argsOf, flag, guard, occurrences, oneOf, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { ConfigError, type Position } from '../../errors';
import { compileValue } from '../../http/variables';
import { atoi, parseZoneArg } from '../../shared/zones/zone-args';
import { limitReqModule, statusCode, type LimitLogLevel, type ZoneDecl } from '../limit-req/module';

/** One `limit_conn`. */
export interface ConnLimitConf {
  readonly zone: string;
  readonly conn: number;
  readonly position: Position;
}

/** The limit_conn module's conf of a block. */
export interface LimitConnConf {
  /** `limit_conn_zone` (http), by name. */
  readonly limitConnZones: ReadonlyMap<string, ZoneDecl>;
  /** `limit_conn`, in order; null: none written. */
  readonly limitConn: readonly ConnLimitConf[] | null;
  readonly limitConnStatus: number;
  readonly limitConnLogLevel: LimitLogLevel;
  readonly limitConnDryRun: boolean;
}

/** `limit_conn_zone KEY zone=NAME:SIZE`, one or a list. */
function zones(node: ConfNode, cx: ParseContext, name: string): Map<string, ZoneDecl> {
  const out = new Map<string, ZoneDecl>();
  for (const n of occurrences(node)) {
    const args = argsOf(n, cx);
    if (args.length !== 2) cx.fail(`invalid number of arguments in "${name}" directive`, n);
    const key = guard(n, cx, () => compileValue(args[0], cx.captureNames));
    if (!args[1].startsWith('zone=')) cx.fail(`invalid parameter "${args[1]}"`, n);
    const zone = guard(n, cx, () => parseZoneArg(args[1]));
    if (zone.name === '') cx.fail(`"${name}" must have "zone" parameter`, n);
    addZone(out, { spec: { name: zone.name, kind: 'limit_conn', size: zone.size, rate: 0, key: args[0] }, key, position: n.pos });
  }
  return out;
}

function addZone(table: Map<string, ZoneDecl>, decl: ZoneDecl): void {
  const earlier = table.get(decl.spec.name);
  if (earlier) throw new ConfigError(`limit_conn_zone "${decl.spec.name}" is already bound to key "${earlier.spec.key}"`, decl.position);
  table.set(decl.spec.name, decl);
}

/** `limit_conn ZONE N`, one or a list. */
function limits(node: ConfNode, cx: ParseContext, name: string): ConnLimitConf[] {
  const out: ConnLimitConf[] = [];
  for (const n of occurrences(node)) {
    const args = argsOf(n, cx);
    if (args.length !== 2) cx.fail(`invalid number of arguments in "${name}" directive`, n);
    if (out.some((l) => l.zone === args[0])) cx.fail(`"${name}" directive is duplicate`, n);
    const conn = atoi(args[1]);
    if (conn <= 0) cx.fail(`invalid number of connections "${args[1]}"`, n);
    if (conn > 65535) cx.fail('connection limit must be less 65536', n);
    out.push({ zone: args[0], conn, position: n.pos });
  }
  return out;
}

export const limitConnModule: ConfModule<LimitConnConf> = {
  name: 'limit_conn',
  directives: {
    limit_conn_zone: row(['http'], zones, {
      field: 'limitConnZones',
      combine: (earlier, later) => {
        const table = new Map(earlier as Map<string, ZoneDecl>);
        for (const decl of (later as Map<string, ZoneDecl>).values()) addZone(table, decl);
        return table;
      },
    }),
    limit_conn: row(INHERITED, limits, {
      combine: (earlier, later) => {
        const all = [...(earlier as ConnLimitConf[])];
        for (const limit of later as ConnLimitConf[]) {
          if (all.some((l) => l.zone === limit.zone)) throw new ConfigError('"limit_conn" directive is duplicate', limit.position);
          all.push(limit);
        }
        return all;
      },
    }),
    limit_conn_status: row(INHERITED, statusCode),
    limit_conn_log_level: row(INHERITED, oneOf<LimitLogLevel>(['info', 'notice', 'warn', 'error'])),
    limit_conn_dry_run: row(INHERITED, flag),
  },
  defaults: () => ({ limitConnZones: new Map(), limitConn: null, limitConnStatus: 503, limitConnLogLevel: 'error', limitConnDryRun: false }),
  check(conf, own, _block, fail) {
    for (const limit of own.limitConn ?? []) {
      if (!conf.limitConnZones.has(limit.zone)) fail(`zero size shared memory zone "${limit.zone}"`, limit.position);
    }
  },
  /** A name declared by both `limit_req_zone` and `limit_conn_zone`: nginx's "different use". */
  checkServers(servers, fail) {
    const server = servers[0];
    if (!server) return;
    const req = server.confs.get(limitReqModule).limitReqZones;
    for (const decl of server.confs.get(limitConnModule).limitConnZones.values()) {
      const other = req.get(decl.spec.name);
      if (!other) continue;
      const later = other.position.line > decl.position.line || (other.position.line === decl.position.line && other.position.col > decl.position.col) ? other : decl;
      fail(`the shared memory zone "${decl.spec.name}" is already declared for a different use`, later.position);
    }
  },
};
