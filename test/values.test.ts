import { formatTime, MAX_TIMER_MS, parseBoundedTime, parseFlag, parseListen, parseLocation, parseServerName, parseSize, parseSoKeepalive, parseTime, splitArgs } from '../src/config/values';

describe('times and sizes', () => {
  test.each([
    ['500ms', 's', 500],
    ['2s', 's', 2000],
    ['1m', 's', 60000],
    ['1h 30m', 's', 5400000],
    ['75', 's', 75000],
    [50000, 'ms', 50000],
    ['50000', 'ms', 50000],
  ] as const)('time %p (bare unit %s) is %d ms', (text, unit, ms) => expect(parseTime(text, unit)).toBe(ms));
  test.each(['', '2x', '-1', '1.5s', 's'])('time %p is refused', (text) => expect(() => parseTime(text)).toThrow(/invalid time/));
  test.each([
    ['1h30m', 5_400_000],
    ['1h30', 3_630_000], // a number after the units is seconds, as nginx reads it
    ['1s 2', 3000],
    ['1m  30s', 90_000],
    [' 90', 90_000],
    ['90 ', 90_000],
    ['1s500ms', 1500],
    ['1y', 31_536_000_000],
    ['9007199254740991ms', Number.MAX_SAFE_INTEGER],
  ] as const)("time %p as nginx's ngx_parse_time reads it", (text, ms) => expect(parseTime(text)).toBe(ms));
  test.each(['30s 1m', '1m1m', '90 1 2', '5s\u00a0', '\u00a05s', '5s\t', '9007199254740992ms', '99999999999999999999999d', `${'9'.repeat(400)}s`])(
    'time %j is refused: units in order, once each, only spaces between, within range',
    (text) => expect(() => parseTime(text)).toThrow(/invalid time/),
  );
  test('times fed to timers stop at what a Node.js timer honours, and the refusal names the largest', () => {
    expect(MAX_TIMER_MS).toBe(2147483647);
    expect(formatTime(MAX_TIMER_MS)).toBe('24d20h31m23s647ms');
    expect(parseBoundedTime(formatTime(MAX_TIMER_MS), MAX_TIMER_MS)).toBe(MAX_TIMER_MS);
    expect(() => parseBoundedTime('30d', MAX_TIMER_MS)).toThrow('time "30d" is too large: the largest is 24d20h31m23s647ms');
    expect(() => parseBoundedTime(2147483648, MAX_TIMER_MS, 'ms')).toThrow(/too large/);
    expect([formatTime(0), formatTime(90_500)]).toEqual(['0s', '1m30s500ms']);
  });
  test.each([
    ['512', 512],
    ['64k', 65536],
    ['1m', 1048576],
    ['1G', 1073741824],
    [1024, 1024],
  ] as const)('size %p is %d bytes', (text, bytes) => expect(parseSize(text)).toBe(bytes));
  test.each(['1.5m', 'k', '-1', '1t', ' 1m', '1m\u00a0', '8796093022208k', '9007199254740992', '9'.repeat(400)])('size %p is refused', (text) =>
    expect(() => parseSize(text)).toThrow(/invalid size/),
  );
  test('a YAML number that is too large or not an integer is refused', () => {
    expect(() => parseSize(2 ** 53)).toThrow(/invalid size/);
    expect(() => parseTime(1e300)).toThrow(/invalid time/);
    expect(() => parseTime(Infinity)).toThrow(/invalid value/);
    expect(() => parseTime(1.5)).toThrow(/invalid value/);
  });
  test('flags', () => {
    expect([parseFlag('on'), parseFlag('off'), parseFlag(true), parseFlag('false')]).toEqual([true, false, true, false]);
    expect(() => parseFlag('yes')).toThrow(/must be "on" or "off"/);
  });
});

describe('splitArgs', () => {
  test.each([
    ['80 so_keepalive=2s:2s:8', ['80', 'so_keepalive=2s:2s:8']],
    ['Connection ""', ['Connection', '']],
    ['X-A "a b" always', ['X-A', 'a b', 'always']],
    ["'single q'  x", ['single q', 'x']],
    ['"esc \\" quote"', ['esc " quote']],
    ['"tab\\there" new\\nline', ['tab\there', 'new\nline']],
    ['~ \\.php$', ['~', '\\.php$']],
    ['a\\ b', ['a\\ b']], // one argument; the backslash stays, as nginx copies it
  ])('%p', (text, args) => expect(splitArgs(text)).toEqual(args));
  test('an unbalanced quote is refused', () => expect(() => splitArgs('"open')).toThrow(/unbalanced/));
  test('a quoted argument must end at a separator, as in nginx', () => {
    expect(() => splitArgs('"ab"cd')).toThrow(/unexpected "c" after a quoted argument/);
    expect(() => splitArgs(`'ab'"cd"`)).toThrow(/unexpected """/);
    expect(splitArgs('ab"cd"')).toEqual(['ab"cd"']);
  });
  // nginx separates arguments by space, tab, CR and LF only; anything else is part of one.
  test.each(['\u00a0', '\ufeff', '\u2028', '\u2029', '\u3000', '\u1680', '\u2003', '\v', '\f', '\u0085'])('%j is part of an argument, not a separator', (c) => {
    expect(splitArgs(`80${c}`)).toEqual([`80${c}`]);
    expect(splitArgs(c)).toEqual([c]);
    expect(splitArgs(`a${c}b c`)).toEqual([`a${c}b`, 'c']);
    expect(splitArgs(`"a b" ${c}`)).toEqual(['a b', c]);
    expect(splitArgs(`x\\${c}y`)).toEqual([`x\\${c}y`]);
  });
});

describe('listen', () => {
  test.each([
    ['8080', '0.0.0.0', 8080, '0.0.0.0:8080'],
    ['127.0.0.1:81', '127.0.0.1', 81, '127.0.0.1:81'],
    ['[::]:8080', '::', 8080, '[::]:8080'],
    ['[::1]', '::1', 80, '[::1]:80'],
    ['*:90', '0.0.0.0', 90, '0.0.0.0:90'],
    ['localhost:3000', 'localhost', 3000, 'localhost:3000'],
    ['127.0.0.1', '127.0.0.1', 80, '127.0.0.1:80'],
  ])('%p', (addr, host, port, key) => expect(parseListen([addr])).toMatchObject({ host, port, key }));
  test('parameters', () => {
    const l = parseListen(['8080', 'default_server', 'backlog=128', 'reuseport', 'deferred', 'so_keepalive=2s:2s:8']);
    expect(l).toMatchObject({ defaultServer: true, backlog: 128, reuseport: true, deferred: true, soKeepalive: { enabled: true, idle: 2, interval: 2, count: 8 } });
  });
  test('http2', () => expect(parseListen(['443', 'ssl', 'http2'])).toMatchObject({ ssl: true, http2: true }));
  test('unix sockets', () => expect(parseListen(['unix:/tmp/gw.sock'])).toMatchObject({ unix: '/tmp/gw.sock', key: 'unix:/tmp/gw.sock' }));
  test.each([
    [['8080', 'bogus'], /invalid parameter "bogus"/],
    [['70000'], /invalid port/],
    [['[::1'], /invalid IPv6/],
    [['8080', 'backlog=x'], /invalid backlog/],
    [['8080', 'so_keepalive=2s:2s'], /invalid so_keepalive/],
    [['8080', 'so_keepalive=::'], /invalid so_keepalive/],
    [['8080', 'so_keepalive=500ms::'], /invalid so_keepalive/],
    [['8080', 'so_keepalive=::2147483648'], /invalid so_keepalive/],
    [['8080', 'so_keepalive=2147483648s::'], /invalid so_keepalive/],
    [['8080', 'backlog=99999999999'], /invalid backlog/],
    [[], /needs an address/],
  ])('%p is refused', (args, reason) => expect(() => parseListen(args)).toThrow(reason));
});

describe('so_keepalive', () => {
  test.each([
    ['on', { enabled: true, idle: null, interval: null, count: null }],
    ['off', { enabled: false, idle: null, interval: null, count: null }],
    ['2s:2s:8', { enabled: true, idle: 2, interval: 2, count: 8 }],
    ['30m::', { enabled: true, idle: 1800, interval: null, count: null }],
    [':10:', { enabled: true, idle: null, interval: 10, count: null }],
    ['::3', { enabled: true, idle: null, interval: null, count: 3 }],
  ])('%p', (text, value) => expect(parseSoKeepalive(text)).toEqual(value));
});

describe('location', () => {
  test('modifiers', () => {
    expect(parseLocation(['=', '/x'])).toEqual({ kind: 'exact', path: '/x' });
    expect(parseLocation(['^~', '/img/'])).toEqual({ kind: 'prefix', path: '/img/', noRegex: true });
    expect(parseLocation(['/s'])).toEqual({ kind: 'prefix', path: '/s', noRegex: false });
    expect(parseLocation(['@fallback'])).toEqual({ kind: 'named', name: '@fallback' });
    expect(parseLocation(['=/x'])).toEqual({ kind: 'exact', path: '/x' });
    const re = parseLocation(['~*', '\\.(?P<ext>gif|jpg)$']);
    expect(re.kind === 'regex' && re.regex.exec('/A.JPG')?.groups?.ext).toBe('JPG');
    const cs = parseLocation(['~', '\\.php$']);
    expect(cs.kind === 'regex' && cs.regex.test('/a.PHP')).toBe(false);
  });
  test.each([[['~', '(']], [['!', '/x']], [['/a', '/b', '/c']]])('%p is refused', (args) => expect(() => parseLocation(args)).toThrow());
});

describe('server_name', () => {
  test('kinds', () => {
    expect(parseServerName('Example.COM')).toEqual([{ kind: 'exact', name: 'example.com' }]);
    expect(parseServerName('*.example.com')).toEqual([{ kind: 'leading-wildcard', suffix: '.example.com' }]);
    expect(parseServerName('www.example.*')).toEqual([{ kind: 'trailing-wildcard', prefix: 'www.example.' }]);
    expect(parseServerName('.example.org')).toEqual([
      { kind: 'exact', name: 'example.org' },
      { kind: 'leading-wildcard', suffix: '.example.org' },
    ]);
    expect(parseServerName('~^(?<sub>\\w+)\\.example\\.net$')[0].kind).toBe('regex');
    expect(() => parseServerName('w*w.example.com')).toThrow(/invalid server name/);
  });
});
