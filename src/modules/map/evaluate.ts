/**
 * A map's variable, read: evaluated when a value reads it (never before), then kept for the
 * request (its client request: a subrequest shares it, as nginx's share `r->variables`)
 * unless the map is `volatile`. A map whose value reads its own variable, directly or through
 * others, gives the empty string, as nginx's "cycle while evaluating variable".
 */
import type { CompiledValue, VariableSource } from '../../http/variables';
import type { CompiledMap } from './map-block';

/** Each request's values of its (non-volatile) maps, by the client's request object. */
const cached = new WeakMap<object, Map<CompiledMap, string>>();

/** The maps being evaluated now (evaluation is synchronous): one met again is a cycle. */
const evaluating = new Set<CompiledMap>();

/** The getter of `map`'s variable. */
export function mapGetter(map: CompiledMap): (s: VariableSource) => string {
  return (s) => {
    const key: unknown = s.mainRequest;
    const perRequest = !map.volatile && typeof key === 'object' && key !== null ? cached.get(key) : undefined;
    const known = perRequest?.get(map);
    if (known !== undefined) return known;
    if (evaluating.has(map)) return '';
    evaluating.add(map);
    let value: string;
    try {
      value = lookUp(map, s);
    } finally {
      evaluating.delete(map);
    }
    if (!map.volatile && typeof key === 'object' && key !== null) {
      if (perRequest) perRequest.set(map, value);
      else cached.set(key, new Map([[map, value]]));
    }
    return value;
  };
}

/** nginx's order: exact, longest `*.` wildcard, longest `.*` wildcard, first regex, default. */
function lookUp(map: CompiledMap, s: VariableSource): string {
  let text = map.source(s);
  if (map.hostnames && text.endsWith('.')) text = text.slice(0, -1);
  const lower = text.toLowerCase();
  const exact = map.exact.get(lower);
  if (exact) return exact(s);
  if (map.hostnames) {
    for (const { suffix, value } of map.leading) if (lower.endsWith(suffix)) return value(s);
    for (const { prefix, value } of map.trailing) if (lower.startsWith(prefix)) return value(s);
  }
  for (const { regex, value } of map.regexes) {
    const m = regex.exec(text);
    if (m) return value.constant ?? withCaptures(s, m, value);
  }
  return map.defaultValue ? map.defaultValue(s) : '';
}

/** What a regex key's value reads of the request: its captures, swapped in while it is evaluated. */
interface CaptureSlots {
  captures: readonly string[];
  namedCaptures: Readonly<Record<string, string>>;
}

/**
 * `value` evaluated with the regex key's captures as `$1`... and its named captures: they are
 * set on the request for the time of the (synchronous) evaluation and put back after, so the
 * request's own stay as they were (nginx leaves the map's in place: see the README). Not
 * through a wrapper object with the request as prototype: V8 would turn every request into a
 * prototype, slower for all it does later.
 */
function withCaptures(s: VariableSource, m: RegExpExecArray, value: CompiledValue): string {
  const target = s as unknown as CaptureSlots;
  const captures: string[] = [];
  for (let i = 0; i < m.length; i++) captures.push(m[i] ?? '');
  const saved: CaptureSlots = { captures: target.captures, namedCaptures: target.namedCaptures };
  try {
    target.captures = captures;
    if (m.groups) {
      const named: Record<string, string> = { ...saved.namedCaptures };
      for (const k in m.groups) named[k] = m.groups[k] ?? '';
      target.namedCaptures = named;
    }
    return value(s);
  } finally {
    target.captures = saved.captures;
    target.namedCaptures = saved.namedCaptures;
  }
}
