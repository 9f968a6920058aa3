/**
 * Each module's conf of one block, nginx's `loc_conf[module.ctx_index]`: looked up by module
 * while a configuration is built and compiled, never per request.
 */
import type { ConfModule } from './module';

/** The confs of one block, by module. */
export class ModuleConfs {
  constructor(private readonly confs: ReadonlyMap<ConfModule, object>) {}

  /** The conf of `module`, one of the modules the configuration was built with. */
  get<C extends object>(module: ConfModule<C>): C {
    const conf = this.confs.get(module as ConfModule);
    if (!conf) throw new Error(`module "${module.name}" is not part of this configuration`);
    return conf as C;
  }

  /** Every module's conf, in the order the modules were given. */
  entries(): IterableIterator<[ConfModule, object]> {
    return this.confs.entries();
  }
}
