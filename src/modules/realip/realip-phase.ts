/**
 * The realip module's handlers, where nginx runs `ngx_http_realip_handler`: in the post-read
 * phase with the server's settings (once per request, before its location is found), and in
 * the preaccess phase of a location whose settings differ from its server's (with the same
 * settings it would find what post-read found). Whichever sets the address first wins; it is
 * never set twice for one request, internal redirects included.
 */
import type { IncomingMessage } from 'node:http';
import type { LocationConf } from '../../config/model';
import type { LocationModule, PhaseHandler, RequestContext } from '../../types';
import { CLIENT_ADDRESS_SET, SET_CLIENT_ADDRESS, type ClientAddressTarget } from './client-address';
import { realipModule, type RealipConf } from './module';
import { forwardedAddress, type ClientAddress } from './real-address';

const NO_VALUES: readonly string[] = [];

/** The first value of header `name` (lower case), or null; `rawHeaders` keeps the lines as received. */
function firstValue(req: IncomingMessage, name: string): string | null {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i];
    if (key.length === name.length && key.toLowerCase() === name) return raw[i + 1];
  }
  return null;
}

/** Every value of header `name` (lower case), in the order received. */
function allValues(req: IncomingMessage, name: string): readonly string[] {
  const raw = req.rawHeaders;
  let values: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i];
    if (key.length === name.length && key.toLowerCase() === name) (values ??= []).push(raw[i + 1]);
  }
  return values ?? NO_VALUES;
}

/** The handler's work for one set of settings: null when nothing is to be read. */
function realAddress(conf: RealipConf, req: IncomingMessage, target: ClientAddressTarget): ClientAddress | null {
  const header = conf.realIpHeader;
  let values: readonly string[];
  if (header.kind === 'x-forwarded-for') {
    values = allValues(req, 'x-forwarded-for');
  } else if (header.kind === 'proxy_protocol') {
    const pp = target.proxyProtocol;
    if (pp === null) return null;
    const found = forwardedAddress(conf.realipFrom!, { address: target.remoteAddress, port: 0 }, [pp.sourceAddress], false);
    // nginx takes the PROXY header's source port with its address.
    return found && { address: found.address, port: pp.sourcePort };
  } else {
    const value = firstValue(req, header.kind === 'x-real-ip' ? 'x-real-ip' : header.name);
    values = value === null ? NO_VALUES : [value];
  }
  if (values.length === 0) return null;
  return forwardedAddress(conf.realipFrom!, { address: target.remoteAddress, port: 0 }, values, conf.realIpRecursive);
}

/** The handler of one phase for `conf`. */
function handler(phase: 'post-read' | 'preaccess', conf: RealipConf): PhaseHandler {
  return {
    phase,
    name: `realip (${conf.realIpHeader.kind === 'header' ? conf.realIpHeader.name : conf.realIpHeader.kind}${conf.realIpRecursive ? ', recursive' : ''})`,
    run(req: IncomingMessage, _res, ctx: RequestContext) {
      const target = ctx as unknown as ClientAddressTarget;
      if (target[CLIENT_ADDRESS_SET]) return;
      const found = realAddress(conf, req, target);
      if (found) target[SET_CLIENT_ADDRESS](found.address, found.port);
    },
  };
}

/** Whether two blocks' settings would read the same address (the same lists, header and recursion). */
function sameSettings(a: RealipConf, b: RealipConf): boolean {
  const ha = a.realIpHeader;
  const hb = b.realIpHeader;
  return a.realipFrom === b.realipFrom && a.realIpRecursive === b.realIpRecursive && ha.kind === hb.kind && (ha.kind !== 'header' || ha.name === (hb as { name: string }).name);
}

export const realipPhase: LocationModule = {
  name: 'realip',
  phases(location: LocationConf, env): PhaseHandler[] {
    const conf = location.confs.get(realipModule);
    const server = env.server.serverLocation;
    if (location === server) return conf.realipFrom === null ? [] : [handler('post-read', conf)];
    if (conf.realipFrom === null || sameSettings(conf, server.confs.get(realipModule))) return [];
    return [handler('preaccess', conf)];
  },
};
