/** The rewrite module's pure pieces, by table: nginx's NGX_ESCAPE_ARGS and NGX_UNESCAPE_REDIRECT, and a replacement's evaluation. */
import { compilePart, escapeArgs, evaluatePart, unescapeRedirect } from '../src/modules/rewrite/replacement';
import type { VariableSource } from '../src/http/variables';

describe('escapeArgs (NGX_ESCAPE_ARGS)', () => {
  test.each([
    ['plain-text_1.2~', 'plain-text_1.2~'],
    ['a b', 'a%20b'],
    ['#%&+;?', '%23%25%26%2B%3B%3F'],
    ['/=:@,!$\'()*', '/=:@,!$\'()*'],
    ['é', '%C3%A9'],
    ['\t\x7f', '%09%7F'],
  ])('%j -> %j', (input, expected) => expect(escapeArgs(input)).toBe(expected));
});

describe('unescapeRedirect (NGX_UNESCAPE_REDIRECT)', () => {
  test.each([
    ['/a%41b', '/aAb'],
    ['/a%20b', '/a%20b'],
    ['/a%25b', '/a%25b'],
    ['/a%26b', '/a&b'],
    ['/a%7Eb%7f', '/a~b%7f'],
    ['/x?q=%41', '/x?q=%41'],
    ['http://h/%2F', 'http://h//'],
  ])('%j -> %j', (input, expected) => expect(unescapeRedirect(input)).toBe(expected));
});

describe('a replacement part', () => {
  const source = { args: 'a=1', uri: '/u' } as unknown as VariableSource;
  test.each([
    ['/x/$1', ['all', 'one two'], false, '/x/one two'],
    ['/x/$1', ['all', 'one two'], true, '/x/one%20two'],
    ['/x/${2}y', ['all', 'a', 'b'], false, '/x/by'],
    ['/x/$3', ['all'], false, '/x/'],
    ['$uri?$args', [], false, '/u?a=1'],
    ['/$1a', ['all', 'c'], false, '/ca'],
  ])('%j with %j (escaped: %s)', (text, captures, escape, expected) => expect(evaluatePart(compilePart(text, new Set()), source, captures, escape)).toBe(expected));

  test('an unknown variable is refused as nginx words it', () => {
    expect(() => compilePart('/x/$nope', new Set())).toThrow('unknown "nope" variable');
  });
});
