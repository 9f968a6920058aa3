/**
 * The run-time side of `resolver`: a host name asked for by a `proxy_pass` with variables,
 * resolved through the configured name servers (Node's dns `Resolver` with `setServers`, one
 * try of `resolver_timeout`), kept for its TTL (or `valid=`), one query per name at a time,
 * and a failure in nginx's words (`NAME could not be resolved (3: Host not found)`).
 */
import { promises as dns } from 'node:dns';
import type { ResolverConf } from './module';

/** A name that could not be resolved: nginx's code and words (`ngx_resolver_strerror`). */
export class ResolveError extends Error {
  constructor(
    readonly host: string,
    /** nginx's state: 1 format error, 2 server failure, 3 not found, 4 unimplemented, 5 refused, 110 timed out. */
    readonly state: number,
    text: string,
  ) {
    super(`${host} could not be resolved (${state}: ${text})`);
  }
}

/** Node's dns error codes as nginx's resolver states. */
const STATES: Readonly<Record<string, readonly [number, string]>> = {
  EFORMERR: [1, 'Format error'],
  EBADRESP: [1, 'Format error'],
  ESERVFAIL: [2, 'Server failure'],
  ENOTFOUND: [3, 'Host not found'],
  ENODATA: [3, 'Host not found'],
  ENOTIMP: [4, 'Unimplemented'],
  EREFUSED: [5, 'Operation refused'],
  ETIMEOUT: [110, 'Operation timed out'],
  ECONNREFUSED: [110, 'Operation timed out'],
};

interface Answer {
  readonly addresses: readonly string[];
  readonly expires: number;
}

/** Answers kept at most (the oldest go first). */
const MAX_NAMES = 1024;

/** One `resolver` directive's name servers, with its cache; shared by the locations that inherit it. */
export class NameResolver {
  private readonly dns: dns.Resolver;
  private readonly answers = new Map<string, Answer>();
  private readonly pending = new Map<string, Promise<readonly string[]>>();
  /** Round robin over a name's addresses, as nginx's peers made of them. */
  private turn = 0;

  constructor(
    private readonly conf: ResolverConf,
    timeoutMs: number,
  ) {
    this.dns = new dns.Resolver({ timeout: timeoutMs, tries: 1 });
    this.dns.setServers([...conf.servers]);
  }

  /** One address of `host` (the next one each time); rejects with a `ResolveError`. */
  async address(host: string): Promise<string> {
    const addresses = await this.resolve(host);
    return addresses[this.turn++ % addresses.length];
  }

  /** Every address of `host`, from the cache while it is valid. */
  resolve(host: string): Promise<readonly string[]> {
    const name = host.toLowerCase();
    const known = this.answers.get(name);
    if (known && known.expires > Date.now()) return Promise.resolve(known.addresses);
    let query = this.pending.get(name);
    if (!query) {
      query = this.query(name).finally(() => this.pending.delete(name));
      this.pending.set(name, query);
    }
    return query;
  }

  /** Stops the queries in flight (a worker shutting down). */
  close(): void {
    this.dns.cancel();
  }

  private async query(name: string): Promise<readonly string[]> {
    const [v4, v6] = await Promise.allSettled([this.dns.resolve4(name, { ttl: true }), this.conf.ipv6 ? this.dns.resolve6(name, { ttl: true }) : Promise.resolve([])]);
    const records = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (records.length === 0) {
      const failure = (v4.status === 'rejected' ? v4.reason : v6.status === 'rejected' ? v6.reason : { code: 'ENODATA' }) as NodeJS.ErrnoException;
      const [state, text] = STATES[failure.code ?? ''] ?? [3, 'Host not found'];
      throw new ResolveError(name, state, text);
    }
    const ttl = this.conf.valid ?? Math.min(...records.map((r) => r.ttl)) * 1000;
    this.remember(name, { addresses: records.map((r) => r.address), expires: Date.now() + ttl });
    return records.map((r) => r.address);
  }

  private remember(name: string, answer: Answer): void {
    this.answers.delete(name);
    this.answers.set(name, answer);
    if (this.answers.size > MAX_NAMES) this.answers.delete(this.answers.keys().next().value as string);
  }
}

const resolvers = new WeakMap<ResolverConf, Map<number, NameResolver>>();

/** The resolver of a `resolver` directive and timeout, made once and shared by every location that inherits them. */
export function nameResolver(conf: ResolverConf, timeoutMs: number): NameResolver {
  let byTimeout = resolvers.get(conf);
  if (!byTimeout) resolvers.set(conf, (byTimeout = new Map()));
  let resolver = byTimeout.get(timeoutMs);
  if (!resolver) byTimeout.set(timeoutMs, (resolver = new NameResolver(conf, timeoutMs)));
  return resolver;
}
