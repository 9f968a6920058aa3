/**
 * The pure readings behind the upstream's X-Accel-* headers, as tables: ngx_atoi of
 * `X-Accel-Limit-Rate`, the last line of each header, `proxy_ignore_headers`, a Content-Type as
 * nginx's upstream copy reads it, and what the charset filter makes of an override charset
 * (the cases nginx 1.22 answered in test/parity/proxy-accel.test.ts, and those a response
 * cannot show: the error lines).
 */
import { accelActions, accelHeadersOf, rateOf } from '../src/modules/proxy/accel-headers';
import { applyOverride, parseContentType } from '../src/modules/charset/override';

describe('X-Accel-Limit-Rate, X-Accel-Charset, X-Accel-Buffering', () => {
  test.each([
    ['1000', '1000'],
    ['0900', '900'],
    ['0', '0'],
    ['9223372036854775807', '9223372036854775807'],
    ['9223372036854775808', null],
    ['10k', null],
    ['-5', null],
    ['+7', null],
    ['1e3', null],
    ['', null],
    [' 5', null],
  ])('rate %j: %j', (value, rate) => {
    expect(rateOf(value)).toBe(rate);
  });

  test('the last valid line of each; what proxy_ignore_headers names is not read', () => {
    const raw = ['X-Accel-Limit-Rate', '500', 'x-accel-limit-rate', 'fast', 'X-Accel-Charset', 'koi8-r', 'X-ACCEL-CHARSET', 'utf-8', 'X-Accel-Buffering', 'no', 'X-Accel-Buffering', 'maybe', 'X-Accel-Expires', '5'];
    expect(accelHeadersOf(raw, accelActions([]))).toEqual({ limitRate: '500', charset: 'utf-8', buffering: false });
    expect(accelHeadersOf(raw, accelActions(['x-accel-limit-rate', 'x-accel-charset', 'x-accel-buffering']))).toEqual({ limitRate: null, charset: null, buffering: null });
    expect(accelHeadersOf(['X-Accel-Charset', 'utf-8', 'X-Accel-Charset', ''], accelActions([])).charset).toBe('');
  });
});

describe('an override charset', () => {
  test.each([
    ['text/plain', 'text/plain', ''],
    ['text/html; charset=UTF-8', 'text/html', 'UTF-8'],
    ['text/html; level=1; charset="Utf-8"', 'text/html; level=1', 'Utf-8'],
    ['text/html;charset=x; q=1', 'text/html', 'x; q=1'],
    ['text/plain; format=flowed', 'text/plain; format=flowed', ''],
    ['text/plain;', 'text/plain;', ''],
  ])('Content-Type %j: type %j, charset %j', (value, type, charset) => {
    const parsed = parseContentType(value);
    expect([value.slice(0, parsed.typeLength), parsed.charset]).toEqual([type, charset]);
  });

  const known = new Set(['utf-8', 'koi8-r', 'windows-1251']);
  const base = { status: 200, sourceCharset: null, known, encoded: false };
  test.each([
    ['text/plain', 'utf-8', {}, 'text/plain; charset=utf-8', null],
    ['application/octet-stream', 'UTF-8', {}, 'application/octet-stream; charset=UTF-8', null],
    ['text/html; charset=UTF-8', 'utf-8', {}, 'text/html; charset=utf-8', null],
    ['text/html; charset=windows-1251', 'utf-8', {}, null, 'no "charset_map" between the charsets "windows-1251" and "utf-8"'],
    ['text/html; charset=windows-1251', 'utf-8', { encoded: true }, null, null],
    ['text/html; charset=x-other', 'utf-8', { encoded: true }, null, 'no "charset_map" between the charsets "x-other" and "utf-8"'],
    ['text/plain', 'x-unknown', {}, null, 'unknown charset "x-unknown" to override'],
    ['text/plain', 'utf-8', { sourceCharset: 'koi8-r' }, null, 'no "charset_map" between the charsets "koi8-r" and "utf-8"'],
    ['text/plain', 'KOI8-R', { sourceCharset: 'koi8-r' }, 'text/plain; charset=KOI8-R', null],
    ['text/html; charset=utf-8', 'utf-8', { status: 302 }, 'text/html', null],
    ['text/html', 'utf-8', { status: 301 }, null, null],
    ['text/html; charset=', 'utf-8', {}, null, null],
  ])('%j with %j %j: %j, error %j', (contentType, charset, more, written, error) => {
    expect(applyOverride({ ...base, ...more, contentType, charset })).toEqual({ contentType: written, error });
  });
});
