/**
 * The configuration fuzzer's parts: a seeded random source, the corpus (the repository's
 * configurations and the YAML its tests write), the mutations, and a runner that puts each
 * mutation through `checkConfig` (the check `gateway -t` makes) in a child process, one batch
 * per child, killing and replacing the child when a mutation hangs it or takes it down.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './gateway-process';

/** mulberry32: a small, fast, seeded generator; the same seed gives the same mutations. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One configuration to mutate: where it came from and its text. */
export interface Source {
  readonly name: string;
  readonly text: string;
}

/**
 * The corpus: conf/*.yaml, conf/examples/*.yaml, and every YAML document the tests write as a
 * template literal (interpolations replaced by `1`, a value most directives take).
 */
export function corpus(): Source[] {
  const sources: Source[] = [];
  for (const dir of ['conf', 'conf/examples']) {
    for (const file of readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith('.yaml')).sort()) {
      sources.push({ name: `${dir}/${file}`, text: readFileSync(path.join(ROOT, dir, file), 'utf8') });
    }
  }
  const seen = new Set(sources.map((s) => s.text));
  const testDir = path.join(ROOT, 'test');
  for (const file of readdirSync(testDir).filter((f) => f.endsWith('.test.ts')).sort()) {
    const code = readFileSync(path.join(testDir, file), 'utf8');
    let n = 0;
    for (const m of code.matchAll(/`([^`]*\n\s*(?:http|servers|locations|events):[^`]*)`/g)) {
      const text = m[1].replace(/\$\{[^}]*\}/g, '1').replace(/\\n/g, '\n');
      if (seen.has(text) || text.length > 20_000) continue;
      seen.add(text);
      sources.push({ name: `test/${file}#${++n}`, text });
    }
  }
  return sources;
}

/** White space and separators nginx does not separate arguments by, and a few it does. */
const SPACES = ['\u00a0', '\ufeff', '\u2028', '\u2029', '\u3000', '\u1680', '\u2002', '\u200b', '\u0085', '\v', '\f', '\t', '\r', '\u180e', '\u202f'];

/** Values of the wrong type, or at the edges of a type. */
const ODD_VALUES = [
  '{ a: 1 }', '[1, 2]', '[]', '{}', '-1', '0', '1.5', '1e400', '99999999999999999999999', 'true', 'false', '~', '""', '"x"', '.inf', '-.inf', '.nan',
  '0x1F', '0o17', '!!binary aGVsbG8=', '!!str 5', '!!set {a, b}', '!!timestamp 2001-12-14', '[[[[]]]]', '"9999999999999999999999999999d"', '30d', '1000000y',
  '2147483648ms', '24d20h31m23s647ms', '"on"', 'off', '"a b c d e f"', '"\\"unbalanced"', "'it''s'", '"$nope"', '"${x}"', '"\\x00"', '? complex', '&only-anchor',
  '*no-such-anchor', '|\n  block', '>-\n  folded', '"unix:/tmp/x.sock"', '"[::1]:80"', '"*:0 default_server ssl"', '"~ (unclosed"', '"= "', '"@named"',
];

/** Files the suite writes beside the mutations, for `include` to bring in. */
export const INCLUDABLE: Readonly<Record<string, string>> = {
  'empty.yaml': '# comments only\n',
  'list.yaml': '- listen: "127.0.0.1:0"\n- { location: /x, return: "200 x" }\n',
  'map.yaml': 'gzip: on\nbogus: 1\n',
  'scalar.yaml': 'just text\n',
  'self.yaml': 'include: self.yaml\n',
};

/** A YAML node at most this deep in a mutation (past 64 the reader refuses it). */
const DEEP = 200;

type Rng = () => number;
const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)];

/** Lines of the form `[indent][- ]key: value`, with the value's start. */
function valueLines(lines: readonly string[]): { line: number; key: number; value: number }[] {
  const found: { line: number; key: number; value: number }[] = [];
  lines.forEach((text, line) => {
    const m = /^(\s*(?:-\s+)?)([^\s#:][^:#]*):(\s+)(\S.*)$/.exec(text);
    if (m) found.push({ line, key: m[1].length, value: m[1].length + m[2].length + 1 + m[3].length });
  });
  return found;
}

/** One mutation operator: changes `lines` in place and says what it did. */
type Operator = (lines: string[], rng: Rng) => string;

const OPERATORS: Record<string, Operator> = {
  type(lines, rng) {
    const target = pick(rng, valueLines(lines));
    if (!target) return 'type: no value';
    const value = pick(rng, ODD_VALUES);
    const indent = ' '.repeat(target.value + 2);
    lines[target.line] = lines[target.line].slice(0, target.value) + value.replace(/\n/g, `\n${indent}`);
    return `type: line ${target.line + 1} value -> ${JSON.stringify(value)}`;
  },
  flowType(lines, rng) {
    // One `key: value` inside a flow map (`{ location: /s, timeout: 5 }`): a handler's own keys are mostly written so.
    const entries = lines.flatMap((text, line) => [...text.matchAll(/[{,]\s*([\w-]+):\s+([^,{}[\]]+?)\s*(?=[,}])/g)].map((m) => ({ line, at: m.index! + m[0].length - m[2].length, length: m[2].length, key: m[1] })));
    const target = pick(rng, entries);
    if (!target) return 'flowType: no flow map';
    const value = pick(rng, ODD_VALUES.filter((v) => !v.includes('\n')));
    const text = lines[target.line];
    lines[target.line] = text.slice(0, target.at) + value + text.slice(target.at + target.length);
    return `flowType: line ${target.line + 1} ${target.key} -> ${JSON.stringify(value)}`;
  },
  space(lines, rng) {
    const target = pick(rng, valueLines(lines));
    if (!target) return 'space: no value';
    const text = lines[target.line];
    const inKey = rng() < 0.25;
    const from = inKey ? target.key : target.value;
    const to = inKey ? target.value - 2 : text.length;
    const at = from + Math.floor(rng() * (to - from + 1));
    const c = pick(rng, SPACES);
    lines[target.line] = text.slice(0, at) + c + text.slice(at);
    return `space: ${JSON.stringify(c)} at line ${target.line + 1} column ${at + 1}`;
  },
  alias(lines, rng) {
    const values = valueLines(lines);
    if (values.length < 2) return 'alias: too few values';
    const [a, b] = [pick(rng, values), pick(rng, values)];
    const kind = Math.floor(rng() * 3);
    if (kind === 0) {
      lines[a.line] = `${lines[a.line].slice(0, a.value)}&fz ${lines[a.line].slice(a.value)}`;
      lines[b.line] = `${lines[b.line].slice(0, b.value)}*fz`;
      return `alias: &fz on line ${a.line + 1}, *fz on line ${b.line + 1}`;
    }
    if (kind === 1) {
      lines[a.line] = `${lines[a.line].slice(0, a.value)}&self [*self, 1]`;
      return `alias: self-referencing on line ${a.line + 1}`;
    }
    const laughs = ['lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i < 9; i++) laughs.push(`lol${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(', ')}]`);
    lines.unshift(...laughs);
    return 'alias: a billion laughs at the top';
  },
  truncate(lines, rng) {
    const text = lines.join('\n');
    const at = Math.floor(rng() * text.length);
    lines.splice(0, lines.length, ...text.slice(0, at).split('\n'));
    return `truncate: at character ${at}`;
  },
  huge(lines, rng) {
    const target = pick(rng, valueLines(lines));
    if (!target) return 'huge: no value';
    const kind = Math.floor(rng() * 6);
    const value = [
      () => `"${'x'.repeat(1_000_000)}"`,
      () => '9'.repeat(10_000),
      () => `[${Array(50_000).fill('a').join(',')}]`,
      () => `${'['.repeat(DEEP)}${']'.repeat(DEEP)}`,
      () => `"${'a '.repeat(200_000)}"`,
      () => `${'9'.repeat(30)}d`,
    ][kind]();
    lines[target.line] = lines[target.line].slice(0, target.value) + value;
    return `huge: line ${target.line + 1} value of kind ${kind} (${value.length} characters)`;
  },
  hugeKey(lines, rng) {
    const at = Math.floor(rng() * (lines.length + 1));
    const key = rng() < 0.5 ? 'k'.repeat(100_000) : 'deep';
    lines.splice(at, 0, key === 'deep' ? `deep: ${'{a: '.repeat(DEEP)}1${'}'.repeat(DEEP)}` : `${key}: 1`);
    return `hugeKey: line ${at + 1} (${key === 'deep' ? 'a map nested 200 deep' : 'a key of 100,000 characters'})`;
  },
  duplicate(lines, rng) {
    const at = Math.floor(rng() * lines.length);
    lines.splice(at, 0, lines[at]);
    return `duplicate: line ${at + 1}`;
  },
  delete(lines, rng) {
    const at = Math.floor(rng() * lines.length);
    lines.splice(at, 1);
    return `delete: line ${at + 1}`;
  },
  indent(lines, rng) {
    const at = Math.floor(rng() * lines.length);
    lines[at] = rng() < 0.5 ? `  ${lines[at]}` : lines[at].replace(/^ {1,2}/, '');
    return `indent: line ${at + 1}`;
  },
  retype(lines, rng) {
    // A block (a key with nested lines, or a list item) becomes a scalar, or a scalar a block.
    const blocks = lines.flatMap((text, line) => (/^\s*(?:-\s+)?[^\s#:][^:#]*:\s*$/.test(text) || /^\s*-\s+\S/.test(text) ? [line] : []));
    const line = pick(rng, blocks);
    if (line === undefined) return 'retype: no block';
    const indent = /^\s*/.exec(lines[line])![0].length;
    let end = line + 1;
    while (end < lines.length && (lines[end].trim() === '' || /^\s*/.exec(lines[end])![0].length > indent)) end++;
    const head = /^(\s*(?:-\s+)?)([^\s#:][^:#]*:)?/.exec(lines[line])!;
    const value = pick(rng, ODD_VALUES);
    const pad = ' '.repeat(indent + 2);
    const replacement =
      rng() < 0.5
        ? [`${head[1]}${head[2] ? `${head[2]} ` : ''}${value.replace(/\n/g, `\n${pad}`)}`]
        : [`${head[1]}${head[2] ?? 'x:'}`, `${pad}- ${value.replace(/\n/g, `\n${pad}  `)}`, `${pad}- k: ${pick(rng, ODD_VALUES).replace(/\n/g, `\n${pad}    `)}`];
    lines.splice(line, end - line, ...replacement);
    return `retype: lines ${line + 1}-${end} -> ${JSON.stringify(replacement.join('\n').slice(0, 80))}`;
  },
  include(lines, rng) {
    // INCLUDABLE are written beside the mutations by the suite; the rest are not configuration files.
    const target = pick(rng, [...Object.keys(INCLUDABLE), '/dev/zero', '/', '/dev/null', '/proc/self/environ', '"*"', '"*.yaml"', '../../../../../../etc/hostname', 'missing.yaml']);
    const items = lines.flatMap((text, line) => (/^\s*-\s+\S/.test(text) ? [line] : []));
    if (items.length > 0 && rng() < 0.5) {
      // As a list item: the included file's list (or map) is spliced where it stands.
      const line = pick(rng, items);
      lines.splice(line, 0, `${/^\s*-\s+/.exec(lines[line])![0]}include: ${target}`);
      return `include: ${target} as a list item before line ${line + 1}`;
    }
    const at = lines.findIndex((l) => /^http:\s*$/.test(l));
    if (at < 0) lines.unshift(`include: ${target}`);
    else lines.splice(at + 1, 0, `  include: ${target}`);
    return `include: ${target}`;
  },
};

/** Operators by weight: most mutations change a value's type or white space, fewer are huge. */
const WEIGHTED: readonly string[] = Object.entries({ type: 6, flowType: 6, space: 6, retype: 5, alias: 2, truncate: 2, huge: 2, hugeKey: 1, duplicate: 2, delete: 2, indent: 2, include: 1 }).flatMap(
  ([name, weight]) => Array<string>(weight).fill(name),
);

/** One mutation: its number, what was done, and the text. */
export interface Mutation {
  readonly index: number;
  readonly source: string;
  readonly steps: readonly string[];
  readonly text: string;
}

/** The mutation number `index` under `seed`: one to three operators on one corpus entry. */
export function mutation(seed: number, index: number, sources: readonly Source[]): Mutation {
  const rng = random(seed * 1_000_003 + index);
  const source = pick(rng, sources);
  const lines = source.text.split('\n');
  const steps: string[] = [];
  for (let n = 1 + Math.floor(rng() * 3); n > 0; n--) steps.push(OPERATORS[pick(rng, WEIGHTED)](lines, rng));
  return { index, source: source.name, steps, text: lines.join('\n') };
}

/** What the check said of one file. */
export type Outcome =
  | { readonly kind: 'ok'; readonly ms: number }
  | { readonly kind: 'refused'; readonly reason: string; readonly ms: number }
  | { readonly kind: 'hang' | 'crash' | 'threw' | 'noise'; readonly detail: string };

/** The child's program: checks each file it is sent with the gateway's own `checkConfig`, one at a time. */
const RUNNER = `
const { checkConfig } = require(${JSON.stringify(path.join(ROOT, 'dist/config/check'))});
const { REGISTRY } = require(${JSON.stringify(path.join(ROOT, 'dist/modules/registry'))});
process.on('message', (job) => {
  const started = Date.now();
  try {
    const r = checkConfig(job.file, job.prefix, REGISTRY);
    process.send({ id: job.id, ms: Date.now() - started, ok: r.ok, reason: r.ok ? undefined : r.reason });
  } catch (err) {
    process.send({ id: job.id, threw: String((err && err.stack) || err) });
  }
});
process.send({ ready: true });
`;

/**
 * Checks `files` in a child process, one after another; a file the check does not finish within
 * `deadlineMs` (or that kills the child) is recorded as such, and a fresh child takes the rest.
 * Output a child writes while checking a file (a warning, a trace) counts against that file.
 */
export async function checkAll(files: readonly string[], prefix: string, deadlineMs: number): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let child: ChildProcess | null = null;
  let noise = '';
  const start = (): Promise<ChildProcess> =>
    new Promise((resolve, reject) => {
      const c = spawn(process.execPath, ['-e', RUNNER], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      c.stdout!.on('data', (d) => (noise += d));
      c.stderr!.on('data', (d) => (noise += d));
      c.once('message', () => resolve(c));
      c.once('exit', (code) => reject(new Error(`the fuzz runner exited with ${code} before it was ready: ${noise}`)));
    });
  try {
    for (let id = 0; id < files.length; id++) {
      child ??= await start();
      noise = '';
      const running = child;
      const outcome = await new Promise<Outcome>((resolve) => {
        const timer = setTimeout(() => {
          running.kill('SIGKILL');
          resolve({ kind: 'hang', detail: `no answer within ${deadlineMs} ms` });
        }, deadlineMs);
        const onExit = (code: number | null, signal: string | null) => {
          clearTimeout(timer);
          resolve({ kind: 'crash', detail: `the check process exited (${signal ?? code}): ${noise.slice(0, 2000)}` });
        };
        running.once('exit', onExit);
        running.once('message', (m: { threw?: string; ok?: boolean; reason?: string; ms: number }) => {
          clearTimeout(timer);
          running.off('exit', onExit);
          if (m.threw !== undefined) resolve({ kind: 'threw', detail: m.threw });
          else if (noise) resolve({ kind: 'noise', detail: noise.slice(0, 2000) });
          else resolve(m.ok ? { kind: 'ok', ms: m.ms } : { kind: 'refused', reason: m.reason!, ms: m.ms });
        });
        running.send({ id, file: files[id], prefix });
      });
      if (outcome.kind === 'hang' || outcome.kind === 'crash') child = null;
      outcomes.push(outcome);
    }
  } finally {
    child?.kill('SIGKILL');
  }
  return outcomes;
}

/**
 * What is wrong with a refusal's line, or null: it must be one line ending in
 * `file:line:column`, with no trace of a JavaScript error in it.
 */
export function badRefusal(reason: string): string | null {
  if (reason.includes('\n')) return 'more than one line';
  if (!/ in .+:\d+:\d+$/.test(reason)) return 'no file:line:column at its end';
  if (/\bundefined\b|\bNaN\b|\[object |unexpected error while reading|(Range|Type|Reference|Syntax)Error|\n\s+at /.test(reason)) return 'a JavaScript error shows through';
  return null;
}
