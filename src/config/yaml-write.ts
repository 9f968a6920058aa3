/**
 * A located tree -> YAML text in the shape CONFIG.md gives (block maps and lists, two spaces a
 * level), for `gateway convert`. A string is written plain where YAML reads it back as the same
 * string, else double-quoted (JSON's escapes, which YAML's double quotes share).
 */
import type { ConfNode, MapNode, Scalar, ScalarNode } from './load';

/** Words YAML 1.2 (the yaml package's default) reads as something other than a string: booleans, null, the special numbers. */
const NOT_A_STRING = /^(true|false|null|~|\.nan|\.inf|-\.inf|\+\.inf)$/i;

/** Whether `text` may be written as a plain YAML scalar (key or value) and read back as this string. */
function plainSafe(text: string): boolean {
  if (text === '' || NOT_A_STRING.test(text)) return false;
  // Starts as a word, a path, a variable or a location modifier; never as a number or an indicator.
  if (!/^[A-Za-z_/$.^=(\\~]/.test(text) || /^~$/.test(text) || /^\.\d/.test(text)) return false;
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(text)) return false;
  if (/\s$/.test(text) || /:(\s|$)/.test(text) || /\s#/.test(text)) return false;
  return true;
}

/** A string as YAML writes it back to the same string. */
export function yamlString(text: string): string {
  return plainSafe(text) ? text : JSON.stringify(text);
}

function scalarText(node: ScalarNode): string {
  const value: Scalar = node.value;
  if (value === null) return '';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return node.source ?? String(value);
  return yamlString(value);
}

/** The lines of `node` as the value of a key (or list item) at `indent`. */
function valueLines(node: ConfNode, indent: string): { inline: string; lines: string[] } {
  if (node.kind === 'scalar') return { inline: scalarText(node), lines: [] };
  if (node.kind === 'map') {
    if (node.entries.length === 0) return { inline: '{}', lines: [] };
    return { inline: '', lines: mapLines(node, `${indent}  `) };
  }
  if (node.items.length === 0) return { inline: '[]', lines: [] };
  const lines: string[] = [];
  for (const item of node.items) {
    if (item.kind === 'map' && item.entries.length > 0) {
      const [first, ...rest] = mapLines(item, `${indent}    `);
      lines.push(`${indent}  - ${first.trimStart()}`, ...rest);
    } else {
      const inner = valueLines(item, `${indent}  `);
      lines.push(`${indent}  -${inner.inline ? ` ${inner.inline}` : ''}`, ...inner.lines);
    }
  }
  return { inline: '', lines };
}

function mapLines(node: MapNode, indent: string): string[] {
  const lines: string[] = [];
  for (const e of node.entries) {
    const value = valueLines(e.value, indent);
    lines.push(`${indent}${yamlString(e.key)}:${value.inline ? ` ${value.inline}` : ''}`, ...value.lines);
  }
  return lines;
}

/** The YAML text of a configuration's tree (a map of directives). */
export function writeYaml(root: MapNode): string {
  return `${mapLines(root, '').join('\n')}\n`;
}
