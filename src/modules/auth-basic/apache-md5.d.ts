/** apache-md5 (no types of its own): Apache's `$apr1$` (and `$1$`) MD5 crypt of `password` with the salt of `setting`. */
declare module 'apache-md5' {
  function apacheMd5(password: string, setting?: string): string;
  export = apacheMd5;
}
