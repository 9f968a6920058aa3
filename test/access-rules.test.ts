/**
 * `allow`/`deny`: the compiled matcher (nginx's ngx_http_access_module semantics: first
 * match of the client's family wins, none allows, IPv4-mapped clients meet the IPv4 rules),
 * the address parsers (ports of nginx's), and the configuration forms, errors and inheritance.
 */
import { accessDenied, compileAccessRules, parseInet4, parseInet6, type AccessRules } from '../src/modules/access/access-rules';
import { buildVirtual, configErrorOf } from './helpers/virtual-config';
import { flat } from './helpers/module-confs';

/** Rules from nginx-like lines: `allow 127.0.0.1`, `deny all`. */
function rules(...lines: string[]): AccessRules {
  return compileAccessRules(
    lines.map((line) => {
      const [verb, value] = line.split(' ');
      return { deny: verb === 'deny', value };
    }),
  ).rules;
}

describe('matching', () => {
  test.each([
    // [rules, client, denied]
    [['allow 127.0.0.1', 'deny all'], '127.0.0.1', false],
    [['allow 127.0.0.1', 'deny all'], '127.0.0.2', true],
    [['deny 127.0.0.1'], '127.0.0.1', true],
    [['deny 127.0.0.1'], '10.1.2.3', false],
    [['deny 10.0.0.0/8'], '10.255.0.1', true],
    [['deny 10.0.0.0/8'], '11.0.0.1', false],
    [['deny 192.168.1.128/25'], '192.168.1.200', true],
    [['deny 192.168.1.128/25'], '192.168.1.127', false],
    [['deny 0.0.0.0/0'], '203.0.113.9', true],
    [['deny 255.255.255.254/31'], '255.255.255.255', true],
    [['deny ::1'], '::1', true],
    [['deny ::1'], '::2', false],
    [['deny 2001:db8::/32'], '2001:db8:ffff::1', true],
    [['deny 2001:db8::/32'], '2001:db9::1', false],
    [['deny 2001:db8:0:0:8000::/65'], '2001:db8::8000:0:0:1', true],
    [['deny 2001:db8:0:0:8000::/65'], '2001:db8::7fff:0:0:1', false],
    [['deny fe80::/10'], 'fe80::1%eth0', true],
    [['deny ::/0'], '2001:db8::1', true],
    // first match wins, in the order written
    [['allow 10.0.0.1', 'deny 10.0.0.0/8', 'allow all'], '10.0.0.1', false],
    [['allow 10.0.0.1', 'deny 10.0.0.0/8', 'allow all'], '10.0.0.2', true],
    [['allow 10.0.0.1', 'deny 10.0.0.0/8', 'allow all'], '192.0.2.1', false],
    [['deny 10.0.0.1', 'allow 10.0.0.0/8', 'deny all'], '10.0.0.1', true],
    [['deny 10.0.0.1', 'allow 10.0.0.0/8', 'deny all'], '10.9.9.9', false],
    // a family's rules only: an IPv6 client meets no IPv4 rule, and the reverse
    [['deny 127.0.0.1'], '::1', false],
    [['deny ::1'], '127.0.0.1', false],
    [['allow ::1', 'deny all'], '127.0.0.1', true],
    // IPv4-mapped IPv6 clients meet the IPv4 rules
    [['allow 127.0.0.1', 'deny all'], '::ffff:127.0.0.1', false],
    [['allow 127.0.0.1', 'deny all'], '::ffff:127.0.0.2', true],
    [['deny 10.0.0.0/8'], '::ffff:10.1.1.1', true],
    // ... and, with no IPv4 rule at all, the IPv6 ones, as 128 bits (nginx does the same)
    [['deny ::ffff:0:0/96'], '::ffff:10.1.1.1', true],
    [['deny ::ffff:0:0/96'], '::1', false],
    // all, unix:
    [['deny all'], '127.0.0.1', true],
    [['deny all'], '::1', true],
    [['deny all'], '', true],
    [['allow unix:', 'deny all'], '', false],
    [['allow unix:', 'deny all'], '127.0.0.1', true],
    [['deny unix:'], '127.0.0.1', false],
    [['deny 127.0.0.1'], '', false],
  ] as const)('%j, client %j: denied %j', (lines, client, denied) => {
    expect(accessDenied(rules(...lines), client)).toBe(denied);
  });

  test('host bits past the prefix are cleared, with nginx\'s warning', () => {
    const compiled = compileAccessRules([{ deny: true, value: '10.1.2.3/8' }, { deny: true, value: '2001:db8::1/32' }, { deny: true, value: '10.0.0.0/8' }]);
    expect(compiled.warnings).toEqual(['low address bits of 10.1.2.3/8 are meaningless', 'low address bits of 2001:db8::1/32 are meaningless']);
    expect(compiled.rules.inet[0]).toEqual({ deny: true, addr: 0x0a000000, mask: 0xff000000 });
    expect(accessDenied(compiled.rules, '10.200.0.1')).toBe(true);
    expect(accessDenied(compiled.rules, '2001:db8:1::1')).toBe(true);
  });

  test.each(['999.1.1.1', '10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/x', '1.2.3', '1.2.3.4.5', 'localhost', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'unix:/tmp/s', 'ALL', '',
    // nginx's INADDR_NONE: refused by nginx 1.22 too
    '255.255.255.255'])('%j is nginx\'s "invalid parameter"', (value) => {
    expect(() => compileAccessRules([{ deny: false, value }])).toThrow(`invalid parameter "${value}"`);
  });

  test.each(['1..2.3', ':1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', '::FFFF:1.2.3.4', '01.2.3.4', '1.2.3.4/032', '::/0', 'unix:'])('%j is taken, as nginx 1.22 takes it', (value) => {
    expect(() => compileAccessRules([{ deny: false, value }])).not.toThrow();
  });
});

describe('address parsers (nginx\'s ngx_inet_addr, ngx_inet6_addr)', () => {
  const v6 = (text: string) => {
    const out = new Uint8Array(16);
    return parseInet6(text, 0, text.length, out) ? Buffer.from(out).toString('hex') : null;
  };
  test('IPv4', () => {
    expect(parseInet4('192.168.1.2', 0, 11)).toBe(0xc0a80102);
    expect(parseInet4('255.255.255.255', 0, 15)).toBe(0xffffffff);
    expect(parseInet4('x1.2.3.4y', 1, 8)).toBe(0x01020304);
    expect(parseInet4('1.2.3.256', 0, 9)).toBe(-1);
  });
  test('IPv6', () => {
    expect(v6('::')).toBe('0'.repeat(32));
    expect(v6('::1')).toBe(`${'0'.repeat(30)}01`);
    expect(v6('1::')).toBe(`0001${'0'.repeat(28)}`);
    expect(v6('2001:db8::8:800:200c:417a')).toBe('20010db80000000000080800200c417a');
    expect(v6('::ffff:192.0.2.1')).toBe('00000000000000000000ffffc0000201');
    expect(v6('1:2:3:4:5:6:7:8')).toBe('00010002000300040005000600070008');
    expect(v6('::2:3:4:5:6:7:8')).toBe('00000002000300040005000600070008');
    // nginx 1.22 refuses `::` standing for one group at the end (Node never writes one).
    expect(v6('1:2:3:4:5:6:7::')).toBeNull();
    expect(v6('')).toBeNull();
    expect(v6(':')).toBeNull();
    expect(v6('1:2')).toBeNull();
    expect(v6('::ffff:1.2.3')).toBeNull();
    expect(v6('g::')).toBeNull();
  });
});

describe('configuration', () => {
  const location = (yaml: string, index = 0) => buildVirtual(yaml).http.servers[0].locations[index];

  test('one value, a list, allow then deny in the order written', () => {
    const loc = location('http:\n  servers:\n    - locations:\n        - location: /\n          allow: [127.0.0.1, ::1]\n          deny: all\n');
    expect(accessDenied(flat(loc).accessRules!, '127.0.0.1')).toBe(false);
    expect(accessDenied(flat(loc).accessRules!, '::1')).toBe(false);
    expect(accessDenied(flat(loc).accessRules!, '10.0.0.1')).toBe(true);
    const reversed = location('http:\n  servers:\n    - locations:\n        - location: /\n          deny: all\n          allow: 127.0.0.1\n');
    expect(accessDenied(flat(reversed).accessRules!, '127.0.0.1')).toBe(true);
  });

  test('the ordered form, `access`, interleaves allow and deny', () => {
    const loc = location('http:\n  servers:\n    - locations:\n        - location: /\n          access: ["deny 10.0.0.1", "allow 10.0.0.0/8", "deny all"]\n');
    expect(flat(loc).accessRules).toEqual(rules('deny 10.0.0.1', 'allow 10.0.0.0/8', 'deny all'));
    expect(accessDenied(flat(loc).accessRules!, '10.0.0.1')).toBe(true);
    expect(accessDenied(flat(loc).accessRules!, '10.0.0.2')).toBe(false);
    const single = location('http:\n  servers:\n    - locations:\n        - { location: /, access: "allow 127.0.0.1" }\n');
    expect(flat(single).accessRules).toEqual(rules('allow 127.0.0.1'));
  });

  test('keys of one block join in file order, `access` included', () => {
    const loc = location('http:\n  servers:\n    - locations:\n        - location: /\n          deny: 10.0.0.1\n          access: ["allow 10.0.0.0/8"]\n          allow: ::1\n');
    expect(flat(loc).accessRules).toEqual(rules('deny 10.0.0.1', 'allow 10.0.0.0/8', 'allow ::1'));
  });

  test('none: null; inherited whole from the nearest level that has any rule (nginx\'s arrays)', () => {
    const conf = buildVirtual(`
http:
  deny: 10.0.0.0/8
  servers:
    - allow: 127.0.0.1
      deny: all
      locations:
        - { location: /inherits }
        - { location: /own, allow: ::1 }
    - locations:
        - { location: /from-http }
    - deny: "unix:"   # quoted: a bare trailing colon is YAML's mapping indicator
      locations:
        - { location: /unix-only }
`);
    const [a, b, c] = conf.http.servers;
    expect(flat(buildVirtual('http:\n  servers:\n    - locations:\n        - { location: / }\n').http.servers[0].locations[0]).accessRules).toBeNull();
    expect(flat(a.locations[0]).accessRules).toEqual(rules('allow 127.0.0.1', 'deny all'));
    expect(flat(a.serverLocation).accessRules).toEqual(rules('allow 127.0.0.1', 'deny all'));
    // A location with only an IPv6 rule still replaces the server's IPv4 rules: 127.0.0.1 is allowed there.
    expect(flat(a.locations[1]).accessRules).toEqual(rules('allow ::1'));
    expect(accessDenied(flat(a.locations[1]).accessRules!, '10.0.0.1')).toBe(false);
    expect(flat(b.locations[0]).accessRules).toEqual(rules('deny 10.0.0.0/8'));
    expect(accessDenied(flat(c.locations[0]).accessRules!, '10.0.0.1')).toBe(false);
  });

  test.each([
    ['http:\n  allow: 999.1.1.1\n', 'invalid parameter "999.1.1.1" in /virtual/site.yaml:2:10'],
    ['http:\n  deny: 10.0.0.0/33\n', 'invalid parameter "10.0.0.0/33" in /virtual/site.yaml:2:9'],
    ['http:\n  servers:\n    - deny: [127.0.0.1, "::/129"]\n', 'invalid parameter "::/129" in /virtual/site.yaml:3:25'],
    ['http:\n  servers:\n    - locations:\n        - { location: /, allow: "1.2.3.4 5.6.7.8" }\n', 'invalid number of arguments in "allow" directive in /virtual/site.yaml:4:33'],
    ['http:\n  allow: []\n', 'invalid number of arguments in "allow" directive in /virtual/site.yaml:2:10'],
    ['http:\n  access: ["allow 127.0.0.1", "permit all"]\n', 'invalid rule "permit all" in "access", it must be "allow VALUE" or "deny VALUE" in /virtual/site.yaml:2:31'],
    ['http:\n  access: ["deny"]\n', 'invalid rule "deny" in "access", it must be "allow VALUE" or "deny VALUE" in /virtual/site.yaml:2:12'],
    ['http:\n  access: ["deny 1.2.3.4/40"]\n', 'invalid parameter "1.2.3.4/40" in /virtual/site.yaml:2:12'],
    ['allow: all\n', '"allow" directive is not allowed here in /virtual/site.yaml:1:1'],
    ['http:\n  deny: all\n  deny: "1.2.3.4 x"\n', 'invalid number of arguments in "deny" directive in /virtual/site.yaml:3:9'],
  ])('%j', (yaml, message) => expect(configErrorOf(yaml)).toEqual(message));
});
