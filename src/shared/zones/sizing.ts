/**
 * How many nodes a zone of a declared size holds, reckoned as nginx's slab allocator does
 * (ngx_slab.c, 64-bit, 4 KiB pages): after the pool's header and one 24-byte descriptor per
 * page, the zone is cut into pages (the first aligned to a page); a page serves allocations of
 * one power-of-two slot size (at least 8 bytes), so it holds 4096 / slot of them; an allocation
 * over 2 KiB takes whole pages. A zone first allocates its own tree (or tree and queue) and its
 * log context, each in the slot class that fits it: a page each, unless the zone's nodes use the
 * same class. A node is nginx's: a tree node (32 bytes), the module's node header, the key.
 * Checked against nginx 1.22: a 32k limit_conn zone holds 40 keys of 255 bytes, a 32k
 * limit_req zone 191 short keys (test/parity/limits.test.ts).
 */

/** nginx's page size on Linux x86-64, and the smallest zone nginx accepts (8 pages). */
export const PAGE_SIZE = 4096;
export const MIN_ZONE_SIZE = 8 * PAGE_SIZE;

/** The slab pool's header, its slot descriptors and its statistics, before the pages (1.22). */
const POOL_HEADER = 200 + 9 * 24 + 9 * 32;
/** Each page's descriptor. */
const PAGE_DESCRIPTOR = 24;

/** The rbtree node (key, left, right, parent) before a module's node, as nginx's `offsetof(ngx_rbtree_node_t, color)`. */
const RBTREE_NODE = 32;
/** `offsetof(ngx_http_limit_req_node_t, data)`: color, len, queue, last, excess, count. */
const LIMIT_REQ_NODE = 48;
/** `offsetof(ngx_http_limit_conn_node_t, data)`: color, len, conn. */
const LIMIT_CONN_NODE = 4;
/** The zone's shared context: limit_req's tree, sentinel and queue; limit_conn's tree and sentinel. */
const SHARED_CONTEXT = { limit_req: 24 + 40 + 16, limit_conn: 24 + 40 } as const;

/** What a zone holds: limit_req's buckets or limit_conn's counters. */
export type ZoneKind = 'limit_req' | 'limit_conn';

/** The pages a zone of `size` bytes has, as ngx_slab_init counts them (alignment included). */
export function zonePages(size: number): number {
  let pages = Math.floor((size - POOL_HEADER) / (PAGE_SIZE + PAGE_DESCRIPTOR));
  const start = Math.ceil((POOL_HEADER + pages * PAGE_DESCRIPTOR) / PAGE_SIZE) * PAGE_SIZE;
  pages = Math.min(pages, Math.floor((size - start) / PAGE_SIZE));
  return Math.max(0, pages);
}

/** The slot (bytes) an allocation of `bytes` takes: a power of two from 8, or whole pages over 2 KiB. */
export function slotOf(bytes: number): number {
  if (bytes > PAGE_SIZE / 2) return Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
  let slot = 8;
  while (slot < bytes) slot *= 2;
  return slot;
}

/** The slot one node of a key of `keyBytes` bytes takes in a zone of `kind`. */
export function nodeCost(kind: ZoneKind, keyBytes: number): number {
  return slotOf(RBTREE_NODE + (kind === 'limit_req' ? LIMIT_REQ_NODE : LIMIT_CONN_NODE) + keyBytes);
}

/**
 * A zone's pages as slot classes fill them: each class takes a page when its pages are full,
 * gives one back when a page's worth of its slots is free (nginx frees a page whose slots are
 * all free; here slots are taken as packed, which nginx's first-fit comes close to).
 */
export class SlabBudget {
  /** Slots in use, per slot size under a page. */
  private readonly slots = new Map<number, number>();
  private wholePages = 0;

  constructor(readonly pages: number) {}

  /** The budget of a zone, with its own context and log context already allocated. */
  static forZone(size: number, kind: ZoneKind, name: string): SlabBudget {
    const budget = new SlabBudget(zonePages(size));
    budget.take(slotOf(SHARED_CONTEXT[kind]));
    // `" in limit_req zone \"NAME\""` with its NUL, as nginx sizes it.
    budget.take(slotOf(` in ${kind === 'limit_req' ? 'limit_req zone' : 'limit_conn_zone'} ""`.length + 1 + Buffer.byteLength(name)));
    return budget;
  }

  /** Pages in use. */
  used(): number {
    let pages = this.wholePages;
    for (const [slot, n] of this.slots) pages += Math.ceil(n / (PAGE_SIZE / slot));
    return pages;
  }

  /** Whether an allocation of `slot` (from `slotOf`) fits now. */
  fits(slot: number): boolean {
    if (slot >= PAGE_SIZE) return this.used() + slot / PAGE_SIZE <= this.pages;
    const n = this.slots.get(slot) ?? 0;
    if (n % (PAGE_SIZE / slot) !== 0) return true;
    return this.used() + 1 <= this.pages;
  }

  take(slot: number): void {
    if (slot >= PAGE_SIZE) this.wholePages += slot / PAGE_SIZE;
    else this.slots.set(slot, (this.slots.get(slot) ?? 0) + 1);
  }

  give(slot: number): void {
    if (slot >= PAGE_SIZE) this.wholePages -= slot / PAGE_SIZE;
    else this.slots.set(slot, (this.slots.get(slot) ?? 1) - 1);
  }
}
