/**
 * Addresses as nginx writes them (`ngx_sock_ntop`): IPv4 in dotted decimal, IPv6 as
 * `ngx_inet6_ntop` does (lower-case hex groups, the longest run of two or more zero groups as
 * `::`, and an IPv4-mapped or IPv4-compatible address with its last four bytes dotted). An
 * address read from a header or a PROXY header is written back this way, so `$remote_addr`
 * reads as nginx's whatever way the sender wrote it (`01.2.3.4` is `1.2.3.4`).
 */

/** An IPv4 address, an unsigned 32-bit integer, in dotted decimal. */
export function inet4Text(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** The 16 bytes of an IPv6 address (from `offset`) as nginx's `ngx_inet6_ntop` writes them. */
export function inet6Text(b: Uint8Array, offset = 0): string {
  // The longest run of zero groups (nginx takes a run only when longer than one group).
  let zero = -1;
  let last = -1;
  let max = 1;
  let n = 0;
  for (let i = 0; i < 16; i += 2) {
    if (b[offset + i] || b[offset + i + 1]) {
      if (max < n) {
        zero = last;
        max = n;
      }
      n = 0;
      continue;
    }
    if (n++ === 0) last = i;
  }
  if (max < n) {
    zero = last;
    max = n;
  }
  let out = '';
  let end = 16;
  if (zero === 0) {
    const p10 = b[offset + 10];
    const p11 = b[offset + 11];
    const p14 = b[offset + 14];
    const p15 = b[offset + 15];
    if ((max === 5 && p10 === 0xff && p11 === 0xff) || max === 6 || (max === 7 && p14 !== 0 && p15 !== 1)) end = 12;
    out += ':';
  }
  for (let i = 0; i < end; i += 2) {
    if (i === zero) {
      out += ':';
      i += (max - 1) * 2;
      continue;
    }
    out += ((b[offset + i] << 8) | b[offset + i + 1]).toString(16);
    if (i < 14) out += ':';
  }
  if (end === 12) out += `${b[offset + 12]}.${b[offset + 13]}.${b[offset + 14]}.${b[offset + 15]}`;
  return out;
}
