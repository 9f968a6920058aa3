/**
 * TLS for `listen ... ssl`: one secure context per server block (the ssl module's), and SNI
 * choosing among them by the same name rules as `server_name`; a server with
 * `ssl_certificate_by` runs its script there (OpenResty's ssl_certificate_by_lua), and a key
 * pair it answers becomes a secure context made once per pair.
 */
import tls from 'node:tls';
import type { ServerConf } from '../config/model';
import { createServerContext, secureContextOptions, type CertificateRef, type SslConf } from '../modules/ssl/contexts';
import { sslModule } from '../modules/ssl/module';
import type { CertificateAnswer, Logger } from '../types';
import { normalizeHost, type ServerTable } from './router';

/** Secure contexts made from scripts' key pairs, per server: past this many, the oldest goes. */
const MAX_SCRIPT_CONTEXTS = 1000;

/**
 * The `tls.Server` options of one listening socket: the default server's key pair for clients
 * without SNI, and an SNI callback picking the server by name as `server_name` does.
 * `logOf` gives a server's error log (a script's failure is written there).
 */
export function listenerTlsOptions(table: ServerTable, servers: readonly ServerConf[], logOf: (server: ServerConf) => Logger): tls.TlsOptions {
  const contexts = new Map(servers.map((server) => [server, createServerContext(server.confs.get(sslModule))]));
  const scripted = new Map(
    servers.flatMap((server) => {
      const conf = server.confs.get(sslModule);
      return conf.sslCertificateBy ? [[server, new CertificateScriptRunner(conf, conf.sslCertificateBy, contexts.get(server)!, logOf(server))] as const] : [];
    }),
  );
  return {
    ...secureContextOptions(table.defaultServer.confs.get(sslModule)),
    SNICallback(this: tls.TLSSocket | undefined, servername, callback) {
      let host: string | null;
      try {
        host = normalizeHost(servername);
      } catch {
        host = null;
      }
      const server = table.select(host).server;
      const runner = scripted.get(server);
      if (runner) return runner.context(host ?? servername.toLowerCase(), this?.remoteAddress ?? '', callback);
      callback(null, contexts.get(server) ?? contexts.get(table.defaultServer));
    },
  };
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
