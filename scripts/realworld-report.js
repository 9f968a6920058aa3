#!/usr/bin/env node
/**
 * The real-world configurations of test/realworld/, as a new user would try them: for each file
 * (placeholders filled as test/helpers/realworld.ts documents), what `gateway -t` says, what
 * `nginx -t` (nginx 1.22) says with `--nginx`, and the directive uses the gateway knows.
 * Prints a table and the shares; FastCGI/uWSGI/SCGI files counted apart.
 *
 *   npm run build && node scripts/realworld-report.js [--nginx] [--json] [--table] [FILE...]
 *
 * `--table` prints the EXPECTED table of test/realworld.test.ts from the gateway's answers.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const { cpSync, mkdtempSync, readdirSync, rmSync, readFileSync, symlinkSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

require('tsx/cjs');
const ROOT = path.resolve(__dirname, '..');
const rw = require(path.join(ROOT, 'test/helpers/realworld.ts'));

const args = process.argv.slice(2);
const withNginx = args.includes('--nginx');
const asJson = args.includes('--json');
const asTable = args.includes('--table');
const only = args.filter((a) => !a.startsWith('--'));

/** The directive names the gateway's modules own (from dist/), and the block keys of the tree. */
function knownDirectives() {
  const { MODULES } = require(path.join(ROOT, 'dist/modules/registry.js'));
  const names = new Set(MODULES.flatMap((m) => Object.keys(m.directives)));
  // The blocks and the server's own directives, which the builder reads itself (src/config/build.ts).
  for (const name of ['events', 'http', 'server', 'location', 'upstream', 'include', 'types', 'listen', 'server_name']) names.add(name);
  return names;
}

/** The first line of a `-t` answer that says why, without the program's name. */
function verdict(stderr, status) {
  if (status === 0) return 'passes';
  const line = stderr.split('\n').find((l) => /\[emerg\]|\berror\b|unknown|not supported/.test(l)) ?? stderr.trim().split('\n')[0] ?? '';
  return line.replace(/^\S+: (nginx: )?/, '').trim();
}

/**
 * The collected files a case reads: the file and those put beside it; for a file of a tree
 * (h5bp's), the tree's configuration files but its templates (the case's own apart).
 */
function filesRead(kase) {
  const files = [kase.file, ...(kase.beside ?? []).map(([from]) => from)];
  if (!kase.file.includes('/')) return files;
  const tree = kase.file.split('/')[0];
  const walk = (dir) => readdirSync(path.join(rw.REALWORLD_DIR, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
  const confs = walk(tree).filter((f) => f.endsWith('.conf') && !f.includes('/templates/'));
  return [...new Set([...confs, ...files])];
}

/** A gateway answer as an entry of test/realworld.test.ts's EXPECTED table. */
function expectation(answer) {
  if (answer === 'passes') return "'passes'";
  const at = /in \S*\/conf\/(\S+):(\d+):\d+$/.exec(answer);
  const where = at ? `${at[1]}:${at[2]}` : '?';
  const name = /"([^"]+)" directive is not supported yet|the "([^"]+)" parameter of "\w+" is not supported yet/.exec(answer);
  if (name) return `{ notSupported: '${name[1] ?? name[2]}', at: '${where}' }`;
  const reason = answer.replace(/^\[emerg\] /, '').replace(/ in \S+$/, '').replace(/'/g, "\\'");
  return `{ asNginx: '${reason}', at: '${where}' }`;
}

function main() {
  const known = knownDirectives();
  const base = mkdtempSync(path.join(os.tmpdir(), 'realworld-'));
  rw.makeCertificates(base);
  const rows = [];
  try {
    for (const kase of rw.REALWORLD_CASES) {
      if (only.length && !only.some((o) => kase.file.includes(o))) continue;
      const prefix = mkdtempSync(path.join(os.tmpdir(), 'realworld-case-'));
      try {
        cpSync(path.join(base, 'certs'), path.join(prefix, 'certs'), { recursive: true });
        const conf = rw.prepareCase(kase, prefix);
        const gw = spawnSync(process.execPath, [path.join(ROOT, 'bin/gateway'), '-t', '-p', prefix, '-c', conf], { encoding: 'utf8', timeout: 30000 });
        const row = { file: kase.file, project: kase.project, fastcgi: !!kase.fastcgi, gateway: verdict(gw.stderr + gw.stdout, gw.status) };
        if (withNginx) {
          // Debian's dynamic modules (nchan, lua, ...) loaded first, as Debian's own nginx.conf does
          // (their load_module lines name modules/ under the prefix).
          symlinkSync('/usr/lib/nginx/modules', path.join(prefix, 'modules'));
          const ng = spawnSync('/usr/sbin/nginx', ['-t', '-p', prefix + '/', '-c', conf, '-g', 'include /etc/nginx/modules-enabled/*.conf;'], { encoding: 'utf8', timeout: 30000 });
          row.nginx = verdict(ng.stderr, ng.status);
        }
        const uses = filesRead(kase).flatMap((file) => rw.directiveUses(rw.fillPlaceholders(readFileSync(path.join(rw.REALWORLD_DIR, file), 'utf8'), kase, prefix, path.join(prefix, 'conf'))));
        row.uses = uses.length;
        row.lacking = [...new Set(uses.filter((u) => !known.has(u.name)).map((u) => u.name))];
        row.knownUses = uses.filter((u) => known.has(u.name)).length;
        rows.push(row);
      } finally {
        rmSync(prefix, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
  if (asJson) return console.log(JSON.stringify(rows, null, 2));
  if (asTable) return rows.forEach((r) => console.log(`  '${r.file}': ${expectation(r.gateway)},`));
  for (const r of rows) {
    console.log(`${r.file}${r.fastcgi ? ' (FastCGI)' : ''}`);
    console.log(`  gateway -t: ${r.gateway}`);
    if (withNginx) console.log(`  nginx -t:   ${r.nginx}`);
    console.log(`  directives the gateway knows: ${r.knownUses}/${r.uses}${r.lacking.length ? `; lacks: ${r.lacking.join(' ')}` : ''}`);
  }
  const counted = rows.filter((r) => !r.fastcgi);
  const pass = counted.filter((r) => r.gateway === 'passes').length;
  const uses = counted.reduce((n, r) => n + r.uses, 0);
  const knownUses = counted.reduce((n, r) => n + r.knownUses, 0);
  const refusedRight = counted.filter((r) => r.gateway === 'passes' || /not supported yet/.test(r.gateway)).length;
  console.log('');
  console.log(`files (FastCGI/uWSGI/SCGI apart): ${counted.length}, FastCGI: ${rows.length - counted.length}`);
  console.log(`gateway -t passes: ${pass}/${counted.length} (${((100 * pass) / Math.max(1, counted.length)).toFixed(0)} %)`);
  console.log(`passes or refused with "not supported yet": ${refusedRight}/${counted.length}`);
  console.log(`directive uses the gateway knows: ${knownUses}/${uses} (${((100 * knownUses) / Math.max(1, uses)).toFixed(0)} %)`);
  if (withNginx) {
    const np = counted.filter((r) => r.nginx === 'passes').length;
    console.log(`nginx 1.22 -t passes: ${np}/${counted.length}`);
  }
}

main();
