/**
 * Real nginx configurations, as published by their projects (test/realworld/, sources and
 * licences in its README.md), checked with `gateway -t -c FILE` as written, their documented
 * placeholders filled (test/helpers/realworld.ts). Each file's outcome is in the table below:
 * it passes, or it is refused at a named place with `not supported yet`, or (a file nginx 1.22
 * itself refuses as written) it is refused with nginx's reason. A file that starts to pass
 * fails its case until the table says so, so the share can only go up.
 *
 * `node scripts/realworld-report.js --table` prints this table from what the gateway answers,
 * `--nginx` beside what nginx 1.22 answers.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './helpers/gateway-process';
import { makeCertificates, prepareCase, REALWORLD_CASES, type RealWorldCase } from './helpers/realworld';

/** What `gateway -t` answers for a file. */
type Expected =
  | 'passes'
  /** `"X" directive is not supported yet` (or `the "X" parameter of "listen" is not supported yet`) at FILE:LINE of the files the case reads. */
  | { readonly notSupported: string; readonly at: string }
  /** A file nginx 1.22 refuses too: the gateway's reason, as nginx words it, at FILE:LINE. */
  | { readonly asNginx: string; readonly at: string };

/**
 * The outcomes measured (`scripts/realworld-report.js --table`) once HTTP/2 (issue 18),
 * proxy_cache (issue 17), the slice module and limit_except/limit_rate came: every file passes
 * but Synapse's and Jellyfin's, which nginx refuses too.
 */
const EXPECTED: Readonly<Record<string, Expected>> = {
  'nginx-default.conf': 'passes',
  'debian-nginx.conf': 'passes',
  'debian-default-site.conf': 'passes',
  'openresty-docker-nginx.conf': 'passes',
  'openresty-docker-default-site.conf': 'passes',
  'certbot-options-ssl-nginx.conf': 'passes',
  'h5bp-server-configs/nginx.conf': 'passes',
  'h5bp-server-configs/conf.d/templates/example.com.conf': 'passes',
  'nchan-basic.conf': 'passes',
  'mastodon-nginx.conf': 'passes',
  'gitlab-nginx.conf': 'passes',
  'mattermost-nginx.conf': 'passes',
  // nginx 1.22 and the gateway both name the server block (line 2).
  'synapse-nginx.conf': { asNginx: 'no "ssl_certificate" is defined for the "listen ... ssl" directive', at: 'synapse-nginx.conf:2' },
  // nginx 1.22 refuses it too (`unknown directive "http2"`: `http2 on` is nginx 1.25's); past
  // that line nginx 1.25 and the gateway refuse the certbot include's second `ssl_protocols`.
  'jellyfin-nginx.conf': { asNginx: '"ssl_protocols" directive is duplicate', at: 'certbot-options-ssl-nginx.conf:12' },
  'grafana-nginx.conf': 'passes',
  'home-assistant-nginx.conf': 'passes',
  'gitea-nginx.conf': 'passes',
  'jenkins-nginx.conf': 'passes',
  'uptime-kuma-nginx.conf': 'passes',
  'immich-nginx.conf': 'passes',
  'zammad-ssl.conf': 'passes',
  'peertube-nginx.conf': 'passes',
  'lemmy-ansible-nginx.conf': 'passes',
  'sentry-self-hosted-nginx.conf': 'passes',
  'netbox-nginx.conf': 'passes',
  'odoo-nginx.conf': 'passes',
  'rocketchat-nginx.conf': 'passes',
  'gunicorn-nginx.conf': 'passes',
  'puma-nginx.conf': 'passes',
  'nextcloud-nginx-root.conf': { notSupported: 'fastcgi_buffers', at: 'nextcloud-nginx-root.conf:58' },
};

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The line a refusal must end with: its reason, then `in .../conf/FILE:LINE:COLUMN`. */
function refusal(expected: Exclude<Expected, 'passes'>): RegExp {
  const [file, line] = expected.at.split(/:(?=\d+$)/);
  const where = `in \\S*/conf/${escape(file)}:${line}:\\d+$`;
  if ('asNginx' in expected) return new RegExp(`${escape(expected.asNginx)} ${where}`, 'm');
  const name = escape(expected.notSupported);
  return new RegExp(`(?:"${name}" directive is not supported yet|the "${name}" parameter of "\\w+" is not supported yet) ${where}`, 'm');
}

describe('real-world nginx configurations, gateway -t as written', () => {
  let certs: string;
  beforeAll(() => {
    certs = mkdtempSync(path.join(os.tmpdir(), 'realworld-certs-'));
    makeCertificates(certs);
  });
  afterAll(() => rmSync(certs, { recursive: true, force: true }));

  test('every collected file has its expected outcome, and no other file is listed', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(REALWORLD_CASES.map((c) => c.file).sort());
  });

  test.each(REALWORLD_CASES.map((c) => [c.file, c] as [string, RealWorldCase]))('%s', async (_file, kase) => {
    const prefix = mkdtempSync(path.join(os.tmpdir(), 'realworld-'));
    try {
      cpSync(path.join(certs, 'certs'), path.join(prefix, 'certs'), { recursive: true });
      const main = prepareCase(kase, prefix);
      const { code, stderr, stdout } = await runCli(['-t', '-p', prefix, '-c', main], prefix);
      const expected = EXPECTED[kase.file];
      if (expected === 'passes') {
        expect(stderr + stdout).toMatch(/test is successful/);
        expect(code).toBe(0);
      } else {
        // A file that now passes fails here until the table says 'passes'.
        expect(stderr).toMatch(refusal(expected));
        expect(code).toBe(1);
      }
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  }, 30000);

  test('the share of files that pass (FastCGI/uWSGI/SCGI files apart) is what the README says', () => {
    const counted = REALWORLD_CASES.filter((c) => !c.fastcgi);
    const passing = counted.filter((c) => EXPECTED[c.file] === 'passes').length;
    // README.md, "Real configurations": the share measured with this table.
    expect(`${passing}/${counted.length}`).toBe('27/29');
  });
});
