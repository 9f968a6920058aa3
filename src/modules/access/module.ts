/**
 * nginx's ngx_http_access_module: `allow` and `deny` (and `access`, their ordered list) at
 * http, server and location; a level with any rule replaces the rules above it whole. The rules
 * are checked in the access phase (`access-phase.ts`).
 */
import { argsOf, guard, occurrences, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule, type DirectiveRow } from '../../config/module';
import { compileAccessRules, mergeAccessRules, type AccessRules, type AccessRuleText } from './access-rules';

/** The access module's conf of a block. */
export interface AccessConf {
  /** The rules, compiled; null: none. */
  readonly accessRules: AccessRules | null;
}

/**
 * `allow`/`deny` (one value or a list), or `access`, the ordered form (`["deny 10.0.0.1",
 * "allow 10.0.0.0/8", "deny all"]`): every rule of a block, in the order written, compiled.
 */
function accessRules(kind: 'allow' | 'deny' | 'access') {
  return (node: ConfNode, cx: ParseContext): AccessRules => {
    const texts: AccessRuleText[] = occurrences(node).map((n) => {
      const args = argsOf(n, cx);
      let rule: AccessRuleText;
      if (kind !== 'access') {
        if (args.length !== 1) cx.fail(`invalid number of arguments in "${kind}" directive`, n);
        rule = { deny: kind === 'deny', value: args[0] };
      } else {
        if (args.length !== 2 || (args[0] !== 'allow' && args[0] !== 'deny')) cx.fail(`invalid rule "${args.join(' ')}" in "access", it must be "allow VALUE" or "deny VALUE"`, n);
        rule = { deny: args[0] === 'deny', value: args[1] };
      }
      guard(n, cx, () => compileAccessRules([rule]));
      return rule;
    });
    if (texts.length === 0) cx.fail(`invalid number of arguments in "${kind}" directive`, node);
    // Compiled at once: merging one rule at a time copied every earlier rule (50,000 rules took 12 s).
    return compileAccessRules(texts).rules;
  };
}

/** `allow`, `deny` and `access` fill one list, in the order written. */
const rules = (kind: 'allow' | 'deny' | 'access'): DirectiveRow =>
  row(INHERITED, accessRules(kind), { field: 'accessRules', combine: mergeAccessRules as DirectiveRow['combine'] });

export const accessModule: ConfModule<AccessConf> = {
  name: 'access',
  directives: { allow: rules('allow'), deny: rules('deny'), access: rules('access') },
  defaults: () => ({ accessRules: null }),
};
