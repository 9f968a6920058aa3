/**
 * koffi, the FFI through which the gateway calls C libraries the system already has (libc's
 * `setsockopt` for `so_keepalive`, libcrypt's `crypt_rn` for auth_basic's password hashes).
 * This is the only module that imports koffi; it is loaded lazily, so a missing koffi means each
 * caller's fallback.
 */

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
