/**
 * nginx's ngx_http_auth_basic_module: `auth_basic REALM|off` and `auth_basic_user_file FILE` at
 * http, server and location, each inherited on its own (a block that writes one keeps the other
 * from above). Both take variables. A relative file is taken against the configuration file's
 * directory, as nginx's conf prefix. A file named without variables is read at load, so
 * `gateway -t` refuses one that is missing, unreadable or malformed; one with variables is
 * read at request time only, as nginx reads them all. The check runs in the access phase
 * (`auth-phase.ts`).
 */
import path from 'node:path';
import { guard, one, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { compileValue, type CompiledValue } from '../../http/variables';
import { loadUserFile, type UserFileSnapshot } from './user-file';

/** `auth_basic_user_file`, compiled. */
export interface UserFileConf {
  /** The path as written, variables compiled. */
  readonly template: CompiledValue;
  /** What a relative path is taken against: the configuration file's directory. */
  readonly base: string;
  /** The file read at load, when its path has no variable. */
  readonly loaded: UserFileSnapshot | null;
  /** The absolute path, when it has no variable. */
  readonly constantPath: string | null;
}

/** The auth_basic module's conf of a block. */
export interface AuthBasicConf {
  /** The realm (`off` is off: nginx compares the value at request time); null when not set. */
  readonly authBasic: CompiledValue | null;
  readonly authBasicUserFile: UserFileConf | null;
}

function realm(node: ConfNode, cx: ParseContext, name: string): CompiledValue {
  const value = one(node, cx, name, true);
  return guard(node, cx, () => compileValue(value, cx.captureNames));
}

function userFile(node: ConfNode, cx: ParseContext, name: string): UserFileConf {
  const value = one(node, cx, name);
  const template = guard(node, cx, () => compileValue(value, cx.captureNames));
  const base = path.dirname(cx.file);
  if (template.constant === null) return { template, base, loaded: null, constantPath: null };
  const file = path.resolve(base, template.constant);
  const loaded = guard(node, cx, () => loadUserFile(file));
  return { template, base, loaded, constantPath: file };
}

export const authBasicModule: ConfModule<AuthBasicConf> = {
  name: 'auth_basic',
  directives: {
    auth_basic: row(INHERITED, realm),
    auth_basic_user_file: row(INHERITED, userFile),
  },
  defaults: () => ({ authBasic: null, authBasicUserFile: null }),
};
