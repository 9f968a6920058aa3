/**
 * nginx's `resolver` and `resolver_timeout` (http core: http, server, location): the name
 * servers that resolve an upstream host a `proxy_pass` with variables names at run time.
 * Checked at load; the resolving is `resolver.ts`.
 */
import { isIP } from 'node:net';
import { argsOf, timerTime, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { parseTime } from '../../config/values';

/** One `resolver` directive. */
export interface ResolverConf {
  /** The name servers as Node's `Resolver.setServers` takes them: `1.2.3.4:53`, `[::1]:53`. */
  readonly servers: readonly string[];
  /** `valid=T` in ms: how long an answer is used, whatever its TTL (null: the TTL). */
  readonly valid: number | null;
  /** `ipv6=on` (nginx's default): AAAA records are asked for too. */
  readonly ipv6: boolean;
}

/** The resolver module's conf of a block. */
export interface ResolverModuleConf {
  /** `resolver`, null when none is configured (nginx: "no resolver defined to resolve NAME"). */
  readonly resolver: ResolverConf | null;
  /** `resolver_timeout` in ms (30s). */
  readonly resolverTimeout: number;
}

/** One name server address: `ADDR`, `ADDR:PORT`, `[V6]`, `[V6]:PORT` (port 53 by default). */
export function nameServer(text: string): string {
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(text);
  const v4 = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(text);
  const [host, portText] = v6 ? [v6[1], v6[2]] : v4 ? [v4[1], v4[2]] : [text, undefined];
  if (!isIP(host)) {
    if (/^[A-Za-z0-9.-]+(:\d+)?$/.test(text)) throw new Error(`host names in "resolver" are not supported yet ("${text}"): give the name server's address`);
    throw new Error(`invalid host in resolver "${text}"`);
  }
  const port = portText === undefined ? 53 : Number(portText);
  if (port < 1 || port > 65535) throw new Error(`invalid port in resolver "${text}"`);
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `resolver ADDRESS ... [valid=T] [ipv6=on|off]`, with nginx's words for what is wrong. */
export function parseResolver(args: readonly string[]): ResolverConf {
  const servers: string[] = [];
  let valid: number | null = null;
  let ipv6 = true;
  for (const arg of args) {
    if (arg.startsWith('valid=')) {
      try {
        valid = parseTime(arg.slice(6));
      } catch {
        throw new Error(`invalid parameter: ${arg}`);
      }
    } else if (arg.startsWith('ipv6=')) {
      if (arg !== 'ipv6=on' && arg !== 'ipv6=off') throw new Error(`invalid parameter: ${arg}`);
      ipv6 = arg === 'ipv6=on';
    } else servers.push(nameServer(arg));
  }
  if (servers.length === 0) throw new Error('no name servers defined');
  return { servers, valid, ipv6 };
}

function resolver(node: ConfNode, cx: ParseContext): ResolverConf {
  const args = argsOf(node, cx);
  try {
    return parseResolver(args);
  } catch (err) {
    return cx.fail((err as Error).message, node);
  }
}

export const resolverModule: ConfModule<ResolverModuleConf> = {
  name: 'resolver',
  directives: {
    resolver: row(INHERITED, resolver),
    resolver_timeout: row(INHERITED, timerTime),
  },
  defaults: () => ({ resolver: null, resolverTimeout: 30_000 }),
};
