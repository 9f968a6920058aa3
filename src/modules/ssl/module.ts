/**
 * nginx's ngx_http_ssl_module directives: a server's key pair (and `ssl_password_file`),
 * protocols, ciphers and their order, DH parameters, curves, the session cache and tickets,
 * client certificates, OCSP stapling, `ssl on`. A server on a socket that speaks TLS must have a
 * certificate that loads: checked with the configuration (`gateway -t` loads every one, and
 * every file the ssl directives name), read again when a worker starts.
 */
import tls from 'node:tls';
import { argsOf, flag, integer, occurrences, one, prefixPath, size, text, time, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { row, type ConfModule, type ServerView } from '../../config/module';
import { parseScriptRef } from '../../shared/script-loader';
import { ContextError, createServerContext, TLS_PROTOCOLS, type FileRef, type SslConf, type VerifyClient } from './contexts';
import { NO_SESSION_CACHE, parseSessionCache, sessionDictName } from './session-cache';
import { readStaplingFile } from './stapling';
import { ticketKeyOfFile } from './ticket-keys';

export type { SslConf };

const SERVER: ['http', 'server'] = ['http', 'server'];

/** A file a directive names (against the prefix), with the directive's position. */
const fileRef = (node: ConfNode, cx: ParseContext, name: string): FileRef => ({ path: prefixPath(node, cx, name), at: node.pos });

/** A repeatable path directive (`ssl_certificate`): each occurrence against the prefix, in order. */
const paths = (node: ConfNode, cx: ParseContext, name: string): string[] =>
  occurrences(node).map((o) => {
    const file = prefixPath(o, cx, name);
    // nginx 1.15.9 loads such a pair per handshake (`$ssl_server_name.crt`); not here yet.
    if (file.includes('$')) cx.fail(`"${name}" with variables is not supported yet`, o);
    return file;
  });

/** Occurrences written in several places of one block join in order. */
const concat = (earlier: unknown, later: unknown): unknown[] => [...(earlier as unknown[]), ...(later as unknown[])];

/** `ssl_ecdh_curve`: checked at load, as nginx's SSL_CTX_set1_curves_list. */
function ecdhCurve(node: ConfNode, cx: ParseContext, name: string): string {
  const value = text(node, cx, name);
  try {
    tls.createSecureContext({ ecdhCurve: value });
  } catch (err) {
    cx.fail(`SSL_CTX_set1_curves_list("${value}") failed (${(err as Error).message})`, node);
  }
  return value;
}

export const sslModule: ConfModule<SslConf> = {
  name: 'ssl',
  directives: {
    ssl: row(SERVER, (n, cx, name) => {
      cx.warn?.('the "ssl" directive is deprecated, use the "listen ... ssl" directive instead', n);
      return flag(n, cx, name);
    }),
    ssl_certificate: row(SERVER, paths, { field: 'sslCertificates', combine: concat }),
    ssl_certificate_key: row(SERVER, paths, { field: 'sslCertificateKeys', combine: concat }),
    ssl_password_file: row(SERVER, fileRef),
    ssl_protocols: row(SERVER, (n, cx) => {
      const args = argsOf(n, cx);
      for (const arg of args) if (!(TLS_PROTOCOLS as readonly string[]).includes(arg)) cx.fail(`invalid value "${arg}" in "ssl_protocols" directive`, n);
      return args;
    }),
    ssl_ciphers: row(SERVER, text),
    ssl_prefer_server_ciphers: row(SERVER, flag),
    ssl_dhparam: row(SERVER, fileRef),
    ssl_ecdh_curve: row(SERVER, ecdhCurve),
    ssl_session_cache: row(SERVER, (n, cx) => {
      try {
        return parseSessionCache(argsOf(n, cx));
      } catch (err) {
        return cx.fail((err as Error).message, n);
      }
    }),
    ssl_session_timeout: row(SERVER, (n, cx, name) => Math.ceil(time(n, cx, name) / 1000)),
    ssl_session_tickets: row(SERVER, flag),
    ssl_session_ticket_key: row(SERVER, (n, cx, name) => occurrences(n).map((o) => fileRef(o, cx, name)), { combine: concat }),
    ssl_client_certificate: row(SERVER, fileRef),
    ssl_trusted_certificate: row(SERVER, fileRef),
    ssl_crl: row(SERVER, fileRef),
    ssl_verify_client: row(SERVER, (n, cx, name) => {
      // `on`/`off` among its words: a YAML `true`/`false` stands for them.
      const value = one(n, cx, name, true);
      if (!['on', 'off', 'optional', 'optional_no_ca'].includes(value)) cx.fail(`invalid value "${value}"`, n);
      return value as VerifyClient;
    }),
    ssl_verify_depth: row(SERVER, integer(0, 2 ** 31 - 1)),
    ssl_stapling: row(SERVER, flag),
    ssl_stapling_verify: row(SERVER, flag),
    ssl_stapling_file: row(SERVER, fileRef),
    ssl_stapling_responder: row(SERVER, text),
    ssl_buffer_size: row(SERVER, size),
    ssl_reject_handshake: row(SERVER, flag),
    ssl_early_data: row(SERVER, flag),
    ssl_certificate_by: row(SERVER, (n, cx) => parseScriptRef(n, cx, 'ssl_certificate_by')),
  },
  defaults: () => ({
    ssl: false,
    sslCertificates: [],
    sslCertificateKeys: [],
    sslPasswordFile: null,
    sslProtocols: ['TLSv1.2', 'TLSv1.3'],
    sslCiphers: 'HIGH:!aNULL:!MD5',
    sslPreferServerCiphers: false,
    sslDhparam: null,
    sslEcdhCurve: 'auto',
    sslSessionCache: NO_SESSION_CACHE,
    sslSessionTimeout: 300,
    sslSessionTickets: true,
    sslSessionTicketKey: [],
    sslClientCertificate: null,
    sslTrustedCertificate: null,
    sslCrl: null,
    sslVerifyClient: 'off',
    sslVerifyDepth: 1,
    sslStapling: false,
    sslStaplingVerify: false,
    sslStaplingFile: null,
    sslStaplingResponder: null,
    sslRejectHandshake: false,
    sslEarlyData: false,
    sslBufferSize: 16384,
    sslCertificateBy: null,
  }),
  check(conf, _own, block, fail) {
    if (block.context !== 'server' || !conf.sslCertificates.length) return;
    if (conf.sslVerifyClient !== 'off' && conf.sslVerifyClient !== 'optional_no_ca' && !conf.sslClientCertificate) {
      fail('no ssl_client_certificate for ssl_verify_client', block.at('ssl_verify_client'));
    }
  },
  checkServers(servers, fail) {
    const sslKeys = tlsSocketKeys(servers);
    const zones = new Map<string, number>();
    for (const server of servers) {
      if (!server.listens.some((l) => sslKeys.has(l.key))) continue;
      const conf = server.confs.get(sslModule);
      if (!conf.sslCertificates.length && !conf.sslRejectHandshake) fail(`no "ssl_certificate" is defined for the "${conf.ssl ? 'ssl' : 'listen ... ssl'}" directive`, server.position);
      try {
        createServerContext(conf);
        for (const key of conf.sslSessionTicketKey) ticketKeyOfFile(key);
        if (conf.sslStapling && conf.sslStaplingFile) readStaplingFile(conf.sslStaplingFile);
      } catch (err) {
        fail((err as Error).message, err instanceof ContextError && err.at ? err.at : server.position);
      }
      const zone = conf.sslSessionCache.shared;
      if (zone) {
        const declared = zones.get(zone.name);
        if (declared !== undefined && declared !== zone.size) fail(`the size ${zone.size} of shared memory zone "${zone.name}" conflicts with already declared size ${declared}`, server.position);
        zones.set(zone.name, zone.size);
      }
    }
  },
};

/**
 * The sockets that speak TLS: those some `listen` says `ssl` on, and those whose default server
 * says `ssl on` (nginx decides by the socket's default server).
 */
export function tlsSocketKeys(servers: readonly ServerView[]): Set<string> {
  const keys = new Set(servers.flatMap((s) => s.listens.filter((l) => l.ssl).map((l) => l.key)));
  const defaults = new Map<string, ServerView>();
  for (const server of servers) {
    for (const listen of server.listens) if (listen.defaultServer || !defaults.has(listen.key)) defaults.set(listen.key, server);
  }
  for (const [key, server] of defaults) if (server.confs.get(sslModule).ssl) keys.add(key);
  return keys;
}

/** The shared dictionaries the session caches need (`ssl_session_cache shared:NAME:SIZE`), one per zone name. */
export function sessionCacheDicts(servers: readonly ServerView[]): { name: string; size: number }[] {
  const zones = new Map<string, number>();
  for (const server of servers) {
    const zone = server.confs.get(sslModule).sslSessionCache.shared;
    if (zone && !zones.has(zone.name)) zones.set(zone.name, zone.size);
  }
  return [...zones].map(([name, size]) => ({ name: sessionDictName(name), size }));
}
