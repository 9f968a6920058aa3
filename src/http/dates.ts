/** HTTP dates: formatting (memoized per second) and the three formats nginx parses. */

/** The last date httpDate() formatted: a hot file's Last-Modified is the same every time. */
let lastDateSeconds = NaN;
let lastDate = '';

/** An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) from seconds since the epoch. */
export function httpDate(seconds: number): string {
  if (seconds !== lastDateSeconds) {
    lastDate = new Date(seconds * 1000).toUTCString();
    lastDateSeconds = seconds;
  }
  return lastDate;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const RFC1123 = /^[A-Za-z]{3}, (\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2})(?: GMT)?$/;
const RFC850 = /^[A-Za-z]+, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?: GMT)?$/;
const ASCTIME = /^[A-Za-z]{3} ([A-Za-z]{3}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * Parses the three HTTP date formats nginx accepts (RFC 1123, RFC 850, asctime), always GMT.
 * Returns seconds since the epoch, or null for anything else.
 */
export function parseHttpDate(text: string): number | null {
  const value = text.trim();
  let m = RFC1123.exec(value);
  if (m) return utcSeconds(+m[3], m[2], +m[1], +m[4], +m[5], +m[6]);
  m = RFC850.exec(value);
  if (m) {
    const year = 1900 + +m[3];
    return utcSeconds(year < 1970 ? year + 100 : year, m[2], +m[1], +m[4], +m[5], +m[6]);
  }
  m = ASCTIME.exec(value);
  if (m) return utcSeconds(+m[6], m[1], +m[2], +m[3], +m[4], +m[5]);
  return null;
}

function utcSeconds(year: number, month: string, day: number, h: number, min: number, s: number): number | null {
  const mon = MONTHS.indexOf(month.toLowerCase());
  if (mon < 0 || day < 1 || day > 31 || h > 23 || min > 59 || s > 59) return null;
  return Date.UTC(year, mon, day, h, min, s) / 1000;
}
