/**
 * Checking a plugin's options against its JSON Schema with Ajv (the only importer of ajv):
 * the schema compiled once per plugin, the options checked once at load (`default`s filled in),
 * the first error pointed at the option it is about — the key's value, or the key itself for an
 * option the schema does not allow — so `gateway -t` prints it at its file:line:column.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { ConfNode } from '../../config/load';
import { ConfigError, type Position } from '../../errors';
import type { PluginSchema } from '../../types';

const ajv = new Ajv({ useDefaults: true, allErrors: false, strict: true });

/** Compiled schemas by the schema object: two blocks configuring one plugin compile it once. */
const compiled = new WeakMap<PluginSchema, ValidateFunction>();

/** The schema compiled, or the reason Ajv refuses it. */
export function compileSchema(schema: PluginSchema): ValidateFunction | string {
  const known = compiled.get(schema);
  if (known) return known;
  try {
    const validate = ajv.compile(schema);
    compiled.set(schema, validate);
    return validate;
  } catch (err) {
    return String((err as Error).message).split('\n')[0];
  }
}

/**
 * Checks `options` (a plain copy of `node`, changed in place by `default`s): throws a
 * ConfigError at the option that fails, `label` first (`plugin "jwt"`).
 */
export function checkOptions(validate: ValidateFunction, options: unknown, node: ConfNode, label: string): void {
  if (validate(options)) return;
  const error = validate.errors![0];
  throw new ConfigError(`${label}: ${describe(error)}`, positionOf(error, node));
}

/** `option "a/b" must be integer`, or the options' own fault (`must have required property 'key'`). */
function describe(error: ErrorObject): string {
  const where = error.instancePath ? `option "${error.instancePath.slice(1)}" ` : 'options ';
  const extra = error.keyword === 'additionalProperties' ? `: "${String(error.params.additionalProperty)}"` : error.keyword === 'enum' ? ` (${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')})` : '';
  return `${where}${error.message ?? 'are not valid'}${extra}`;
}

/** The node the error's JSON pointer names in the configuration (its nearest ancestor written there). */
function positionOf(error: ErrorObject, root: ConfNode): Position {
  let node = root;
  for (const raw of error.instancePath.split('/').slice(1)) {
    const step = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const next = node.kind === 'map' ? node.entries.find((e) => e.key === step)?.value : node.kind === 'seq' ? node.items[Number(step)] : undefined;
    if (!next) break;
    node = next;
  }
  if (error.keyword === 'additionalProperties' && node.kind === 'map') {
    const extra = node.entries.find((e) => e.key === error.params.additionalProperty);
    if (extra) return extra.keyPos;
  }
  return node.pos;
}
