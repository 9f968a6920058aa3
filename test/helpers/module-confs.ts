/**
 * Module confs for tests that build a location or server by hand: every module's defaults,
 * with flat overrides (`{ root, proxyPass, gzip }`) put into the module that owns each field;
 * and a flat view of a built block's confs, to read a field whatever module owns it.
 */
import { ModuleConfs } from '../../src/config/module-confs';
import type { ConfModule } from '../../src/config/module';
import type { AccessConf } from '../../src/modules/access/module';
import type { AutoindexConf } from '../../src/modules/autoindex/module';
import type { CoreConf } from '../../src/modules/core/module';
import type { GzipConf } from '../../src/modules/gzip/module';
import type { HeadersConf } from '../../src/modules/headers/module';
import type { IndexConf } from '../../src/modules/index/module';
import type { LogConf } from '../../src/modules/log/module';
import type { ProxyConf } from '../../src/modules/proxy/module';
import type { PushConf } from '../../src/modules/push/module';
import { MODULES } from '../../src/modules/registry';
import type { RewriteConf } from '../../src/modules/rewrite/module';
import type { SslConf } from '../../src/modules/ssl/module';
import type { StatusConf } from '../../src/modules/status/module';

/** Every module's fields in one object. */
export type FlatConf = CoreConf & IndexConf & AutoindexConf & SslConf & AccessConf & ProxyConf & RewriteConf & StatusConf & PushConf & HeadersConf & GzipConf & LogConf;

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** Overrides of any module's fields. */
export type ConfOverrides = Partial<Writable<FlatConf>>;

/** Every module's defaults (paths against `prefix`), each field of `overrides` in its module. */
export function moduleConfs(overrides: ConfOverrides = {}, prefix = '/'): ModuleConfs {
  const confs = new Map<ConfModule, object>(MODULES.map((m) => [m, m.defaults(prefix)]));
  for (const [field, value] of Object.entries(overrides)) {
    const owner = MODULES.find((m) => Object.hasOwn(confs.get(m)!, field));
    if (!owner) throw new Error(`no module has a field "${field}"`);
    confs.set(owner, { ...confs.get(owner)!, [field]: value });
  }
  return new ModuleConfs(confs);
}

/** A built block's confs as one object (no module shares a field name). */
export function flat(block: { readonly confs: ModuleConfs }): FlatConf {
  const out: Record<string, unknown> = {};
  for (const [, conf] of block.confs.entries()) Object.assign(out, conf);
  return out as unknown as FlatConf;
}

/** A built block with its module fields beside its structure, for `toMatchObject`. */
export function view<B extends { readonly confs: ModuleConfs }>(block: B): B & FlatConf {
  return { ...block, ...flat(block) };
}
