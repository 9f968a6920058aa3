/**
 * nginx's ngx_http_ssl_module directives: a server's key pair, protocols and ciphers. A server
 * on a socket that speaks TLS must have a certificate that loads: checked with the
 * configuration (`gateway -t` loads every one), read again when a worker starts.
 */
import { argsOf, prefixPath, text } from '../../config/args';
import { row, type ConfModule } from '../../config/module';
import { createServerContext, TLS_PROTOCOLS, type SslConf } from './contexts';
import { parseScriptRef } from '../../shared/script-loader';

export type { SslConf };

export const sslModule: ConfModule<SslConf> = {
  name: 'ssl',
  directives: {
    ssl_certificate: row(['http', 'server'], prefixPath),
    ssl_certificate_key: row(['http', 'server'], prefixPath),
    ssl_protocols: row(['http', 'server'], (n, cx) => {
      const args = argsOf(n, cx);
      for (const arg of args) if (!(TLS_PROTOCOLS as readonly string[]).includes(arg)) cx.fail(`invalid value "${arg}" in "ssl_protocols" directive`, n);
      return args;
    }),
    ssl_ciphers: row(['http', 'server'], text),
    ssl_certificate_by: row(['http', 'server'], (n, cx) => parseScriptRef(n, cx, 'ssl_certificate_by')),
  },
  defaults: () => ({ sslCertificate: null, sslCertificateKey: null, sslProtocols: ['TLSv1.2', 'TLSv1.3'], sslCiphers: 'HIGH:!aNULL:!MD5', sslCertificateBy: null }),
  checkServers(servers, fail) {
    // Sockets some server listens on with `ssl`: a Set, since servers x listens x servers x listens
    // took minutes for a server of 50,000 listens.
    const sslKeys = new Set(servers.flatMap((s) => s.listens.filter((l) => l.ssl).map((l) => l.key)));
    for (const server of servers) {
      if (!server.listens.some((l) => sslKeys.has(l.key))) continue;
      const conf = server.confs.get(sslModule);
      if (!conf.sslCertificate) fail(`no "ssl_certificate" is defined for the "listen ... ssl" directive`, server.position);
      try {
        createServerContext(conf);
      } catch (err) {
        fail((err as Error).message, server.position);
      }
    }
  },
};
