/**
 * nginx's process-level tuning directives of the main and events blocks (ngx_core_module,
 * ngx_events_module, ngx_event_core_module, ngx_regex_module, ngx_thread_pool_module), with
 * nginx's syntax, contexts and checks. `user`, `worker_rlimit_nofile`, `worker_rlimit_core`,
 * `worker_priority` and `working_directory` apply in each worker (see worker-setup.ts), `env`
 * VAR=value is set in each worker's environment by the master (process/master.ts);
 * the rest tune what nginx does in C and have nothing to act on in Node (libuv picks epoll and
 * accepts on its own): accepted and checked, without effect (the README's table says so).
 */
import path from 'node:path';
import { argsOf, flag, guard, integer, occurrences, one, size, time, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { row, type ConfModule } from '../../config/module';
import { lookupGroup, lookupUser } from '../../shared/native';

/** The user and group workers switch to. */
export interface WorkerUser {
  readonly user: string;
  readonly group: string;
  readonly uid: number;
  readonly gid: number;
}

/** An `env` directive: a variable kept from the master's environment, or set. */
export interface EnvEntry {
  readonly name: string;
  /** The value `VAR=value` sets; null keeps the master's. */
  readonly value: string | null;
}

/** The main and events blocks' tuning. */
export interface ProcessTuningConf {
  /** `user` (resolved at load); null: workers keep the master's user. */
  readonly user: WorkerUser | null;
  readonly workerRlimitNofile: number | null;
  readonly workerRlimitCore: number | null;
  readonly workerPriority: number;
  readonly workingDirectory: string | null;
  readonly env: readonly EnvEntry[];
  readonly daemon: boolean;
  readonly timerResolution: number;
  readonly workerCpuAffinity: readonly string[] | null;
  readonly pcreJit: boolean;
  readonly threadPool: readonly string[];
  readonly loadModule: readonly string[];
  readonly lockFile: string | null;
  readonly use: string | null;
  readonly multiAccept: boolean;
  readonly acceptMutex: boolean;
  readonly acceptMutexDelay: number;
  readonly workerAioRequests: number;
  readonly debugConnection: readonly string[];
}

/**
 * Debian's dynamic modules (`load_module modules/NAME.so`) whose work the gateway has built in:
 * the devel kit and lua-nginx-module (the gateway runs TypeScript where OpenResty runs Lua), and
 * nchan (the push module reads nchan's directives).
 */
export const BUILT_IN_MODULES: ReadonlySet<string> = new Set(['ndk_http_module', 'ngx_http_lua_module', 'ngx_nchan_module']);

/**
 * `user user [group]`: nginx looks the names up only when the master runs as root (otherwise it
 * warns that the directive makes sense only then, and ignores it). Without a group, the group
 * of the user's name, as nginx.
 */
function user(node: ConfNode, cx: ParseContext, name: string): WorkerUser | null {
  const args = argsOf(node, cx);
  if (args.length < 1 || args.length > 2) cx.fail(`invalid number of arguments in "${name}" directive`, node);
  if (process.geteuid?.() !== 0) return null;
  const [userName, groupName = args[0]] = args;
  const ids = guard(node, cx, () => lookupUser(userName));
  if (!ids) return cx.fail(`getpwnam("${userName}") failed`, node);
  const gid = guard(node, cx, () => lookupGroup(groupName));
  if (gid === null) return cx.fail(`getgrnam("${groupName}") failed`, node);
  return { user: userName, group: groupName, uid: ids.uid, gid };
}

/** nginx's "invalid number" of a number slot. */
function number(node: ConfNode, cx: ParseContext, name: string): number {
  const value = one(node, cx, name);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) cx.fail(`"${name}" directive invalid number`, node);
  return Number(value);
}

/** `worker_priority -20..20` (a leading minus; nginx takes any number and the kernel clamps it to -20..19). */
function priority(node: ConfNode, cx: ParseContext, name: string): number {
  const value = one(node, cx, name);
  if (!/^-?\d+$/.test(value)) cx.fail(`"${name}" directive invalid number`, node);
  return Math.max(-20, Math.min(19, Number(value)));
}

/** `worker_cpu_affinity auto [mask] | mask ...`: masks of 0 and 1. */
function cpuAffinity(node: ConfNode, cx: ParseContext, name: string): string[] {
  const args = argsOf(node, cx);
  for (const arg of args.slice(args[0] === 'auto' ? 1 : 0)) {
    const bad = /[^01]/.exec(arg);
    if (bad) cx.fail(`invalid character "${bad[0]}" in "${name}"`, node);
  }
  return args;
}

/** `thread_pool name threads=N [max_queue=N]`, each occurrence. */
function threadPools(node: ConfNode, cx: ParseContext, name: string): string[] {
  return occurrences(node).map((n) => {
    const args = argsOf(n, cx);
    if (args.length < 2 || args.length > 3) cx.fail(`invalid number of arguments in "${name}" directive`, n);
    for (const arg of args.slice(1)) {
      const m = /^(threads|max_queue)=(.*)$/.exec(arg);
      if (!m) cx.fail(`invalid parameter "${arg}"`, n);
      if (!/^\d+$/.test(m![2]) || (m![1] === 'threads' && Number(m![2]) < 1)) cx.fail(`invalid ${m![1]} value "${arg}"`, n);
    }
    if (!args.slice(1).some((a) => a.startsWith('threads='))) cx.fail(`"${name}" must have "threads" parameter`, n);
    return args[0];
  });
}

/** `load_module file`: accepted for a module the gateway has built in; any other is not there. */
function loadModules(node: ConfNode, cx: ParseContext, name: string): string[] {
  return occurrences(node).map((n) => {
    const file = one(n, cx, name);
    const module = path.basename(file).replace(/\.so$/, '');
    if (!BUILT_IN_MODULES.has(module)) cx.fail(`module "${module}" of "load_module" is not supported yet (built in: ${[...BUILT_IN_MODULES].join(', ')})`, n);
    return module;
  });
}

/** `env VAR` or `env VAR=value`, each occurrence. */
function envEntries(node: ConfNode, cx: ParseContext, name: string): EnvEntry[] {
  return occurrences(node).map((n) => {
    const arg = one(n, cx, name);
    const eq = arg.indexOf('=');
    return eq < 0 ? { name: arg, value: null } : { name: arg.slice(0, eq), value: arg.slice(eq + 1) };
  });
}

/** `use method`: the methods nginx has on Linux. */
function eventMethod(node: ConfNode, cx: ParseContext, name: string): string {
  const value = one(node, cx, name);
  if (!['epoll', 'poll', 'select'].includes(value)) cx.fail(`invalid event type "${value}"`, node);
  return value;
}

export const processTuningModule: ConfModule<ProcessTuningConf> = {
  name: 'process_tuning',
  directives: {
    user: row(['main'], user),
    worker_rlimit_nofile: row(['main'], number),
    worker_rlimit_core: row(['main'], size),
    worker_priority: row(['main'], priority),
    working_directory: row(['main'], (n, cx, name) => path.resolve(cx.prefix, one(n, cx, name))),
    env: row(['main'], envEntries, { combine: (a, b) => [...(a as EnvEntry[]), ...(b as EnvEntry[])] }),
    daemon: row(['main'], flag),
    timer_resolution: row(['main'], time),
    worker_cpu_affinity: row(['main'], cpuAffinity),
    pcre_jit: row(['main'], flag),
    thread_pool: row(['main'], threadPools, { combine: (a, b) => [...(a as string[]), ...(b as string[])] }),
    load_module: row(['main'], loadModules, { combine: (a, b) => [...(a as string[]), ...(b as string[])] }),
    lock_file: row(['main'], (n, cx, name) => path.resolve(cx.prefix, one(n, cx, name))),
    use: row(['events'], eventMethod),
    multi_accept: row(['events'], flag),
    accept_mutex: row(['events'], flag),
    accept_mutex_delay: row(['events'], time),
    worker_aio_requests: row(['events'], integer(1, 1_000_000)),
    debug_connection: row(['events'], (n, cx, name) => occurrences(n).map((o) => one(o, cx, name)), { combine: (a, b) => [...(a as string[]), ...(b as string[])] }),
  },
  defaults: () => ({
    user: null,
    workerRlimitNofile: null,
    workerRlimitCore: null,
    workerPriority: 0,
    workingDirectory: null,
    env: [],
    daemon: true,
    timerResolution: 0,
    workerCpuAffinity: null,
    pcreJit: false,
    threadPool: [],
    loadModule: [],
    lockFile: null,
    use: null,
    multiAccept: false,
    acceptMutex: false,
    acceptMutexDelay: 500,
    workerAioRequests: 32,
    debugConnection: [],
  }),
};
