/**
 * Turns case tables into jest tests: one `describe` per site (nginx and the gateway started
 * once for it), one `test` per request, titled by what it asks, failing with the aspects
 * that differ. Documented differences (`differs`) are checked to still differ; everything
 * else of that response must match. No response may ever carry the secret outside the root.
 */
import { lstatSync, lutimesSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { exchange, requestBytes, type RequestSpec } from './client';
import { aspectsOf, differences, judge, type Aspect } from './compare';
import { SECRET, startPair, type Pair, type Side, type SiteFile } from './pair';
import type { SiteModel } from './site';

/** Every file and directory of a site gets this mtime: Tue, 14 Nov 2023 22:13:20 GMT. */
export const FIXED_MTIME = 1_700_000_000;
/** FIXED_MTIME as an HTTP date. */
export const FIXED_DATE = new Date(FIXED_MTIME * 1000).toUTCString();

/** One request of a case and what is known of it. */
export interface ParityRequest extends RequestSpec {
  /** What the request checks: the start of the test's title. */
  readonly name: string;
  /**
   * A documented difference, aspect -> why (one of `differences.ts`): those aspects may
   * differ, at least one must (else the marker is stale), all others must match.
   */
  readonly differs?: Readonly<Partial<Record<Aspect, string>>>;
  /** Both servers must refuse it: a status of 400 or more, or no response at all. */
  readonly refused?: boolean;
}

/** One site and the requests sent to it. */
export interface ParityCase {
  readonly title: string;
  /** The site, or what makes it once the suite's own peers run (a backend's port for `proxy_pass`). */
  readonly site: SiteModel | (() => SiteModel);
  /** Files under the shared prefix (`www/index.html`, ...). */
  readonly files?: Readonly<Record<string, SiteFile>>;
  readonly requests: readonly ParityRequest[];
  /** Why this case cannot run on this machine (IPv6 loopback missing): a visible skip. */
  readonly unavailable?: string;
}

/** Sets FIXED_MTIME on everything under `dir` (symlinks themselves, not their targets). */
function fixTimes(dir: string): void {
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (lstatSync(file).isDirectory()) fixTimes(file);
    lutimesSync(file, FIXED_MTIME, FIXED_MTIME);
  }
  lutimesSync(dir, FIXED_MTIME, FIXED_MTIME);
}

/** The test title: the name, then the request line (a long target is cut) and Host. */
function titleOf(r: ParityRequest): string {
  if (r.raw !== undefined) return `${r.name}: raw ${JSON.stringify(String(r.raw).slice(0, 60))}`;
  const target = r.target ?? '/';
  const shown = target.length > 60 ? `${target.slice(0, 40)}... (${target.length} chars)` : target;
  const host = r.host === undefined ? '' : r.host === null ? ' (no Host)' : ` (Host ${r.host})`;
  const headers = Object.entries(r.headers ?? {})
    .map(([k, v]) => ` ${k}: ${v.length > 40 ? `${v.slice(0, 30)}...` : v}`)
    .join(';');
  return `${r.name}: ${r.method ?? 'GET'} ${shown}${r.version && r.version !== 'HTTP/1.1' ? ` ${r.version}` : ''}${host}${headers}`;
}

const refusedStatus = (status: string) => status === 'no response' || Number(status) >= 400;

/** Sends one request to both servers and returns the problems found. */
async function check(pair: Pair, r: ParityRequest): Promise<string[]> {
  const bytes = requestBytes(r);
  const slot = r.slot ?? 0;
  const isHead = (r.method ?? 'GET') === 'HEAD' || (r.raw !== undefined && String(r.raw).startsWith('HEAD '));
  const send = (side: Side, request: Buffer) => exchange(side.hosts[slot], side.ports[slot], request, isHead && request === bytes, r.halfClose);
  const [n, g] = await Promise.all([send(pair.nginx, bytes), send(pair.gateway, bytes)]);
  // A HEAD's built-in page has no body to normalize: the same request as a GET shows it.
  const twinBytes = isHead && r.raw === undefined ? requestBytes({ ...r, method: 'GET' }) : null;
  const [nTwin, gTwin] = twinBytes ? await Promise.all([send(pair.nginx, twinBytes), send(pair.gateway, twinBytes)]) : [];
  const nginx = aspectsOf(n, pair.nginx, nTwin);
  const gateway = aspectsOf(g, pair.gateway, gTwin);
  const problems = judge(differences(nginx, gateway), r.differs);
  if (g.body.includes(SECRET)) problems.push('gateway: the response carries the secret file outside the root');
  if (n.body.includes(SECRET) && !r.differs?.body) problems.push('nginx: the response carries the secret file (the case is wrong)');
  if (r.refused) {
    if (!refusedStatus(gateway.get('status')!)) problems.push(`gateway: not refused (${gateway.get('status')})`);
    if (!refusedStatus(nginx.get('status')!) && !r.differs?.status) problems.push(`nginx: not refused (${nginx.get('status')})`);
  }
  return problems;
}

/** Defines the jest tests of `cases`. */
export function defineParityCases(cases: readonly ParityCase[]): void {
  for (const c of cases) {
    describe(c.title, () => {
      if (c.unavailable) {
        for (const r of c.requests) test.skip(`${titleOf(r)} [not run: ${c.unavailable}]`, () => undefined);
        return;
      }
      let pair: Pair;
      beforeAll(async () => {
        pair = await startPair(typeof c.site === 'function' ? c.site() : c.site, c.files ?? {}, fixTimes);
      });
      afterAll(() => pair?.stop());
      for (const r of c.requests) {
        test(titleOf(r), async () => {
          const problems = await check(pair, r);
          if (problems.length) throw new Error(`nginx and the gateway differ:\n  ${problems.join('\n  ')}`);
        });
      }
    });
  }
}
