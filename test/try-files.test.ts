/**
 * `try_files` and the internal redirects it shares with `index`, with the gateway as a
 * process. Each expectation is what nginx 1.22 answers for the same configuration (checked
 * by hand against /usr/sbin/nginx with the equivalent nginx.conf).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

const site = (backend: number) => `
error_log: stderr notice
pid: off
http:
  access_log: "off"
  default_type: text/plain
  types: { text/html: html, text/plain: txt }
  servers:
    - listen: "127.0.0.1:0"
      root: html
      try_files: $uri /fallback.html
      locations:
        - { location: /tf/, try_files: $uri $uri/ /index.html?x=1 }
        - { location: = /loop, try_files: /nothing /loop }
        - { location: /named, try_files: /nothing @n }
        - { location: "@n", return: "200 'named uri=$uri args=$args\\n'" }
        - { location: /code, try_files: /nothing =418 }
        - { location: /c200, try_files: /nothing =200 }
        - { location: /al/, alias: data/, try_files: $uri =404 }
        - { location: /al2/, alias: data/, try_files: /al2/x =404 }
        - { location: /al3/, alias: data/, try_files: /x =404 }
        - { location: "~ ^/rx/(.*)$", alias: data/$1, try_files: '"" =404' }
        - { location: "~ ^/ry/(.*)$", alias: data/, try_files: $1 =404 }
        - { location: /dirs, try_files: $uri/ =404, index: index.txt }
        - { location: /deb/, try_files: $uri $uri/ =404 }
        - { location: /echo, return: "200 '$request_method uri=$uri args=$args\\n'" }
        - { location: /tfecho, try_files: $uri /echo$uri?a=$arg_b }
        - { location: /ep/, error_page: 404 /ep/404.html, try_files: $uri =404 }
        - { location: /ret, try_files: /nothing =404, return: "200 ret" }
        - { location: /px/, try_files: $uri @up }
        - { location: "@up", proxy_pass: "http://127.0.0.1:${backend}" }
        - { location: /ix/ }
        - { location: "~ \\\\.html$", add_header: "X-Regex yes" }
`;

const FILES = {
  'html/index.html': 'index\n',
  'html/a.txt': 'a\n',
  'html/fallback.html': 'fallback\n',
  'html/tf/a.txt': 'tfa\n',
  'html/tf/d/index.html': 'tfd\n',
  'html/dirs/x/index.txt': 'dx\n',
  'html/deb/a.txt': 'deba\n',
  'html/deb/sub/index.html': 'debsub\n',
  'html/ep/404.html': 'custom404\n',
  'html/px/here.txt': 'here\n',
  'html/ix/index.html': 'ixindex\n',
  'data/x': 'data-x\n',
};

describe('try_files', () => {
  let gw: GatewayProcess;
  let port: number;
  let backend: http.Server;
  beforeAll(async () => {
    backend = http.createServer((req, res) => res.end(`backend ${req.url}\n`));
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    gw = await startGateway(site((backend.address() as AddressInfo).port), { files: FILES });
    port = gw.ports[0];
  });
  afterAll(async () => {
    await gw.stop();
    await new Promise((resolve) => backend.close(resolve));
  });

  const get = async (uri: string, options: { method?: string } = {}) => {
    const r = await request(port, uri, options);
    return { status: r.status, body: r.body.toString(), headers: r.headers };
  };

  test('the first file that exists is served by the location, with its type', async () => {
    expect(await get('/tf/a.txt')).toMatchObject({ status: 200, body: 'tfa\n', headers: { 'content-type': 'text/plain' } });
  });
  test('the last argument is an internal redirect with its own args, locations matched again', async () => {
    expect(await get('/tf/nope')).toMatchObject({ status: 200, body: 'index\n', headers: { 'x-regex': 'yes' } });
    expect(await get('/tfecho/foo?b=2')).toMatchObject({ status: 200, body: 'GET uri=/echo/tfecho/foo args=a=2\n' });
  });
  test('the method is kept through the redirect', async () => {
    expect((await get('/tfecho/x', { method: 'POST' })).body).toBe('POST uri=/echo/tfecho/x args=a=\n');
  });
  test('$uri/ tests a directory: without a slash it redirects, with one the index is served', async () => {
    const moved = await get('/tf/d');
    expect([moved.status, moved.headers.location]).toEqual([301, `http://127.0.0.1:${port}/tf/d/`]);
    expect(await get('/tf/d/')).toMatchObject({ status: 200, body: 'tfd\n' });
  });
  test('the index is an internal redirect, so try_files runs again for it (nginx: 404 here)', async () => {
    expect((await get('/dirs/x')).status).toBe(301);
    expect((await get('/dirs/x/')).status).toBe(404);
  });
  test("Debian's default: $uri $uri/ =404", async () => {
    expect(await get('/deb/a.txt')).toMatchObject({ status: 200, body: 'deba\n' });
    expect((await get('/deb/sub')).status).toBe(301);
    expect(await get('/deb/sub/')).toMatchObject({ status: 200, body: 'debsub\n', headers: { 'x-regex': 'yes' } });
    expect((await get('/deb/')).status).toBe(403);
    expect((await get('/deb/none')).status).toBe(404);
  });
  test('an index file goes through the location it matches (here a regex one)', async () => {
    expect(await get('/ix/')).toMatchObject({ status: 200, body: 'ixindex\n', headers: { 'x-regex': 'yes' } });
  });
  test('=code ends the request with that status, and error_page applies', async () => {
    expect((await get('/code')).status).toBe(418);
    expect(await get('/ep/nope')).toMatchObject({ status: 404, body: 'custom404\n' });
  });
  test('=200 closes the connection without a response, as nginx does', async () => {
    await expect(get('/c200')).rejects.toThrow(/socket hang up/);
  });
  test('@name keeps $uri and $args', async () => {
    expect(await get('/named?q=1')).toMatchObject({ status: 200, body: 'named uri=/named args=q=1\n' });
  });
  test('a redirect cycle ends with 500 after 10 redirects', async () => {
    expect((await get('/loop')).status).toBe(500);
    const line = 'rewrite or internal redirection cycle while internally redirecting to "/loop"';
    for (let i = 0; i < 100 && !gw.stderr().includes(line); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(gw.stderr()).toContain(line);
  });
  test('alias: a value with variables loses the location prefix, a literal one does not', async () => {
    expect(await get('/al/x')).toMatchObject({ status: 200, body: 'data-x\n' });
    expect((await get('/al/y')).status).toBe(404);
    expect((await get('/al2/zz')).status).toBe(404);
    expect(await get('/al3/zz')).toMatchObject({ status: 200, body: 'data-x\n' });
  });
  test('alias in a regex location: the found name is appended to the alias', async () => {
    expect(await get('/rx/x')).toMatchObject({ status: 200, body: 'data-x\n' });
    expect(await get('/ry/x')).toMatchObject({ status: 200, body: 'data-x\n' });
    expect((await get('/ry/none')).status).toBe(404);
  });
  test('server-level try_files serves URIs no location matches (it is not inherited)', async () => {
    expect(await get('/a.txt')).toMatchObject({ status: 200, body: 'a\n' });
    expect(await get('/nomatch')).toMatchObject({ status: 200, body: 'fallback\n' });
  });
  test('return runs before try_files', async () => {
    expect(await get('/ret')).toMatchObject({ status: 200, body: 'ret' });
  });
  test('a file found is served; otherwise the request goes to the proxy location', async () => {
    expect(await get('/px/here.txt')).toMatchObject({ status: 200, body: 'here\n' });
    expect(await get('/px/a?q=1')).toMatchObject({ status: 200, body: 'backend /px/a?q=1\n' });
  });
});
