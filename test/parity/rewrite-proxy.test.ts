/**
 * Parity: the rewrite module in front of `proxy_pass` (the recording backend answers with the
 * request line it got): `rewrite ... break` with and without a URI in `proxy_pass`, a rewrite
 * that changes the arguments, `set $args`, a server-level rewrite, and `proxy_pass` inside a
 * location's `if` (nginx's nested location).
 */
import { startRecordingBackend, type RecordingBackend } from './recording-backend';
import { defineParityCases, type ParityRequest } from './run';
import type { SiteModel } from './site';

let backend: RecordingBackend;
beforeAll(async () => {
  backend = await startRecordingBackend();
});
afterAll(() => backend?.close());

function site(): SiteModel {
  const b = backend.url;
  return {
    servers: [
      {
        script: [['rewrite', '^/srv/(.*)$ /plain/from-server/$1']],
        locations: [
          { match: '/plain/', directives: { proxy_pass: b } },
          { match: '/brk/', directives: { proxy_pass: b }, script: [['rewrite', '^/brk/(.*)$ /$1 break']] },
          { match: '/brk-uri/', directives: { proxy_pass: `${b}/base/` }, script: [['rewrite', '^/brk-uri/(.*)$ /brk-uri/x/$1 break']] },
          { match: '/args/', directives: { proxy_pass: b }, script: [['rewrite', '^/args/(.*)$ /a?id=$1 break']] },
          { match: '/setargs/', directives: { proxy_pass: b }, script: [['set', '$args n=1']] },
          { match: '/ifpass2/', script: [{ if: '$arg_p', then: [['proxy_pass', b]] }] },
        ],
      },
    ],
  };
}

defineParityCases([
  {
    title: 'rewrite module in front of proxy_pass',
    site,
    requests: ([
      { name: 'server-level rewrite to a proxied location', target: '/srv/a?q=1' },
      { name: 'rewrite break, proxy_pass without URI', target: '/brk/one/two?q=1' },
      { name: 'rewrite break, proxy_pass with a URI', target: '/brk-uri/one?q=1' },
      { name: 'rewrite break with new arguments', target: '/args/7?q=1' },
      { name: 'set $args', target: '/setargs/x?q=1' },
      { name: 'proxy_pass inside if: true', target: '/ifpass2/x?p=1' },
    ] as ParityRequest[]).concat([{ name: 'proxy_pass inside if: false, the static files', target: '/ifpass2/x' }]),
  },
]);
