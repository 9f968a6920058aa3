/** Builds a configuration from YAML text as if read from /virtual/site.yaml (prefix /virtual), for golden tests. */
import { buildConfig } from '../../src/config/build';
import { parseText } from '../../src/config/load';
import type { MainConf } from '../../src/config/model';
import { ConfigError } from '../../src/errors';
import { REGISTRY } from '../../src/modules/registry';

export const VIRTUAL_FILE = '/virtual/site.yaml';

/** The checked configuration of `yaml`. */
export function buildVirtual(yaml: string): MainConf {
  return buildConfig(parseText(yaml, VIRTUAL_FILE), VIRTUAL_FILE, '/virtual', REGISTRY);
}

/** The one-line ConfigError message `yaml` gives (throws if it checks). */
export function configErrorOf(yaml: string): string {
  try {
    buildVirtual(yaml);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('no error');
}
