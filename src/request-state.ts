/**
 * The per-request object behind `RequestContext`: built once the server and location are
 * chosen, read by handlers, variables and the access log.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LocationConf, ServerConf } from './config/model';
import type { Logger, RequestContext } from './types';
import { variableGetter, type VariableSource } from './variables';

/** One request's state; `location` is set once matching is done. */
export class RequestState implements RequestContext, VariableSource {
  readonly startTime = performance.now();
  location!: LocationConf;
  captures: readonly string[] = [];
  namedCaptures: Readonly<Record<string, string>> = {};
  bodyBytesSent = 0;
  status = 0;
  private id: string | null = null;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse | null,
    readonly server: ServerConf,
    readonly uri: string,
    readonly args: string,
    readonly host: string,
    readonly scheme: string,
    readonly log: Logger,
  ) {}

  /** `$request_id`: 16 random bytes in hex, made when first asked for. */
  get requestId(): string {
    return (this.id ??= randomBytes(16).toString('hex'));
  }

  variable(name: string): string {
    const getter = variableGetter(name, new Set(Object.keys(this.namedCaptures)));
    return getter ? getter(this) : '';
  }
}
