/**
 * Which reader a configuration file takes: YAML (`.yaml`, `.yml`, `.json`) or nginx's own
 * syntax (`.conf`, or a file whose first word is not a YAML key), both giving the same located
 * tree.
 */
import path from 'node:path';
import { ConfigError } from '../errors';
import { loadFile, type ConfNode } from './load';
import { readNginxFile, type ReadOptions } from './nginx/read';
import { ConfigSources, SourceError } from './sources';

/** The two syntaxes of a configuration file. */
export type Syntax = 'yaml' | 'nginx';

/** The syntax of `file`: told by its extension, else by its first word that is not a comment. */
export function syntaxOf(file: string, text: string): Syntax {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.yaml' || ext === '.yml' || ext === '.json') return 'yaml';
  if (ext === '.conf') return 'nginx';
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf('\n', start);
    const word = text.slice(start, end < 0 ? text.length : end).trim();
    start = end < 0 ? text.length : end + 1;
    if (!word || word.startsWith('#')) continue;
    // A YAML document starts with a key (`name:`), a list item, a flow collection or a marker;
    // an nginx directive's first word never ends with a colon.
    return /^(---|%|-(\s|$)|[[{]|"[^"]*"\s*:|'[^']*'\s*:|[^\s:;{}#"']+:(\s|$))/.test(word) ? 'yaml' : 'nginx';
  }
  return 'yaml';
}

/** Reads a configuration file, in either syntax, into a located tree (`options`: what the nginx.conf reader may know of the directives). */
export function readConfigFile(file: string, sources: ConfigSources = new ConfigSources(), options: ReadOptions = {}): ConfNode {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = sources.readFile(absolute);
  } catch (err) {
    if (err instanceof SourceError) throw new ConfigError(err.message);
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`open() "${absolute}" failed (${e.code ?? e.message})`);
  }
  return syntaxOf(absolute, text) === 'nginx' ? readNginxFile(absolute, sources, options) : loadFile(absolute, sources);
}
