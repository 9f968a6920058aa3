/**
 * Where the shared dictionaries' memory comes from, as nginx's shared zones: the master creates
 * one anonymous shared memory file per dictionary (`memfd_create`, a process-shared robust mutex
 * at its start) and keeps it for as long as a configuration declares that name with that size;
 * every worker inherits the files as descriptors (after stdin, stdout, stderr and the cluster
 * channel: 4, 5, ...) and maps them, so each reads and writes the same pages. A reload keeps a
 * dictionary whose name and size stay (nginx keeps a zone whose size is unchanged); with
 * `master_process off` the one process creates them.
 */
import { closeSync } from 'node:fs';
import { createSharedMemory, mapShared } from '../native';
import type { Logger, SharedDict, SharedDicts } from '../../types';
import { DictTable } from './dict-table';

/** A dictionary a configuration declares: `shared_dict: {NAME: SIZE}`. */
export interface SharedDictSpec {
  readonly name: string;
  readonly size: number;
}

/** The environment variable that tells a worker which inherited descriptor holds which dictionary. */
export const SHARED_DICTS_ENV = 'GATEWAY_SHARED_DICTS';

/** The descriptor a worker finds its first dictionary at (0-2: stdio, 3: the cluster channel). */
const FIRST_INHERITED_FD = 4;

/** The dictionaries of one process, by name. */
export class DictRegistry implements SharedDicts {
  constructor(private readonly dicts: ReadonlyMap<string, SharedDict>) {}

  get(name: string): SharedDict | null {
    return this.dicts.get(name) ?? null;
  }

  names(): string[] {
    return [...this.dicts.keys()];
  }
}

/**
 * This process's dictionaries: a worker maps those its master handed it (`SHARED_DICTS_ENV`);
 * a process alone creates its own.
 */
export function openSharedDicts(specs: readonly SharedDictSpec[], log: Logger): DictRegistry {
  const inherited = parseInherited(process.env[SHARED_DICTS_ENV]);
  const dicts = new Map<string, SharedDict>();
  for (const spec of specs) {
    const fd = inherited.get(key(spec));
    const mapping = fd !== undefined ? mapShared(fd, spec.size) : createSharedMemory(`gateway:${spec.name}`, spec.size).mapping;
    dicts.set(spec.name, new DictTable(spec.name, mapping.memory, mapping, (what) => log.alert ? log.alert(what) : log.crit(what)));
  }
  return new DictRegistry(dicts);
}

function key(spec: SharedDictSpec): string {
  return `${spec.name}:${spec.size}`;
}

function parseInherited(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (!text) return out;
  for (const [i, entry] of (JSON.parse(text) as string[]).entries()) out.set(entry, FIRST_INHERITED_FD + i);
  return out;
}

/**
 * The master's dictionaries: the memory files of the serving configuration's dictionaries,
 * kept across reloads while a configuration declares the same name and size.
 */
export class DictKeeper {
  private files = new Map<string, number>();

  /**
   * The memory files of `specs`, creating the new ones; what a worker of that configuration
   * inherits: its extra stdio descriptors and its environment.
   */
  prepare(specs: readonly SharedDictSpec[]): { stdio: number[]; env: Record<string, string> } {
    const names: string[] = [];
    const stdio: number[] = [];
    for (const spec of specs) {
      let fd = this.files.get(key(spec));
      if (fd === undefined) {
        fd = createSharedMemory(`gateway:${spec.name}`, spec.size).fd;
        new DictTable(spec.name, mapShared(fd, spec.size).memory, NO_LOCK);
        this.files.set(key(spec), fd);
      }
      names.push(key(spec));
      stdio.push(fd);
    }
    return { stdio, env: { [SHARED_DICTS_ENV]: JSON.stringify(names) } };
  }

  /** Closes the files no configuration in `serving` declares (their old workers keep their mappings). */
  keepOnly(specs: readonly SharedDictSpec[]): void {
    const wanted = new Set(specs.map(key));
    for (const [k, fd] of this.files) {
      if (wanted.has(k)) continue;
      closeSync(fd);
      this.files.delete(k);
    }
  }
}

/** The master formats a new table before any worker maps it: nobody else can hold its lock yet. */
const NO_LOCK = { lock: () => false, unlock: () => {} };
