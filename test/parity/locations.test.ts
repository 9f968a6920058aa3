/**
 * Parity: location matching. `=` before everything, the longest prefix, `^~` stopping the
 * regex search, `~` and `~*` in file order, captures (numbered and named) used in `return`,
 * `@named` reached through `error_page`, and the example of nginx's `location` documentation.
 */
import { defineParityCases, type ParityCase } from './run';
import { loc } from './site';

/** A location answering `200 '<label> uri=$uri'`. */
const says = (match: string, label: string) => loc(match, { return: `200 '${label} uri=$uri'` });

const matching: ParityCase = {
  title: 'location matching',
  site: {
    servers: [
      {
        directives: { root: 'www' },
        locations: [
          says('= /', 'exact-root'),
          says('/', 'prefix-root'),
          says('/longer', 'prefix-short'),
          says('/longer/path', 'prefix-long'),
          says('= /exact', 'exact'),
          says('/exact', 'prefix-exact'),
          says('^~ /static/', 'noregex-static'),
          says('/documents/', 'prefix-documents'),
          loc('~ ^/a/(\\d+)/(\\w+)$', { return: "200 'regex-a-captures $1 $2 $3'" }),
          says('~ ^/a/', 'regex-a-plain'),
          loc('~* \\.(gif|jpg|png)$', { return: "200 'regex-image $1'" }),
          says('~ \\.PDF$', 'regex-pdf-case-sensitive'),
          says('~ ^/static/.*\\.css$', 'regex-css'),
          says('~ ^/documents/.*\\.txt$', 'regex-documents-txt'),
          loc('~ ^/n/(?<first>[a-z]+)/(?P<second>[a-z]+)$', { return: "200 'named $first $second $1'" }),
          loc('/missing/', { error_page: '404 @fallback' }),
          loc('/missing-eq/', { error_page: '404 = @fallback' }),
          loc('/missing-code/', { error_page: '404 =410 @fallback' }),
          loc('@fallback', { return: "200 'named-fallback uri=$uri'" }),
          loc('= /to-unknown-named', { error_page: '404 @nowhere', root: 'www' }),
        ],
      },
      {
        listen: ['1'],
        locations: [
          says('= /', 'A'),
          says('/', 'B'),
          says('/documents/', 'C'),
          says('^~ /images/', 'D'),
          says('~* \\.(gif|jpg|jpeg)$', 'E'),
        ],
      },
    ],
  },
  files: { 'www/index.html': '<p>index</p>\n' },
  requests: [
    { name: 'exact match of /', target: '/' },
    { name: 'prefix /', target: '/index.html' },
    { name: 'longest prefix wins', target: '/longer/path/x' },
    { name: 'shorter prefix when the longer does not match', target: '/longer/pat' },
    { name: 'exact beats an equal prefix', target: '/exact' },
    { name: 'prefix when exact does not match', target: '/exactly' },
    { name: 'exact match ignores the query', target: '/exact?x=1' },
    { name: '^~ stops the regex search', target: '/static/site.css' },
    { name: 'regex beats a plain prefix', target: '/documents/notes.txt' },
    { name: 'plain prefix when no regex matches', target: '/documents/notes.html' },
    { name: 'first regex in file order, numbered captures', target: '/a/12/abc' },
    { name: 'second regex when the first does not match', target: '/a/x' },
    { name: '~* is case-insensitive, its capture', target: '/pics/ME.JPG' },
    { name: '~ is case-sensitive (no match)', target: '/doc/file.pdf' },
    { name: '~ is case-sensitive (match)', target: '/doc/file.PDF' },
    { name: 'named captures, PCRE and Perl syntax', target: '/n/abc/def' },
    { name: 'regex on the decoded URI', target: '/a/1%32/x%79z' },
    { name: 'error_page to a named location', target: '/missing/nothing.html' },
    { name: 'error_page = to a named location takes its status', target: '/missing-eq/nothing.html' },
    { name: 'error_page =410 to a named location', target: '/missing-code/nothing.html' },
    { name: 'error_page to an unknown named location', target: '/to-unknown-named' },
    { name: 'HEAD to a return location', method: 'HEAD', target: '/exact' },
    { name: 'POST to a return location', method: 'POST', target: '/exact', headers: { 'Content-Length': '0' } },
    { name: "nginx docs: '/' matches A", target: '/', slot: 1 },
    { name: "nginx docs: '/index.html' matches B", target: '/index.html', slot: 1 },
    { name: "nginx docs: '/documents/document.html' matches C", target: '/documents/document.html', slot: 1 },
    { name: "nginx docs: '/images/1.gif' matches D", target: '/images/1.gif', slot: 1 },
    { name: "nginx docs: '/documents/1.jpg' matches E", target: '/documents/1.jpg', slot: 1 },
  ],
};

/** A server with no `location /`: what matches nothing. */
const noMatch: ParityCase = {
  title: 'no location matches',
  site: { servers: [{ directives: { root: 'www' }, locations: [says('/only/', 'only')] }] },
  files: { 'www/index.html': 'index\n' },
  requests: [
    { name: 'no location: the server level serves it', target: '/index.html' },
    { name: 'no location, missing file', target: '/nothing' },
    { name: 'the one location', target: '/only/x' },
  ],
};

defineParityCases([matching, noMatch]);
