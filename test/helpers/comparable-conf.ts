/**
 * A built configuration as plain data to compare two builds of one site (nginx.conf and YAML,
 * before and after `convert`): where things were written (positions, file names) is left out,
 * Maps and Sets become lists in their order, functions their names, RegExps their text.
 */
const WHERE = new Set(['position', 'pos', 'keyPos', 'file']);

export function comparableConf(value: unknown, within: Set<unknown> = new Set()): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? `[function ${value.name}]` : value;
  if (within.has(value)) return '[cycle]';
  within.add(value);
  try {
    if (value instanceof RegExp) return String(value);
    if (Buffer.isBuffer(value)) return `[buffer ${value.toString('hex')}]`;
    if (value instanceof Map) return [...value].map(([k, v]) => [comparableConf(k, within), comparableConf(v, within)]);
    if (value instanceof Set) return [...value].map((v) => comparableConf(v, within));
    if (Array.isArray(value)) return value.map((v) => comparableConf(v, within));
    const withEntries = value as { entries?: () => Iterable<[unknown, unknown]> };
    if (typeof withEntries.entries === 'function' && Object.getPrototypeOf(value) !== Object.prototype) {
      return [...withEntries.entries()].map(([k, v]) => [(k as { name?: string })?.name ?? comparableConf(k, within), comparableConf(v, within)]);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (!WHERE.has(k)) out[k] = comparableConf(v, within);
    return out;
  } finally {
    within.delete(value);
  }
}
