/**
 * Parity: the request target as nginx reads it. Merged slashes, `.` and `..` segments,
 * percent-decoding (also of `/` and `.`), what stays raw (`$request_uri`, `$args`), and the
 * file a decoded name maps to.
 */
import { defineParityCases, type ParityCase } from './run';
import { NODE_PARSER } from './differences';
import { loc } from './site';

const ECHO = "200 'uri=$uri args=$args request_uri=$request_uri is_args=$is_args arg_a=$arg_a'";

const normalization: ParityCase = {
  title: 'URI normalization',
  site: {
    servers: [
      {
        directives: { root: 'www' },
        locations: [loc('/echo/', { return: ECHO }), loc('= /echo', { return: ECHO }), loc('/files/'), loc('/', { return: ECHO })],
      },
    ],
  },
  files: {
    'www/files/a b.txt': 'a space\n',
    'www/files/café.txt': 'utf-8 name\n',
    'www/files/50%.txt': 'percent\n',
    'www/files/plus+sign.txt': 'plus\n',
    'www/files/q?mark.txt': 'question mark\n',
    'www/files/semi;colon.txt': 'semicolon\n',
    'www/files/hash#.txt': 'hash\n',
    'www/files/x.txt': 'x\n',
  },
  requests: [
    { name: 'plain', target: '/echo/a' },
    { name: 'merged slashes', target: '//echo///a//b' },
    { name: 'dot segments', target: '/echo/./a/./b/.' },
    { name: 'dot-dot segments', target: '/echo/a/b/../c/..' },
    { name: 'dot-dot into another location', target: '/files/../echo/x' },
    { name: 'dot-dot at the end', target: '/echo/a/..' },
    { name: 'three dots are a name', target: '/echo/.../a' },
    { name: 'dot-file name', target: '/echo/.hidden' },
    { name: 'a lone encoded dot', target: '/echo/%2e' },
    { name: 'encoded dot-dot and an encoded slash', target: '/echo/a/..%2fb' },
    { name: 'encoded dot-dot at the end', target: '/echo/a/%2e%2e' },
    { name: 'dot-dot with a trailing slash', target: '/echo/a/../' },
    { name: 'two dots and a name are a name', target: '/echo/..a/b' },
    { name: 'a name and two dots are a name', target: '/echo/a../b' },
    { name: 'dot-dot before the query', target: '/echo/a/..?x=1' },
    { name: 'dot before the query', target: '/echo/a/.?x=1' },
    { name: 'percent-decoded path', target: '/echo/%61%62%63' },
    { name: 'encoded slash is a slash', target: '/echo%2Fa%2fb' },
    { name: 'encoded dots are dots', target: '/echo/a/%2e%2E/b' },
    { name: 'encoded dot-dot with encoded slashes', target: '/echo/a%2f%2e%2e%2fb' },
    { name: 'encoded percent stays a percent', target: '/echo/100%25' },
    { name: 'double encoding is decoded once', target: '/echo/%252e%252e' },
    { name: 'encoded space', target: '/echo/a%20b' },
    { name: 'encoded question mark stays in the path', target: '/echo/a%3Fb?c=d' },
    { name: 'encoded UTF-8', target: '/echo/caf%C3%A9' },
    { name: 'raw UTF-8 bytes', differs: NODE_PARSER.rawUtf8Target, raw: Buffer.from('GET /echo/caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'latin1') },
    { name: 'query kept raw', target: '/echo/x?a=%20b&c=%2F&d' },
    { name: 'empty query', target: '/echo/x?' },
    { name: 'query with a slash and dots', target: '/echo/x?a=/../../b' },
    { name: 'query with a question mark', target: '/echo/x?a=b?c' },
    { name: 'fragment in the target', target: '/echo/x#frag' },
    { name: 'fragment after the query', target: '/echo/x?a=1#frag' },
    { name: 'fragment before a question mark', target: '/echo/x#frag?a=1' },
    { name: 'encoded hash stays in the path', target: '/echo/a%23b' },
    { name: 'plus is not a space', target: '/echo/a+b?a=1+2' },
    { name: 'semicolon in the path', target: '/echo/a;b=c' },
    { name: 'arg_a decoded? (nginx keeps it raw)', target: '/echo/?a=%41%20' },
    { name: 'exact location after decoding', target: '/%65cho' },
    { name: 'exact location after dot-dot', target: '/x/../echo' },
    { name: 'climbing above / is refused', target: '/echo/../../x' },
    { name: 'encoded climbing above / is refused', target: '/%2e%2e/x' },
    { name: 'bad escape', target: '/echo/%zz' },
    { name: 'truncated escape', target: '/echo/%4' },
    { name: 'lone percent', target: '/echo/%' },
    { name: 'bad escape in the query', target: '/echo/x?a=%zz' },
    { name: 'encoded NUL', target: '/echo/a%00b' },
    { name: 'file with a space', target: '/files/a%20b.txt' },
    { name: 'file with a UTF-8 name', target: '/files/caf%C3%A9.txt' },
    { name: 'file with a percent', target: '/files/50%25.txt' },
    { name: 'file with a plus', target: '/files/plus+sign.txt' },
    { name: 'file with a question mark', target: '/files/q%3Fmark.txt' },
    { name: 'file with a semicolon', target: '/files/semi;colon.txt' },
    { name: 'file with a hash', target: '/files/hash%23.txt' },
    { name: 'file name in upper-case escapes', target: '/files/%78.txt' },
    { name: 'file through merged slashes', target: '/files//x.txt' },
    { name: 'a trailing dot is not stripped', target: '/files/x.txt.' },
  ],
};

defineParityCases([normalization]);
