/**
 * nginx's ngx_http_auth_request_module, its directives: `auth_request URI|off` and
 * `auth_request_set $variable value`, at http, server and location, each inherited whole by a
 * block that writes none (nginx's merge). A variable `auth_request_set` names is a user
 * variable, declared for the whole configuration (`declares`), as nginx's
 * `ngx_http_add_variable`; nginx's own variables cannot be declared again. The handler is in
 * `auth-request.ts`.
 */
import { guard, namedPairs, one, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { compileValue, isBuiltInVariable } from '../../http/variables';

/** One `auth_request_set`: the variable's name (without `$`) and the value, as written. */
export type AuthRequestSet = readonly [name: string, value: string];

/** The auth_request module's conf of a block. */
export interface AuthRequestConf {
  /** `auth_request URI`; null: `off` (the default). */
  readonly authRequest: string | null;
  /** `auth_request_set`, in the order written; empty: none. */
  readonly authRequestSet: readonly AuthRequestSet[];
}

/** The name `$name` declares; nginx's errors for one that is not a variable or is one of its own. */
function variableName(text: string, node: ConfNode, cx: ParseContext): string {
  if (!text.startsWith('$') || text.length === 1) return cx.fail(`invalid variable name "${text}"`, node);
  const name = text.slice(1);
  if (isBuiltInVariable(name)) return cx.fail(`the duplicate "${name}" variable`, node);
  return name;
}

/** Every `auth_request_set` of a block, as pairs or as a map `{$name: value}`. */
function sets(node: ConfNode, cx: ParseContext): { name: string; value: string; node: ConfNode }[] {
  return namedPairs(node, cx, 'auth_request_set').map(({ args, node: n }) => {
    if (args.length !== 2) cx.fail('invalid number of arguments in "auth_request_set" directive', n);
    return { name: variableName(args[0], n, cx), value: args[1], node: n };
  });
}

export const authRequestModule: ConfModule<AuthRequestConf> = {
  name: 'auth_request',
  directives: {
    auth_request: row(INHERITED, (node, cx, name) => {
      const uri = one(node, cx, name);
      return uri === 'off' ? null : uri;
    }),
    auth_request_set: row(INHERITED, (node, cx) =>
      sets(node, cx).map(({ name, value, node: n }): AuthRequestSet => {
        // Checked here, compiled per location at start (`auth-request.ts`).
        guard(n, cx, () => compileValue(value, cx.captureNames));
        return [name, value];
      }),
      { multiple: true },
    ),
  },
  declares: { auth_request_set: (node, cx) => sets(node, cx).map((s) => s.name) },
  defaults: () => ({ authRequest: null, authRequestSet: [] }),
};
