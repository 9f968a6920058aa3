/**
 * A regex of the configuration meets what clients send (`rewrite`, `if`, `location ~`,
 * `server_name ~`): one that backtracks exponentially (`^/(a+)+$` against `/aaa...a!`) would
 * hold a worker for minutes. nginx's PCRE stops at its match limit (a 500 and an alert line);
 * V8 is told here, once per process, to finish such a match with its linear-time engine
 * instead, with the same result. A regex that engine cannot run (backreferences, lookarounds)
 * keeps the backtracking one.
 */
import { setFlagsFromString } from 'node:v8';

/** Sets V8's fallback to the linear-time regex engine after excessive backtracking (50,000 backtracks, V8's default). */
export function boundRegexBacktracking(): void {
  setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
}
