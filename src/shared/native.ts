/**
 * koffi, the FFI through which the gateway calls C libraries the system already has (libc's
 * `setsockopt` for `so_keepalive`, libcrypt's `crypt_rn` for auth_basic's password hashes,
 * `getpwnam`/`getgrnam` for `user`, `setrlimit` for `worker_rlimit_nofile` and `worker_rlimit_core`, `sendfile` for
 * large static files, `malloc_trim` for the workers' memory reducer).
 * This is the only module that imports koffi; it is loaded lazily, so a missing koffi means each
 * caller's fallback.
 */
import { ftruncateSync } from 'node:fs';

/** koffi's API. */
export type Koffi = typeof import('koffi', { with: { 'resolution-mode': 'require' } });

let loaded: Koffi | string | undefined;

/** koffi, or the reason it cannot be loaded. */
export function loadKoffi(): Koffi | string {
  if (loaded === undefined) {
    try {
      loaded = require('koffi') as Koffi;
    } catch (err) {
      loaded = `koffi cannot be loaded (${(err as Error).message})`;
    }
  }
  return loaded;
}

/** A process-shared memory mapping and the robust mutex at its start (`shared/dict/`). */
export interface SharedMapping {
  /** The mapping, as an ArrayBuffer over the shared pages. */
  readonly memory: ArrayBuffer;
  /** Takes the mutex at the mapping's start; true when its holder died holding it (made consistent again). */
  lock(): boolean;
  unlock(): void;
}

/** libc's calls for shared memory, bound once. */
interface SharedMemoryCalls {
  readonly koffi: Koffi;
  memfdCreate(name: string, flags: number): number;
  mmap(addr: null, length: number, prot: number, flags: number, fd: number, offset: number): unknown;
  lock(mutex: unknown): number;
  unlock(mutex: unknown): number;
  consistent(mutex: unknown): number;
  attrInit(attr: Buffer): number;
  attrSetPshared(attr: Buffer, value: number): number;
  attrSetRobust(attr: Buffer, value: number): number;
  mutexInit(mutex: unknown, attr: Buffer): number;
}

let sharedCalls: SharedMemoryCalls | string | undefined;

function sharedMemoryCalls(): SharedMemoryCalls {
  if (sharedCalls === undefined) {
    const koffi = loadKoffi();
    if (typeof koffi === 'string') sharedCalls = koffi;
    else {
      try {
        const libc = koffi.load('libc.so.6');
        sharedCalls = {
          koffi,
          memfdCreate: libc.func('int memfd_create(const char *name, unsigned int flags)'),
          mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)'),
          lock: libc.func('int pthread_mutex_lock(void *mutex)'),
          unlock: libc.func('int pthread_mutex_unlock(void *mutex)'),
          consistent: libc.func('int pthread_mutex_consistent(void *mutex)'),
          attrInit: libc.func('int pthread_mutexattr_init(void *attr)'),
          attrSetPshared: libc.func('int pthread_mutexattr_setpshared(void *attr, int pshared)'),
          attrSetRobust: libc.func('int pthread_mutexattr_setrobust(void *attr, int robust)'),
          mutexInit: libc.func('int pthread_mutex_init(void *mutex, const void *attr)'),
        };
      } catch (err) {
        sharedCalls = `libc's shared memory calls cannot be bound (${(err as Error).message})`;
      }
    }
  }
  if (typeof sharedCalls === 'string') throw new Error(sharedCalls);
  return sharedCalls;
}

const PROT_READ_WRITE = 3;
const MAP_SHARED = 1;
const MFD_CLOEXEC = 1;
const PTHREAD_PROCESS_SHARED = 1;
const PTHREAD_MUTEX_ROBUST = 1;
const EOWNERDEAD = 130;

/**
 * A new anonymous shared memory file (`memfd_create`) of `size` bytes, with a process-shared,
 * robust mutex initialized at its start: its descriptor, to be inherited by the processes that
 * map it (`mapShared`). It closes on exec, not on fork.
 */
export function createSharedMemory(name: string, size: number): { fd: number; mapping: SharedMapping } {
  const calls = sharedMemoryCalls();
  const fd = calls.memfdCreate(name, MFD_CLOEXEC);
  if (fd < 0) throw new Error(`memfd_create() failed (errno ${calls.koffi.errno()})`);
  ftruncateSync(fd, size);
  const pointer = mapPointer(calls, fd, size);
  const attr = Buffer.alloc(64);
  if (calls.attrInit(attr) !== 0 || calls.attrSetPshared(attr, PTHREAD_PROCESS_SHARED) !== 0 || calls.attrSetRobust(attr, PTHREAD_MUTEX_ROBUST) !== 0) {
    throw new Error('pthread_mutexattr_*() failed');
  }
  if (calls.mutexInit(pointer, attr) !== 0) throw new Error('pthread_mutex_init() failed');
  return { fd, mapping: mapping(calls, pointer, size) };
}

function mapPointer(calls: SharedMemoryCalls, fd: number, size: number): unknown {
  const pointer = calls.mmap(null, size, PROT_READ_WRITE, MAP_SHARED, fd, 0);
  if (pointer === null || pointer === -1n || pointer === BigInt('0xffffffffffffffff')) throw new Error(`mmap() failed (errno ${calls.koffi.errno()})`);
  return pointer;
}

/** Maps `size` bytes of the shared memory file `fd` (`MAP_SHARED`), with its mutex. */
export function mapShared(fd: number, size: number): SharedMapping {
  const calls = sharedMemoryCalls();
  return mapping(calls, mapPointer(calls, fd, size), size);
}

function mapping(calls: SharedMemoryCalls, pointer: unknown, size: number): SharedMapping {
  const memory = calls.koffi.view(pointer, size) as ArrayBuffer;
  return {
    memory,
    lock() {
      const code = calls.lock(pointer);
      if (code === 0) return false;
      if (code === EOWNERDEAD) {
        calls.consistent(pointer);
        return true;
      }
      throw new Error(`pthread_mutex_lock() failed (${code})`);
    },
    unlock() {
      calls.unlock(pointer);
    },
  };
}

/** A user's ids, as `getpwnam(3)` finds them. */
export interface UserIds {
  readonly uid: number;
  readonly gid: number;
}

/** libc's user, group and resource-limit calls, bound once. */
interface AccountCalls {
  readonly koffi: Koffi;
  getpwnam(name: string): unknown;
  getgrnam(name: string): unknown;
  setrlimit(resource: number, limit: { rlim_cur: bigint | number; rlim_max: bigint | number }): number;
  readonly passwd: unknown;
  readonly group: unknown;
}

let accountCalls: AccountCalls | string | undefined;

function boundAccountCalls(): AccountCalls {
  if (accountCalls === undefined) {
    const koffi = loadKoffi();
    if (typeof koffi === 'string') accountCalls = koffi;
    else {
      try {
        const libc = koffi.load('libc.so.6');
        const passwd = koffi.struct('gateway_passwd', { pw_name: 'char *', pw_passwd: 'char *', pw_uid: 'uint32_t', pw_gid: 'uint32_t', pw_gecos: 'char *', pw_dir: 'char *', pw_shell: 'char *' });
        const group = koffi.struct('gateway_group', { gr_name: 'char *', gr_passwd: 'char *', gr_gid: 'uint32_t', gr_mem: 'void *' });
        koffi.struct('gateway_rlimit', { rlim_cur: 'uint64_t', rlim_max: 'uint64_t' });
        accountCalls = {
          koffi,
          passwd,
          group,
          getpwnam: libc.func('void *getpwnam(const char *name)'),
          getgrnam: libc.func('void *getgrnam(const char *name)'),
          setrlimit: libc.func('int setrlimit(int resource, const gateway_rlimit *limit)'),
        };
      } catch (err) {
        accountCalls = `libc's account calls cannot be bound (${(err as Error).message})`;
      }
    }
  }
  if (typeof accountCalls === 'string') throw new Error(accountCalls);
  return accountCalls;
}

/** `getpwnam(name)`: the user's uid and primary gid, or null when there is no such user. Throws when libc cannot be reached. */
export function lookupUser(name: string): UserIds | null {
  const calls = boundAccountCalls();
  const pointer = calls.getpwnam(name);
  if (!pointer) return null;
  const entry = calls.koffi.decode(pointer, calls.passwd as never) as { pw_uid: number; pw_gid: number };
  return { uid: entry.pw_uid, gid: entry.pw_gid };
}

/** `getgrnam(name)`: the group's gid, or null when there is no such group. Throws when libc cannot be reached. */
export function lookupGroup(name: string): number | null {
  const calls = boundAccountCalls();
  const pointer = calls.getgrnam(name);
  if (!pointer) return null;
  return (calls.koffi.decode(pointer, calls.group as never) as { gr_gid: number }).gr_gid;
}

/** Linux's resource numbers for `setResourceLimit`. */
export const RLIMIT = { CORE: 4, NOFILE: 7 } as const;

/** `setrlimit(resource, {value, value})`, as nginx sets `worker_rlimit_nofile` and `worker_rlimit_core`. Throws with the errno on failure. */
export function setResourceLimit(resource: number, value: number): void {
  const calls = boundAccountCalls();
  if (calls.setrlimit(resource, { rlim_cur: BigInt(value), rlim_max: BigInt(value) }) !== 0) throw new Error(`setrlimit() failed (errno ${calls.koffi.errno()})`);
}

/** libc's sendfile(2), bound once; a string says why it cannot be called. */
let sendfileCall: ((outFd: number, inFd: number, offset: [number], count: number) => number | bigint) | string | undefined;

/**
 * Linux's sendfile(2): the kernel copies up to `count` bytes of the file `inFd`, from `offset`,
 * to the socket `outFd`, without the bytes passing through this process (nginx's `sendfile on`).
 * The socket is non-blocking: returns the bytes it took (0 at the end of the file), -1 when it
 * took none (its buffer is full, or an error the next ordinary write will meet), or null when
 * sendfile cannot be called here (no koffi, no such call).
 */
export function sendFile(outFd: number, inFd: number, offset: number, count: number): number | null {
  if (sendfileCall === undefined) {
    const koffi = loadKoffi();
    if (typeof koffi === 'string') sendfileCall = koffi;
    else {
      try {
        sendfileCall = koffi.load('libc.so.6').func('intptr_t sendfile(int out_fd, int in_fd, _Inout_ int64_t *offset, size_t count)');
      } catch (err) {
        sendfileCall = `sendfile() cannot be bound (${(err as Error).message})`;
      }
    }
  }
  if (typeof sendfileCall === 'string') return null;
  const sent = Number(sendfileCall(outFd, inFd, [offset], count));
  return sent < 0 ? -1 : sent;
}

/** glibc's malloc_trim(3), bound once; a string says why it cannot be called. */
let mallocTrimCall: ((pad: number) => number) | string | undefined;

/**
 * glibc's `malloc_trim(0)`: malloc returns the free memory at the top of its heap and the free
 * pages inside its arenas to the system. False when it cannot be called here (no koffi, not glibc).
 */
export function trimMalloc(): boolean {
  if (mallocTrimCall === undefined) {
    const koffi = loadKoffi();
    if (typeof koffi === 'string') mallocTrimCall = koffi;
    else {
      try {
        mallocTrimCall = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');
      } catch (err) {
        mallocTrimCall = `malloc_trim() cannot be bound (${(err as Error).message})`;
      }
    }
  }
  if (typeof mallocTrimCall === 'string') return false;
  mallocTrimCall(0);
  return true;
}
