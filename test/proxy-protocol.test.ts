/**
 * The PROXY protocol header (`listen ... proxy_protocol`), read as nginx 1.22 reads it: v1
 * text and v2 binary, what is taken (addresses as nginx writes them, the header's length),
 * what is skipped (UNKNOWN, LOCAL, other transports and families) and what closes the
 * connection, with nginx's error line or none.
 */
import { inet6Text } from '../src/http/inet-text';
import { readProxyHeader } from '../src/http/proxy-protocol';

const SIG = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');

/** A v2 header: version/command byte, family/transport byte, then `body` (its length unless told). */
function v2(versionCommand: number, familyTransport: number, body: Buffer, length = body.length): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = versionCommand;
  fixed[1] = familyTransport;
  fixed.writeUInt16BE(length, 2);
  return Buffer.concat([SIG, fixed, body]);
}

const inet4Body = Buffer.from([192, 0, 2, 1, 198, 51, 100, 7, 0x04, 0x57, 0x01, 0xbb]); // 1111, 443
const inet6Body = Buffer.concat([Buffer.from('20010db8000000000000000000000001', 'hex'), Buffer.from('20010db8000000000000000000000002', 'hex'), Buffer.from([0x08, 0xae, 0x20, 0xfb])]); // 2222, 8443

describe('v1', () => {
  test.each([
    ['PROXY TCP4 192.0.2.1 198.51.100.7 1111 443\r\nGET /', { sourceAddress: '192.0.2.1', sourcePort: 1111, destinationAddress: '198.51.100.7', destinationPort: 443 }],
    ['PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n', { sourceAddress: '2001:db8::1', sourcePort: 0, destinationAddress: '2001:db8::2', destinationPort: 65535 }],
    // nginx keeps the text as sent: realip reads it as an address later
    ['PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n', { sourceAddress: '01.2.3.4', sourcePort: 1, destinationAddress: '5.6.7.8', destinationPort: 2 }],
  ])('%j is read', (text, addresses) => {
    expect(readProxyHeader(Buffer.from(text, 'latin1'))).toEqual({ ok: true, length: text.indexOf('\n') + 1, addresses });
  });

  test('PROXY UNKNOWN is skipped to its CRLF, without addresses', () => {
    expect(readProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nGET', 'latin1'))).toEqual({ ok: true, length: 35, addresses: null });
  });

  test.each([
    'GET / HTTP/1.1\r\n\r\n',
    'PROXY TCP4 192.0.2.1 ', // cut in two: nginx judges the first read
    'PROXY TCP4 192.0.2.1 198.51.100.7 1111 443\r',
    'PROXY TCP4 192.0.2.1 198.51.100.7 1111 443\n',
    'PROXY TCP4 192.0.2.1 198.51.100.7 99999 443\r\n',
    'PROXY TCP4 192.0.2.1 198.51.100.7 -1 443\r\n',
    'PROXY TCP4 192.0.2.1 198.51.100.7  443\r\n',
    'PROXY TCP4 host.example 198.51.100.7 1 2\r\n',
    'PROXY TCP5 192.0.2.1 198.51.100.7 1 2\r\n',
    'PROXY UDP4 192.0.2.1 198.51.100.7 1 2\r\n',
    'proxy TCP4 192.0.2.1 198.51.100.7 1 2\r\n',
    'PROXY UNKNOWN',
    'PROXY ',
  ])('%j is a broken header', (text) => {
    const result = readProxyHeader(Buffer.from(text, 'latin1'));
    expect(result).toEqual({ ok: false, error: `broken header: "${text.replace(/\r/g, '\\x0d').replace(/\n/g, '\\x0a')}"` });
  });

  test('the error line shows control bytes escaped and at most 1k of the read', () => {
    const result = readProxyHeader(Buffer.concat([Buffer.from('\x00\x1b[31m\\'), Buffer.alloc(5000, 0x41)]));
    expect(result.ok).toBe(false);
    const error = (result as { error: string }).error;
    expect(error.startsWith('broken header: "\\x00\\x1b[31m\\x5cAAA')).toBe(true);
    expect(error.length).toBe('broken header: ""'.length + 3 * 4 + 4 + 1017);
  });
});

describe('v2', () => {
  test('PROXY over TCP/IPv4, with what follows', () => {
    const header = v2(0x21, 0x11, inet4Body);
    expect(readProxyHeader(Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\n')]))).toEqual({
      ok: true,
      length: 28,
      addresses: { sourceAddress: '192.0.2.1', sourcePort: 1111, destinationAddress: '198.51.100.7', destinationPort: 443 },
    });
  });

  test('PROXY over TCP/IPv6, with TLVs after the addresses (skipped)', () => {
    const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]);
    const header = v2(0x21, 0x21, Buffer.concat([inet6Body, tlv]));
    expect(readProxyHeader(header)).toEqual({
      ok: true,
      length: 16 + 36 + 6,
      addresses: { sourceAddress: '2001:db8::1', sourcePort: 2222, destinationAddress: '2001:db8::2', destinationPort: 8443 },
    });
  });

  test.each([
    ['LOCAL (a health check)', v2(0x20, 0x00, Buffer.alloc(0))],
    ['LOCAL with addresses', v2(0x20, 0x11, inet4Body)],
    ['UDP', v2(0x21, 0x12, inet4Body)],
    ['AF_UNIX', v2(0x21, 0x31, Buffer.alloc(216))],
    ['AF_UNSPEC', v2(0x21, 0x01, Buffer.alloc(0))],
  ])('%s: skipped, no addresses', (_name, header) => {
    expect(readProxyHeader(header)).toEqual({ ok: true, length: header.length, addresses: null });
  });

  test.each([
    ['version 3', v2(0x31, 0x11, inet4Body), 'unknown PROXY protocol version: 3'],
    ['a length past the read', v2(0x21, 0x11, inet4Body, 300), 'header is too large'],
    ['a length of 65535 with 12 bytes', v2(0x21, 0x11, inet4Body, 65535), 'header is too large'],
    ['IPv4 addresses cut short', v2(0x21, 0x11, inet4Body.subarray(0, 8)), null],
    ['IPv6 addresses cut short', v2(0x21, 0x21, inet4Body), null],
  ])('%s: refused', (_name, header, error) => {
    expect(readProxyHeader(header)).toEqual({ ok: false, error });
  });

  test('the signature alone, shorter than the fixed part: read as v1, broken', () => {
    expect(readProxyHeader(SIG).ok).toBe(false);
  });
});

describe("nginx's IPv6 text", () => {
  test.each([
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000000000000000', '::'],
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['20010db8000100000000000100000001', '2001:db8:1::1:0:1'],
    ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
    ['00000000000000000000ffff01020304', '::ffff:1.2.3.4'],
    ['00000000000000000000000001020304', '::1.2.3.4'],
    ['fe800000000000000000000000000000', 'fe80::'],
    ['20010db8000100010001000100010001', '2001:db8:1:1:1:1:1:1'],
  ])('%s is %s', (hex, text) => {
    expect(inet6Text(Buffer.from(hex, 'hex'))).toBe(text);
  });
});

describe('whatever comes first', () => {
  /** A small seeded generator (mulberry32): the same bytes every run. */
  function random(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  test('20,000 random and mutated first reads: never a throw, a taken header never longer than the read', () => {
    const next = random(15);
    const seeds = [
      Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.7 1111 443\r\nGET / HTTP/1.1\r\n\r\n'),
      Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n'),
      Buffer.from('PROXY UNKNOWN\r\n'),
      v2(0x21, 0x11, inet4Body),
      v2(0x21, 0x21, inet6Body),
      v2(0x20, 0x00, Buffer.alloc(0)),
    ];
    for (let i = 0; i < 20_000; i++) {
      let data: Buffer;
      if (i % 2 === 0) {
        data = Buffer.from(Array.from({ length: Math.floor(next() * 80) }, () => Math.floor(next() * 256)));
      } else {
        data = Buffer.from(seeds[i % seeds.length]);
        for (let m = 0; m < 1 + Math.floor(next() * 3); m++) data[Math.floor(next() * data.length)] = Math.floor(next() * 256);
        data = data.subarray(0, Math.floor(next() * (data.length + 1)));
      }
      const result = readProxyHeader(data);
      if (result.ok) {
        expect(result.length).toBeGreaterThan(0);
        expect(result.length).toBeLessThanOrEqual(data.length);
        if (result.addresses) expect(result.addresses.sourcePort).toBeLessThanOrEqual(65535);
      } else if (result.error !== null) {
        expect(result.error).not.toMatch(/[\r\n\0]/);
      }
    }
  });
});
