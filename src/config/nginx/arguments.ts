/**
 * A directive's arguments as one scalar of the located tree: the text as written in the file
 * (quotes and escapes kept), which the builder splits again as nginx splits arguments. Where
 * that text would not split back into the same arguments (a comment between them), each
 * argument is written alone, quoted where it must be.
 */
import { splitArgs } from '../values';
import type { Word } from './tokens';

/** Whether `text`, split nginx's way, gives exactly `args`. */
function splitsInto(text: string, args: readonly string[]): boolean {
  let split: string[];
  try {
    split = splitArgs(text);
  } catch {
    return false;
  }
  return split.length === args.length && split.every((a, i) => a === args[i]);
}

/** One argument as nginx reads it back: bare where it can be, else double-quoted with `\\` and `\"` escaped. */
export function quoteArgument(text: string): string {
  if (/^[^\s;{}#"'\\]+$/.test(text)) return text;
  return `"${text.replace(/[\\"]/g, '\\$&')}"`;
}

/** The arguments `words` stand for, as text of `source` the builder splits back into them ('' for none). */
export function argumentsText(source: string, words: readonly Word[]): string {
  if (words.length === 0) return '';
  const span = source.slice(words[0].start, words[words.length - 1].end);
  const texts = words.map((w) => w.text);
  if (splitsInto(span, texts)) return span;
  return words
    .map((w) => {
      const raw = source.slice(w.start, w.end);
      return splitsInto(raw, [w.text]) ? raw : quoteArgument(w.text);
    })
    .join(' ');
}
