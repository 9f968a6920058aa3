/**
 * `expires`: the parser and the header values as tables, then the filter end to end with the
 * gateway as a process, against what nginx 1.22 answers for the same configuration.
 */
import { utimesSync } from 'node:fs';
import path from 'node:path';
import { expiresHeaders, parseExpires } from '../src/modules/headers/expires';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

const NOW = Date.UTC(2026, 10, 23, 21, 20, 0) / 1000;
const LAST_MODIFIED = Date.UTC(2020, 0, 1) / 1000;

describe('parseExpires', () => {
  test.each([
    [['off'], { kind: 'off' }],
    [['epoch'], { kind: 'epoch' }],
    [['max'], { kind: 'max' }],
    [['1h'], { kind: 'access', seconds: 3600 }],
    [['+1h 30m'], { kind: 'access', seconds: 5400 }],
    [['-1'], { kind: 'access', seconds: -1 }],
    [['0'], { kind: 'access', seconds: 0 }],
    [['modified', '2d'], { kind: 'modified', seconds: 172800 }],
    [['@15h30m'], { kind: 'daily', seconds: 55800 }],
    [['$arg_e'], { kind: 'variable', template: '$arg_e', modified: false }],
  ])('%j', (args, conf) => expect(parseExpires(args)).toEqual(conf));

  test.each([
    [['modified', 'max'], '"expires" directive invalid value'],
    [['soon'], '"expires" directive invalid value'],
    [['500ms'], '"expires" directive invalid value'],
    [['1h', '2h'], '"expires" directive invalid value'],
    [['@25h'], '"expires" directive daily time value must be less than 24 hours'],
    [['modified', '@1h'], '"expires" directive daily time cannot be used with "modified" parameter'],
    [[], 'invalid number of arguments in "expires" directive'],
  ])('%j is refused as nginx refuses it', (args, message) => expect(() => parseExpires(args)).toThrow(message));
});

describe('expiresHeaders (nginx 1.22 answers, at 2026-11-23 21:20:00 GMT)', () => {
  test.each([
    [{ kind: 'access', seconds: 3600 }, null, 'Mon, 23 Nov 2026 22:20:00 GMT', 'max-age=3600'],
    [{ kind: 'access', seconds: -1 }, null, 'Mon, 23 Nov 2026 21:19:59 GMT', 'no-cache'],
    [{ kind: 'access', seconds: 0 }, null, 'Mon, 23 Nov 2026 21:20:00 GMT', 'max-age=0'],
    [{ kind: 'epoch' }, null, 'Thu, 01 Jan 1970 00:00:01 GMT', 'no-cache'],
    [{ kind: 'max' }, null, 'Thu, 31 Dec 2037 23:55:55 GMT', 'max-age=315360000'],
    // modified: from Last-Modified; a date in the past gives no-cache.
    [{ kind: 'modified', seconds: 3600 }, LAST_MODIFIED, 'Wed, 01 Jan 2020 01:00:00 GMT', 'no-cache'],
    [{ kind: 'modified', seconds: -2 * 86400 }, LAST_MODIFIED, 'Mon, 30 Dec 2019 00:00:00 GMT', 'no-cache'],
    [{ kind: 'modified', seconds: 86400 }, NOW - 3600, 'Tue, 24 Nov 2026 20:20:00 GMT', 'max-age=82800'],
    // modified without a Last-Modified counts from the access.
    [{ kind: 'modified', seconds: 60 }, null, 'Mon, 23 Nov 2026 21:21:00 GMT', 'max-age=60'],
  ] as const)('%j, last modified %s', (conf, lastModified, expires, cacheControl) => {
    expect(expiresHeaders(conf, NOW, lastModified)).toEqual({ expires, cacheControl });
  });

  test('daily: the next such time of day, local time', () => {
    const headers = expiresHeaders({ kind: 'daily', seconds: 15 * 3600 }, NOW, null)!;
    const next = Date.parse(headers.expires) / 1000;
    expect(next).toBeGreaterThan(NOW);
    expect(next - NOW).toBeLessThanOrEqual(86400 + 3600);
    expect(new Date(next * 1000).getHours()).toBe(15);
    expect(headers.cacheControl).toBe(`max-age=${next - NOW}`);
  });
  test('off sets nothing', () => expect(expiresHeaders({ kind: 'off' }, NOW, null)).toBeNull());
});

const SITE = `
error_log: stderr notice
pid: off
http:
  access_log: "off"
  default_type: text/plain
  expires: 1h
  servers:
    - listen: "127.0.0.1:0"
      root: site
      locations:
        - { location: /max/, expires: max, add_header: "Cache-Control public" }
        - { location: /modified/, expires: modified 1d }
        - { location: /epoch/, expires: epoch }
        - { location: /off/, expires: "off" }
        - { location: /var/, expires: $arg_e }
        - { location: = /gone, return: 410 }
        - { location: = /moved, return: "302 /elsewhere" }
        - { location: = /created, return: "201 made" }
        - { location: /, add_header: "Cache-Control private" }
`;

describe('expires end to end', () => {
  let gw: GatewayProcess;
  let port: number;
  const files = { 'site/a.txt': 'a\n', 'site/max/a.txt': 'a\n', 'site/modified/a.txt': 'a\n', 'site/epoch/a.txt': 'a\n', 'site/off/a.txt': 'a\n', 'site/var/a.txt': 'a\n' };
  beforeAll(async () => {
    gw = await startGateway(SITE, { files });
    port = gw.ports[0];
    const old = new Date(Date.UTC(2020, 0, 1));
    utimesSync(path.join(gw.prefix, 'site/modified/a.txt'), old, old);
  });
  afterAll(() => gw.stop());

  const cacheHeaders = async (uri: string, headers: Record<string, string> = {}) => {
    const r = await request(port, uri, { headers });
    return [r.status, r.headers.expires, r.headers['cache-control']];
  };
  const inAnHour = () => new Date(Math.floor(Date.now() / 1000) * 1000 + 3600_000).toUTCString();

  test('inherited from http: a time from now, beside add_header', async () => {
    const r = await request(port, '/a.txt');
    expect(r.status).toBe(200);
    expect([inAnHour(), new Date(Date.now() + 3599_000).toUTCString()]).toContain(r.headers.expires);
    // expires first, then add_header's own Cache-Control line, as nginx sends them.
    expect(r.rawHeaders.filter((_, i, all) => i % 2 === 0 && all[i].toLowerCase() === 'cache-control').length).toBe(2);
    expect(r.headers['cache-control']).toBe('max-age=3600, private');
  });
  test('max, epoch, modified, off', async () => {
    expect(await cacheHeaders('/max/a.txt')).toEqual([200, 'Thu, 31 Dec 2037 23:55:55 GMT', 'max-age=315360000, public']);
    expect(await cacheHeaders('/epoch/a.txt')).toEqual([200, 'Thu, 01 Jan 1970 00:00:01 GMT', 'no-cache']);
    expect(await cacheHeaders('/modified/a.txt')).toEqual([200, 'Thu, 02 Jan 2020 00:00:00 GMT', 'no-cache']);
    expect(await cacheHeaders('/off/a.txt')).toEqual([200, undefined, undefined]);
  });
  test('a value with variables is read per request; a value that does not parse sets nothing', async () => {
    expect(await cacheHeaders('/var/a.txt?e=epoch')).toEqual([200, 'Thu, 01 Jan 1970 00:00:01 GMT', 'no-cache']);
    expect(await cacheHeaders('/var/a.txt?e=soon')).toEqual([200, undefined, undefined]);
  });
  test('only on 200, 201, 204, 206, 301, 302, 303, 304, 307, 308', async () => {
    expect((await cacheHeaders('/created'))[2]).toBe('max-age=3600');
    expect((await cacheHeaders('/moved'))[2]).toBe('max-age=3600');
    expect((await cacheHeaders('/a.txt', { Range: 'bytes=0-0' }))[0]).toBe(206);
    const lm = (await request(port, '/a.txt')).headers['last-modified']!;
    expect(await cacheHeaders('/a.txt', { 'If-Modified-Since': lm })).toEqual([304, expect.any(String), 'max-age=3600, private']);
    expect(await cacheHeaders('/gone')).toEqual([410, undefined, undefined]);
    expect(await cacheHeaders('/missing.txt')).toEqual([404, undefined, undefined]);
  });
});
