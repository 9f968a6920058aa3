/**
 * TLS for `listen ... ssl` (and `ssl on`): one secure context per server block (the ssl
 * module's), and SNI choosing among them by the same name rules as `server_name`; the session
 * cache (shared between workers through a shared dictionary), ticket keys the same in every
 * worker, client certificates recorded for `$ssl_client_verify`, stapled OCSP responses; a server with
 * `ssl_certificate_by` runs its script there (OpenResty's ssl_certificate_by_lua), and a key
 * pair it answers becomes a secure context made once per pair.
 */
import { constants, createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { ServerConf } from '../config/model';
import { recordClientVerify } from '../http/ssl-variables';
import { verifyAtHandshake } from '../modules/ssl/client-verify';
import { createServerContext, secureContextOptions, type CertificateRef, type SslConf } from '../modules/ssl/contexts';
import { sslModule } from '../modules/ssl/module';
import { BuiltinSessionStore, LayeredSessionStore, sessionDictName, SharedSessionStore, type SessionStore } from '../modules/ssl/session-cache';
import { readStaplingFile, ResponderStapler } from '../modules/ssl/stapling';
import { derivedTicketKey, ticketKeyOfFile } from '../modules/ssl/ticket-keys';
import type { CertificateAnswer, Logger, SharedDicts } from '../types';
import { normalizeHost, type ServerTable } from './router';

/** Secure contexts made from scripts' key pairs, per server: past this many, the oldest goes. */
const MAX_SCRIPT_CONTEXTS = 1000;

/** What one listening socket needs for TLS: the server's options, and the events it answers. */
export interface ListenerTls {
  readonly options: tls.TlsOptions;
  /** Attaches the session cache, client certificate, stapling and record size handlers to the socket's server. */
  attach(server: tls.Server): void;
}

/**
 * The TLS of one listening socket: the default server's key pair for clients without SNI, an SNI
 * callback picking the server by name as `server_name` does; the session cache, tickets and their
 * timeout of the default server (nginx resumes sessions in the context a connection starts
 * with: the default server's); client certificates asked for when any server of the socket
 * checks them. `logOf` gives a server's error log (a script's failure is written there);
 * `sessionDicts` the shared session caches of this process.
 */
export function listenerTls(table: ServerTable, servers: readonly ServerConf[], logOf: (server: ServerConf) => Logger, sessionDicts: SharedDicts, scope: string): ListenerTls {
  const contexts = new Map(servers.map((server) => [server, createServerContext(server.confs.get(sslModule))]));
  const scripted = new Map(
    servers.flatMap((server) => {
      const conf = server.confs.get(sslModule);
      return conf.sslCertificateBy ? [[server, new CertificateScriptRunner(conf, conf.sslCertificateBy, contexts.get(server)!, logOf(server))] as const] : [];
    }),
  );
  const defaultConf = table.defaultServer.confs.get(sslModule);
  if (defaultConf.ssl) logOf(table.defaultServer).warn('the "ssl" directive is deprecated, use the "listen ... ssl" directive instead');
  /** The server whose context each handshake took (SNI), for its client certificate rules. */
  const handshakeServer = new WeakMap<tls.TLSSocket, ServerConf>();
  const contextOptions = secureContextOptions(defaultConf);
  const options: tls.TlsOptions = {
    ...contextOptions,
    sessionIdContext: sessionIdContext(contextOptions),
    // nginx asks every client for a certificate a server of the socket checks, and refuses the
    // request (not the handshake) when it is missing or bad.
    requestCert: servers.some((s) => s.confs.get(sslModule).sslVerifyClient !== 'off'),
    rejectUnauthorized: false,
    sessionTimeout: defaultConf.sslSessionTimeout,
    ticketKeys: defaultConf.sslSessionTicketKey.length ? ticketKeyOfFile(defaultConf.sslSessionTicketKey[0]) : derivedTicketKey(scope),
    ...(!defaultConf.sslSessionTickets && { secureOptions: constants.SSL_OP_NO_TICKET }),
    SNICallback(this: tls.TLSSocket | undefined, servername, callback) {
      let host: string | null;
      try {
        host = normalizeHost(servername);
      } catch {
        host = null;
      }
      const server = table.select(host).server;
      if (this) handshakeServer.set(this, server);
      // `ssl_reject_handshake on`: the handshake ends here (nginx sends an unrecognized_name alert).
      if (server.confs.get(sslModule).sslRejectHandshake) return callback(new Error(`handshake rejected for server name "${servername}"`));
      if (options.requestCert && this) askForCertificate(this, server.confs.get(sslModule).sslVerifyClient !== 'off');
      const runner = scripted.get(server);
      if (runner) return runner.context(host ?? servername.toLowerCase(), this?.remoteAddress ?? '', callback);
      callback(null, contexts.get(server) ?? contexts.get(table.defaultServer));
    },
  };
  const store = sessionStore(defaultConf, sessionDicts);
  const staples = stapledResponses(servers, logOf);
  return {
    options,
    attach(server) {
      if (store) {
        server.on('newSession', (id: Buffer, session: Buffer, done: () => void) => {
          store.set(id, session);
          done();
        });
        server.on('resumeSession', (id: Buffer, done: (err: Error | null, session: Buffer | null) => void) => done(null, store.get(id)));
      }
      if (staples.size) {
        server.on('OCSPRequest', (certificate: Buffer, _issuer: Buffer, done: (err: Error | null, response?: Buffer) => void) => done(null, staples.get(certificate.toString('base64'))?.()));
      }
      server.on('secureConnection', (socket: tls.TLSSocket) => {
        const conf = (handshakeServer.get(socket) ?? table.defaultServer).confs.get(sslModule);
        if (options.requestCert) recordClientVerify(socket, verifyAtHandshake(socket, conf));
        if (conf.sslBufferSize !== DEFAULT_RECORD_SIZE) socket.setMaxSendFragment(Math.max(512, Math.min(DEFAULT_RECORD_SIZE, conf.sslBufferSize)));
      });
    },
  };
}

/**
 * The session id context, as nginx's (a hash of the certificates and the client CAs): a session
 * resumes on any worker and after a restart, but not with other certificates. (Node's default
 * hashes the command line.)
 */
function sessionIdContext(options: tls.SecureContextOptions): string {
  const hash = createHash('sha1');
  for (const part of [options.cert, options.ca]) for (const item of [part ?? []].flat()) hash.update(item as Buffer);
  return hash.digest('hex').slice(0, 32);
}

/**
 * Whether the handshake asks the client for a certificate: nginx asks only for a server that
 * checks them (its SNI callback sets the connection's verify mode), so a browser is not asked
 * on the socket's other servers. Node sets the mode once per socket (`requestCert`); the TLS
 * handle's `setVerifyMode`, which Node calls with it, sets it again for the server SNI chose,
 * before the server's certificate request goes out. Clients without SNI are asked when any
 * server of the socket checks certificates.
 */
function askForCertificate(socket: tls.TLSSocket, ask: boolean): void {
  const handle = (socket as unknown as { _handle?: { setVerifyMode?: (request: boolean, reject: boolean) => void } })._handle;
  if (typeof handle?.setVerifyMode === 'function') handle.setVerifyMode(ask, false);
}

/** TLS's largest record, nginx's default `ssl_buffer_size`. */
const DEFAULT_RECORD_SIZE = 16384;

/** The default server's `ssl_session_cache`, or null for `off`/`none` (nothing kept). */
function sessionStore(conf: SslConf, dicts: SharedDicts): SessionStore | null {
  const cache = conf.sslSessionCache;
  if (cache.mode !== 'on') return null;
  const layers: SessionStore[] = [];
  if (cache.builtin !== null) layers.push(new BuiltinSessionStore(cache.builtin, conf.sslSessionTimeout));
  const dict = cache.shared && dicts.get(sessionDictName(cache.shared.name));
  if (dict) layers.push(new SharedSessionStore(dict, conf.sslSessionTimeout));
  return layers.length === 1 ? layers[0] : new LayeredSessionStore(layers);
}

/**
 * What each server staples to its certificate (by the certificate's DER, which Node's
 * `OCSPRequest` event names): `ssl_stapling_file`'s response, or what its OCSP responder
 * answered last (asked from when the worker starts).
 */
function stapledResponses(servers: readonly ServerConf[], logOf: (server: ServerConf) => Logger): Map<string, () => Buffer | undefined> {
  const out = new Map<string, () => Buffer | undefined>();
  for (const server of servers) {
    const conf = server.confs.get(sslModule);
    if (!conf.sslStapling) continue;
    const trusted = conf.sslStaplingFile ? null : [conf.sslTrustedCertificate, conf.sslClientCertificate].map((ref) => (ref ? readFileSync(ref.path, 'latin1') : '')).join('\n');
    // Each certificate of the server (an RSA and an ECDSA one) is stapled for itself.
    for (const certificate of conf.sslCertificates) {
      const chain = readFileSync(certificate, 'latin1');
      if (conf.sslStaplingFile) {
        const response = readStaplingFile(conf.sslStaplingFile);
        out.set(new X509Certificate(chain).raw.toString('base64'), () => response);
        continue;
      }
      // The issuer is looked for in the chain, then in the CAs the context trusts (as nginx's store).
      const stapler = ResponderStapler.of(certificate, chain, trusted, conf.sslStaplingResponder, conf.sslStaplingVerify, logOf(server));
      if (!stapler) continue;
      stapler.start();
      out.set(stapler.certificate.toString('base64'), () => stapler.current());
    }
  }
  return out;
}

type SniCallback = (err: Error | null, context?: tls.SecureContext) => void;

/** One server's `ssl_certificate_by`: runs the script per handshake, keeps the contexts it made. */
class CertificateScriptRunner {
  /** By the answer object itself: a script that keeps its pairs answers the same object each time. */
  private readonly byAnswer = new WeakMap<object, tls.SecureContext>();
  /** By the pair's bytes, oldest first. */
  private readonly byPair = new Map<string, tls.SecureContext>();
  /** The server's versions and ciphers, which a script's pair is served with. */
  private readonly base: tls.SecureContextOptions;

  constructor(
    conf: SslConf,
    private readonly script: CertificateRef,
    /** The server's own context (`ssl_certificate`): what a script that answers nothing keeps. */
    private readonly configured: tls.SecureContext,
    private readonly log: Logger,
  ) {
    const { cert: _cert, key: _key, ...base } = secureContextOptions(conf);
    this.base = base;
  }

  /** Answers Node's SNI callback for one handshake. */
  context(serverName: string, remoteAddress: string, callback: SniCallback): void {
    const done = (answer: void | CertificateAnswer | null) => {
      if (!answer) return callback(null, this.configured);
      let context: tls.SecureContext;
      try {
        context = this.contextOf(answer);
      } catch (err) {
        return this.fail(err, remoteAddress, callback, 'answered a key pair that does not load');
      }
      callback(null, context);
    };
    let result: ReturnType<CertificateRef['run']>;
    try {
      result = this.script.run({ serverName, remoteAddress, log: this.log });
    } catch (err) {
      return this.fail(err, remoteAddress, callback);
    }
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<void | CertificateAnswer | null>).then(done, (err: unknown) => this.fail(err, remoteAddress, callback));
    } else {
      done(result as void | CertificateAnswer | null);
    }
  }

  private contextOf(answer: CertificateAnswer): tls.SecureContext {
    if (typeof answer !== 'object' || answer.cert === undefined || answer.key === undefined) throw new TypeError('the answer must be { cert, key }');
    const kept = this.byAnswer.get(answer);
    if (kept) return kept;
    const pem = (v: string | Buffer) => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('latin1') : String(v));
    const key = `${pem(answer.cert)}\0${pem(answer.key)}`;
    let context = this.byPair.get(key);
    if (!context) {
      context = tls.createSecureContext({ ...this.base, cert: answer.cert, key: answer.key });
      this.byPair.set(key, context);
      if (this.byPair.size > MAX_SCRIPT_CONTEXTS) this.byPair.delete(this.byPair.keys().next().value as string);
    }
    this.byAnswer.set(answer, context);
    return context;
  }

  /** The handshake is aborted (as OpenResty's `cert cb error`), with one error-log line. */
  private fail(err: unknown, remoteAddress: string, callback: SniCallback, what = 'failed'): void {
    const message = (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).split('\n')[0];
    const frame = (typeof (err as Error)?.stack === 'string' ? (err as Error).stack!.split('\n').find((l) => /^\s+at /.test(l))?.trim().slice(3) : '') ?? '';
    this.log.error(`ssl_certificate_by script "${this.script.name}" ${what}: ${message}${frame ? ` at ${frame}` : ''} while SSL handshaking, client: ${remoteAddress}`);
    callback(err instanceof Error ? err : new Error(message));
  }
}
