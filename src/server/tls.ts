/**
 * TLS for `listen ... ssl`: one secure context per server block (the ssl module's), and SNI
 * choosing among them by the same name rules as `server_name`.
 */
import type tls from 'node:tls';
import type { ServerConf } from '../config/model';
import { createServerContext, secureContextOptions } from '../modules/ssl/contexts';
import { sslModule } from '../modules/ssl/module';
import { normalizeHost, type ServerTable } from './router';

/**
 * The `tls.Server` options of one listening socket: the default server's key pair for clients
 * without SNI, and an SNI callback picking the server by name as `server_name` does.
 */
export function listenerTlsOptions(table: ServerTable, servers: readonly ServerConf[]): tls.TlsOptions {
  const contexts = new Map(servers.map((server) => [server, createServerContext(server.confs.get(sslModule))]));
  return {
    ...secureContextOptions(table.defaultServer.confs.get(sslModule)),
    SNICallback(servername, callback) {
      let host: string | null;
      try {
        host = normalizeHost(servername);
      } catch {
        host = null;
      }
      callback(null, contexts.get(table.select(host).server) ?? contexts.get(table.defaultServer));
    },
  };
}
