/**
 * The configuration fuzz suite: 1,000 mutations of the repository's configurations and of the
 * YAML its tests write (wrong types, Unicode white space in values and keys, anchors and
 * aliases, truncations, huge values, includes of what is not a file), each through the check
 * `gateway -t` makes, in a child process that is killed on a hang. Each must answer within a
 * few seconds: accepted, or refused in exactly one line ending in file:line:column, never a
 * trace of a JavaScript error. A sample also goes through the real `bin/gateway -t`.
 *
 * Deterministic: FUZZ_SEED (default 20261205) picks the mutations; a failure prints the seed,
 * the mutation's number, what was done and where its file is kept, to reproduce it with
 * `bin/gateway -t -p . -c <file>`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { badRefusal, checkAll, corpus, INCLUDABLE, mutation, type Mutation, type Outcome } from './helpers/config-fuzz';
import { GATEWAY_BIN, ROOT } from './helpers/gateway-process';

const SEED = Number(process.env.FUZZ_SEED ?? 20261205);
const COUNT = 1000;
/** How long one check may take, with room for a machine shared with other work. */
const DEADLINE_MS = 5000;
/** How many mutations also go through bin/gateway -t. */
const CLI_SAMPLE = 15;

let dir: string;
let mutations: Mutation[];
let files: string[];
let outcomes: Outcome[];
let failed = false;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'gateway-config-fuzz-'));
  for (const [name, text] of Object.entries(INCLUDABLE)) writeFileSync(path.join(dir, name), text);
  const sources = corpus();
  mutations = Array.from({ length: COUNT }, (_, i) => mutation(SEED, i, sources));
  files = mutations.map((m) => {
    const file = path.join(dir, `mutation-${m.index}.yaml`);
    writeFileSync(file, m.text);
    return file;
  });
  // Two checking children, one per core, each with half the files (each check is independent).
  const half = Math.ceil(files.length / 2);
  outcomes = (await Promise.all([checkAll(files.slice(0, half), ROOT, DEADLINE_MS), checkAll(files.slice(half), ROOT, DEADLINE_MS)])).flat();
}, 240_000);

afterAll(() => {
  if (!failed) rmSync(dir, { recursive: true, force: true });
});

/** What to print for a mutation that fails, to reproduce it. */
function describeMutation(i: number, why: string): string {
  failed = true;
  const m = mutations[i];
  return [
    `mutation ${m.index} (FUZZ_SEED=${SEED}) of ${m.source}: ${why}`,
    ...m.steps.map((s) => `  - ${s}`),
    `  kept in ${files[i]}; reproduce with: bin/gateway -t -p ${ROOT} -c ${files[i]}`,
    `  text (first 500 characters): ${JSON.stringify(m.text.slice(0, 500))}`,
  ].join('\n');
}

test(`the corpus and ${COUNT} mutations`, () => {
  expect(corpus().length).toBeGreaterThan(20);
  expect(outcomes).toHaveLength(COUNT);
  // The mix is worth something only if both answers come up often.
  expect(outcomes.filter((o) => o.kind === 'ok').length).toBeGreaterThan(10);
  expect(outcomes.filter((o) => o.kind === 'refused').length).toBeGreaterThan(100);
});

test('every mutation is accepted, or refused in one line ending in file:line:column, within the deadline', () => {
  const problems: string[] = [];
  outcomes.forEach((o, i) => {
    if (o.kind === 'ok') return;
    if (o.kind !== 'refused') problems.push(describeMutation(i, `${o.kind}: ${o.detail}`));
    else {
      const bad = badRefusal(o.reason);
      if (bad) problems.push(describeMutation(i, `${bad}: ${JSON.stringify(o.reason.slice(0, 1000))}`));
    }
  });
  expect(problems).toEqual([]);
});

test(`a sample of ${CLI_SAMPLE} through bin/gateway -t: the same answer, nginx's lines, nothing else`, () => {
  const problems: string[] = [];
  for (let n = 0; n < CLI_SAMPLE; n++) {
    const i = Math.floor((n * COUNT) / CLI_SAMPLE);
    const file = files[i];
    const run = spawnSync(process.execPath, [GATEWAY_BIN, '-t', '-p', ROOT, '-c', file], { cwd: ROOT, encoding: 'utf8', timeout: 15_000 });
    const outcome = outcomes[i];
    const expected =
      outcome.kind === 'ok'
        ? { status: 0, stderr: `gateway: the configuration file ${file} syntax is ok\ngateway: configuration file ${file} test is successful\n` }
        : { status: 1, stderr: `gateway: [emerg] ${outcome.kind === 'refused' ? outcome.reason : outcome.detail}\ngateway: configuration file ${file} test failed\n` };
    if (run.signal || run.status !== expected.status || run.stderr !== expected.stderr || run.stdout !== '') {
      problems.push(describeMutation(i, `bin/gateway -t said (${run.signal ?? run.status}) ${JSON.stringify(run.stderr.slice(0, 1000))}, expected ${JSON.stringify(expected.stderr.slice(0, 1000))}`));
    }
  }
  expect(problems).toEqual([]);
}, 240_000);
