/**
 * The shared zones' vocabulary, as plain data (it crosses the cluster channel): what a zone is,
 * what a check asks and what it answers.
 */
import type { ZoneKind } from './sizing';

/** A declared zone (`limit_req_zone`, `limit_conn_zone`). */
export interface ZoneSpec {
  readonly name: string;
  readonly kind: ZoneKind;
  /** The declared size, bytes. */
  readonly size: number;
  /** limit_req: thousandths of a request per second; 0 for limit_conn. */
  readonly rate: number;
  /** The key as written (`$binary_remote_addr`). */
  readonly key: string;
}

/** One `limit_req` of a location, with this request's key ('' is not accounted). */
export interface ReqLimit {
  readonly zone: string;
  readonly key: string;
  /** `burst`, in thousandths of a request. */
  readonly burst: number;
  /** `delay` (or `nodelay`: very large), in thousandths of a request. */
  readonly delay: number;
}

/** What the location's `limit_req`s say of a request. */
export type ReqOutcome =
  /** No key to account (every key empty). */
  | { readonly kind: 'declined' }
  | { readonly kind: 'passed' }
  /** Accounted, to wait `delayMs`; `excess` and `zone` for the log line. */
  | { readonly kind: 'delayed'; readonly delayMs: number; readonly excess: number; readonly zone: string }
  /** Over the burst of `zone`. */
  | { readonly kind: 'busy'; readonly excess: number; readonly zone: string }
  /** No room for a new node in `zone`. */
  | { readonly kind: 'nomem'; readonly zone: string };

/** One `limit_conn` of a location, with this request's key ('' is not counted). */
export interface ConnLimit {
  readonly zone: string;
  readonly key: string;
  readonly conn: number;
}

/** A slot held in a zone, given back when the request ends. */
export interface ConnSlot {
  readonly zone: string;
  readonly key: string;
  /** Where it is held: `redis`, or this gateway's own store (`local`). */
  readonly where: 'local' | 'redis';
  /**
   * Local slots: the zone they were taken in (a zone made anew by a reload that changed its
   * size is another zone: a slot of the old one is not given back to it).
   */
  readonly epoch?: number;
}

/** What the location's `limit_conn`s say of a request. */
export type ConnOutcome =
  /** Every slot taken (none when every key was empty). */
  | { readonly kind: 'passed'; readonly slots: readonly ConnSlot[]; readonly counted: boolean }
  /** `zone` is at its limit: nothing is held. */
  | { readonly kind: 'busy'; readonly zone: string }
  /** No room for a new node in `zone`: nothing is held. */
  | { readonly kind: 'nomem'; readonly zone: string };

/** Where zones live: this process's store, the master's (over the cluster channel) or Redis. */
export interface ZoneBackend {
  /** Makes sure the zones exist (same name, kind and size: kept as they are; else made anew). */
  declare(specs: readonly ZoneSpec[]): Promise<void>;
  limitReq(limits: readonly ReqLimit[]): Promise<ReqOutcome>;
  acquireConn(limits: readonly ConnLimit[]): Promise<ConnOutcome>;
  releaseConn(slots: readonly ConnSlot[]): void;
  close(): Promise<void>;
}
