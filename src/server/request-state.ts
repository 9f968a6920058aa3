/**
 * The per-request object behind `RequestContext`: built once the server and location are
 * chosen, read by handlers, variables and the access log.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LocationConf, ServerConf } from '../config/model';
import type { FilterConf, FilterState } from './filters';
import type { Logger, RequestContext } from '../types';
import { variableGetter } from '../http/variables';

/** One request's state; `location` and `filters` are set once matching is done. */
export class RequestState implements RequestContext, FilterState {
  readonly startTime = performance.now();
  location!: LocationConf;
  filters!: FilterConf;
  overrideStatus = 0;
  /** Internal redirects left (nginx allows 10; the 11th is a 500). */
  uriChanges = 11;
  /** try_files found a file in a regex location with `alias`: the alias gets `$uri` appended. */
  aliasTakesUri = false;
  /** Set once an `error_page` redirect happened: a second error gets the built-in page. */
  errorPageDone = false;
  captures: readonly string[] = [];
  namedCaptures: Readonly<Record<string, string>> = {};
  bodyBytesSent = 0;
  status = 0;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  private id: string | null = null;

  constructor(
    readonly req: IncomingMessage,
    /** The response; null while an upgrade is being routed. */
    public res: ServerResponse | null,
    readonly server: ServerConf,
    public uri: string,
    public args: string,
    readonly host: string,
    readonly scheme: string,
    readonly log: Logger,
  ) {
    const socket = req.socket;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
  }

  /** `$request_id`: 16 random bytes in hex, made when first asked for. */
  get requestId(): string {
    return (this.id ??= randomBytes(16).toString('hex'));
  }

  variable(name: string): string {
    const getter = variableGetter(name, new Set(Object.keys(this.namedCaptures)));
    return getter ? getter(this) : '';
  }
}
