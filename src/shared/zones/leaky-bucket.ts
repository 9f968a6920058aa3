/**
 * nginx's leaky bucket (ngx_http_limit_req_module), in its own integer arithmetic: the excess
 * is counted in thousandths of a request, the rate in thousandths of a request per second, the
 * time in whole milliseconds. Pure: the caller gives the clock.
 */

/** One key's bucket: its excess (1/1000 requests) and when it was last accounted (ms). */
export interface Bucket {
  excess: number;
  last: number;
}

/**
 * The milliseconds since `last`, as nginx reads them: a clock that went back more than a
 * minute counts as 1 ms, a smaller step back as 0.
 */
export function elapsed(now: number, last: number): number {
  const ms = now - last;
  if (ms < -60000) return 1;
  return ms < 0 ? 0 : ms;
}

/** The excess a new request makes: what leaked since `last` taken off, one request added, never below 0. */
export function excessAfter(bucket: Bucket, rate: number, ms: number): number {
  const excess = bucket.excess - Math.floor((rate * ms) / 1000) + 1000;
  return excess < 0 ? 0 : excess;
}

/** How long a request with `excess` waits under `delay` (both 1/1000 requests) at `rate`: 0 when within `delay`. */
export function delayFor(excess: number, delay: number, rate: number): number {
  return excess <= delay ? 0 : Math.floor(((excess - delay) * 1000) / rate);
}

/** Whether an idle bucket may go (nginx's expiry of "zero rate entries"): a minute old and drained. */
export function drained(bucket: Bucket, rate: number, now: number): boolean {
  const ms = Math.abs(now - bucket.last);
  if (ms < 60000) return false;
  return bucket.excess - Math.floor((rate * ms) / 1000) <= 0;
}

/** `rate=Nr/s` or `Nr/m` as nginx keeps it: thousandths of a request per second (integer). */
export function zoneRate(requests: number, perMinute: boolean): number {
  return Math.floor((requests * 1000) / (perMinute ? 60 : 1));
}

/** An excess as nginx logs it: `1.500`. */
export function formatExcess(excess: number): string {
  return `${Math.floor(excess / 1000)}.${String(excess % 1000).padStart(3, '0')}`;
}
