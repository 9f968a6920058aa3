/**
 * nginx's ngx_http_access_module, as data and one pure function: `allow` and `deny` rules are
 * parsed at load into numbers (an IPv4 address and mask as unsigned 32-bit integers, an IPv6
 * one as four of them), kept per address family in the order written as nginx keeps them, and
 * a client address is matched with a loop of integer compares, allocating nothing.
 *
 * The address parsers are ports of nginx's `ngx_inet_addr`, `ngx_inet6_addr` and
 * `ngx_ptocidr`, so a value nginx takes is taken and one it refuses is refused.
 */

/** One IPv4 rule: `(client & mask) === addr` matches. */
export interface AccessRule4 {
  readonly deny: boolean;
  readonly addr: number;
  readonly mask: number;
}

/** One IPv6 rule, the 128 bits as four unsigned 32-bit words, most significant first. */
export interface AccessRule6 {
  readonly deny: boolean;
  readonly a0: number;
  readonly a1: number;
  readonly a2: number;
  readonly a3: number;
  readonly m0: number;
  readonly m1: number;
  readonly m2: number;
  readonly m3: number;
}

/**
 * The rules of one level (http, server or location), as nginx's three arrays: IPv4, IPv6 and
 * unix-domain clients each see only their family's rules (`all` is in all three). A level
 * with any rule replaces its parent's rules whole.
 */
export interface AccessRules {
  readonly inet: readonly AccessRule4[];
  readonly inet6: readonly AccessRule6[];
  /** A unix-domain rule matches every unix-domain client: only its `deny` matters. */
  readonly unix: readonly boolean[];
}

/** One `allow`/`deny` as written. */
export interface AccessRuleText {
  readonly deny: boolean;
  readonly value: string;
}

/** What a rule's value is: `all`, `unix:`, or a CIDR (an address alone is a /32 or /128). */
type Parsed =
  | { readonly family: 'all' | 'unix' }
  | { readonly family: 'inet'; readonly addr: number; readonly mask: number; readonly meaningless: boolean }
  | { readonly family: 'inet6'; readonly addr: Uint8Array; readonly mask: Uint8Array; readonly meaningless: boolean };

const NONE = -1;

/**
 * nginx's `ngx_inet_addr` on `text[start, end)`: four decimal octets, each at most 255; an
 * empty octet counts as 0, as in nginx. The address as an unsigned integer, or -1.
 */
export function parseInet4(text: string, start: number, end: number): number {
  let addr = 0;
  let octet = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      octet = octet * 10 + (c - 0x30);
      if (octet > 255) return NONE;
    } else if (c === 0x2e) {
      addr = addr * 256 + octet;
      octet = 0;
      dots++;
    } else {
      return NONE;
    }
  }
  return dots === 3 ? addr * 256 + octet : NONE;
}

/**
 * nginx's `ngx_inet6_addr` on `text[start, end)` into the 16 bytes of `out`: hex groups, one
 * `::`, a trailing dotted IPv4 part. False when it is not an IPv6 address.
 */
export function parseInet6(text: string, start: number, end: number, out: Uint8Array): boolean {
  let p = start;
  let len = end - start;
  if (len === 0) return false;
  let zero = -1;
  let digit = -1;
  let nibbles = 0;
  let word = 0;
  let n = 8;
  let o = 0;
  if (text.charCodeAt(p) === 0x3a) {
    p++;
    len--;
  }
  for (; len > 0; len--) {
    const c = text.charCodeAt(p++);
    if (c === 0x3a) {
      if (nibbles) {
        digit = p;
        out[o++] = word >> 8;
        out[o++] = word & 0xff;
        if (--n) {
          nibbles = 0;
          word = 0;
          continue;
        }
      } else if (zero === -1) {
        digit = p;
        zero = o;
        continue;
      }
      return false;
    }
    if (c === 0x2e && nibbles) {
      if (n < 2 || digit === -1) return false;
      const v4 = parseInet4(text, digit, end);
      if (v4 === NONE || v4 === 0xffffffff) return false;
      out[o++] = v4 >>> 24;
      out[o++] = (v4 >>> 16) & 0xff;
      word = v4 & 0xffff;
      n--;
      break;
    }
    if (++nibbles > 4) return false;
    if (c >= 0x30 && c <= 0x39) {
      word = word * 16 + (c - 0x30);
      continue;
    }
    const lower = c | 0x20;
    if (lower >= 0x61 && lower <= 0x66) {
      word = word * 16 + (lower - 0x61) + 10;
      continue;
    }
    return false;
  }
  if (nibbles === 0 && zero === -1) return false;
  out[o++] = word >> 8;
  out[o++] = word & 0xff;
  if (--n) {
    if (zero === -1) return false;
    // Move what followed `::` to the end; the gap is zeros.
    const shift = n * 2;
    for (let s = o - 1; s >= zero; s--) out[s + shift] = out[s];
    for (let z = zero; z < zero + shift; z++) out[z] = 0;
    return true;
  }
  return zero === -1;
}

/** nginx's `ngx_atoi`: decimal digits only, at least one. */
function atoi(text: string): number {
  return /^\d+$/.test(text) ? Number(text) : NONE;
}

/**
 * A rule's value: `all`, `unix:`, or nginx's `ngx_ptocidr` (an address, or address/bits).
 * `meaningless`: host bits were set past the prefix and were cleared (nginx warns).
 */
function parseValue(value: string): Parsed | null {
  if (value === 'all') return { family: 'all' };
  if (value === 'unix:') return { family: 'unix' };
  const slash = value.indexOf('/');
  const end = slash === -1 ? value.length : slash;
  const v4 = parseInet4(value, 0, end);
  // 255.255.255.255 is nginx's INADDR_NONE: refused, as nginx does.
  if (v4 !== NONE && v4 !== 0xffffffff) {
    if (slash === -1) return { family: 'inet', addr: v4, mask: 0xffffffff, meaningless: false };
    const bits = atoi(value.slice(slash + 1));
    if (bits === NONE || bits > 32) return null;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const addr = (v4 & mask) >>> 0;
    return { family: 'inet', addr, mask, meaningless: addr !== v4 };
  }
  const addr = new Uint8Array(16);
  if (!parseInet6(value, 0, end, addr)) return null;
  const mask = new Uint8Array(16).fill(0xff);
  if (slash === -1) return { family: 'inet6', addr, mask, meaningless: false };
  let bits = atoi(value.slice(slash + 1));
  if (bits === NONE || bits > 128) return null;
  let meaningless = false;
  for (let i = 0; i < 16; i++) {
    const s = Math.min(bits, 8);
    bits -= s;
    mask[i] = (0xff << (8 - s)) & 0xff;
    if ((addr[i] & mask[i]) !== addr[i]) {
      meaningless = true;
      addr[i] &= mask[i];
    }
  }
  return { family: 'inet6', addr, mask, meaningless };
}

const word = (b: Uint8Array, i: number) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;

/** The result of compiling a level's rules: the rules, and nginx's load-time warnings. */
export interface CompiledAccess {
  readonly rules: AccessRules;
  /** `low address bits of 10.0.0.1/8 are meaningless`, per rule that had them. */
  readonly warnings: readonly string[];
}

/**
 * Compiles one level's `allow`/`deny` rules in the order written. Throws nginx's
 * `invalid parameter "X"` for a value that is none of an address, a CIDR, `all`, `unix:`.
 */
export function compileAccessRules(texts: readonly AccessRuleText[]): CompiledAccess {
  const inet: AccessRule4[] = [];
  const inet6: AccessRule6[] = [];
  const unix: boolean[] = [];
  const warnings: string[] = [];
  for (const { deny, value } of texts) {
    const parsed = parseValue(value);
    if (!parsed) throw new Error(`invalid parameter "${value}"`);
    const all = parsed.family === 'all';
    if (parsed.family === 'inet' || all) {
      inet.push(parsed.family === 'inet' ? { deny, addr: parsed.addr, mask: parsed.mask } : { deny, addr: 0, mask: 0 });
    }
    if (parsed.family === 'inet6' || all) {
      if (parsed.family === 'inet6') {
        const { addr: a, mask: m } = parsed;
        inet6.push({ deny, a0: word(a, 0), a1: word(a, 4), a2: word(a, 8), a3: word(a, 12), m0: word(m, 0), m1: word(m, 4), m2: word(m, 8), m3: word(m, 12) });
      } else {
        inet6.push({ deny, a0: 0, a1: 0, a2: 0, a3: 0, m0: 0, m1: 0, m2: 0, m3: 0 });
      }
    }
    if (parsed.family === 'unix' || all) unix.push(deny);
    if ((parsed.family === 'inet' || parsed.family === 'inet6') && parsed.meaningless) warnings.push(`low address bits of ${value} are meaningless`);
  }
  return { rules: { inet, inet6, unix }, warnings };
}

/** The rules of `earlier` then those of `later`, per family: two keys of one block, in file order. */
export function mergeAccessRules(earlier: AccessRules, later: AccessRules): AccessRules {
  return { inet: [...earlier.inet, ...later.inet], inet6: [...earlier.inet6, ...later.inet6], unix: [...earlier.unix, ...later.unix] };
}

/** The client's 16 bytes while one IPv6 address is matched (reused: no allocation per request). */
const scratch = new Uint8Array(16);

/** What the rules say of a client: the first matching rule's word, or null when none matches. */
export type AccessVerdict = 'allow' | 'deny' | null;

/**
 * What `rules` say of the client at `address` (Node's `socket.remoteAddress`: dotted IPv4,
 * IPv6 text, possibly with a `%zone`; empty for a unix-domain socket). As nginx: the first
 * rule of the client's family that matches decides (`allow`: nginx's NGX_OK, `deny`: 403);
 * none matching is null (NGX_DECLINED: the module has nothing to say). An IPv4-mapped IPv6
 * client (`::ffff:1.2.3.4`) is matched against the IPv4 rules when there are any, else as
 * IPv6.
 */
export function accessVerdict(rules: AccessRules, address: string): AccessVerdict {
  const colon = address.indexOf(':');
  if (colon === -1) {
    if (address === '') return rules.unix.length > 0 ? verdictOf(rules.unix[0]) : null;
    const inet = rules.inet;
    if (inet.length === 0) return null;
    const client = parseInet4(address, 0, address.length);
    return client !== NONE ? matchInet(inet, client) : null;
  }
  const zone = address.indexOf('%', colon);
  if (!parseInet6(address, 0, zone === -1 ? address.length : zone, scratch)) return null;
  const b = scratch;
  if (rules.inet.length > 0 && isV4Mapped(b)) return matchInet(rules.inet, word(b, 12));
  const inet6 = rules.inet6;
  if (inet6.length === 0) return null;
  const w0 = word(b, 0);
  const w1 = word(b, 4);
  const w2 = word(b, 8);
  const w3 = word(b, 12);
  for (let i = 0; i < inet6.length; i++) {
    const r = inet6[i];
    if (((w0 & r.m0) >>> 0) === r.a0 && ((w1 & r.m1) >>> 0) === r.a1 && ((w2 & r.m2) >>> 0) === r.a2 && ((w3 & r.m3) >>> 0) === r.a3) return verdictOf(r.deny);
  }
  return null;
}

/** True when `rules` deny the client at `address` (`accessVerdict` says `deny`). */
export function accessDenied(rules: AccessRules, address: string): boolean {
  return accessVerdict(rules, address) === 'deny';
}

const verdictOf = (deny: boolean): AccessVerdict => (deny ? 'deny' : 'allow');

function matchInet(inet: readonly AccessRule4[], client: number): AccessVerdict {
  for (let i = 0; i < inet.length; i++) {
    const r = inet[i];
    if (((client & r.mask) >>> 0) === r.addr) return verdictOf(r.deny);
  }
  return null;
}

/** `::ffff:a.b.c.d`: ten zero bytes, then 0xffff. */
function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}
