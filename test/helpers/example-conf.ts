/**
 * A shipped example (conf/examples/NAME) as a test runs it: listening on a free loopback port,
 * its error log on stderr, no pid file, no access log, and the test's own edits (backend ports,
 * shorter windows, an extra location). An edit that no longer finds its text throws, naming the
 * file: the example changed and the test must follow.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './gateway-process';

/** Every occurrence of `from` becomes `to`. */
export type Edit = readonly [from: string, to: string];

export function exampleConf(name: string, edits: readonly Edit[] = []): string {
  const all: Edit[] = [
    [/listen: \d+\n/.exec(readExample(name))?.[0] ?? 'listen: ', 'listen: "127.0.0.1:0"\n'],
    ['error_log: logs/error.log info', 'error_log: stderr info\npid: off'],
    ['http:\n', 'http:\n  access_log: "off"\n'],
    ...edits,
  ];
  let text = readExample(name);
  for (const [from, to] of all) {
    if (!text.includes(from)) throw new Error(`conf/examples/${name} changed ("${from.trim()}" is gone): update this test`);
    text = text.replaceAll(from, to);
  }
  return text;
}

function readExample(name: string): string {
  return readFileSync(path.join(ROOT, 'conf/examples', name), 'utf8');
}
