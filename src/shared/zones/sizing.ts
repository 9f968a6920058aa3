/**
 * How many nodes a zone of a declared size holds, reckoned as nginx's slab allocator does
 * roughly: the zone is cut into 4 KiB pages (each with a 24-byte descriptor, after the pool's
 * header); a node takes the power-of-two slot that fits it (at least 8 bytes; over 2 KiB, whole
 * pages); two pages go to the zone's own small allocations (its tree and log context). A node
 * is nginx's: a tree node (32 bytes) plus the module's node header plus the key's bytes.
 */

/** nginx's page size on Linux x86-64, and the smallest zone nginx accepts (8 pages). */
export const PAGE_SIZE = 4096;
export const MIN_ZONE_SIZE = 8 * PAGE_SIZE;

/** The slab pool's header and its slot descriptors, before the first page (64-bit nginx, 1.22). */
const POOL_HEADER = 200 + 9 * 24 + 9 * 32;
/** Each page's descriptor. */
const PAGE_DESCRIPTOR = 24;
/** Pages taken by the zone's tree root and its log context. */
const ZONE_OWN_PAGES = 2;

/** The rbtree node (key, left, right, parent) before a module's node, as nginx's `offsetof(ngx_rbtree_node_t, color)`. */
const RBTREE_NODE = 32;
/** `offsetof(ngx_http_limit_req_node_t, data)`: color, len, queue, last, excess, count. */
const LIMIT_REQ_NODE = 48;
/** `offsetof(ngx_http_limit_conn_node_t, data)`: color, len, conn. */
const LIMIT_CONN_NODE = 4;

/** What a zone holds: limit_req's buckets or limit_conn's counters. */
export type ZoneKind = 'limit_req' | 'limit_conn';

/** The bytes of pages a zone of `size` bytes has for its nodes. */
export function zoneBudget(size: number): number {
  const pages = Math.floor((size - POOL_HEADER) / (PAGE_SIZE + PAGE_DESCRIPTOR));
  return Math.max(0, pages - ZONE_OWN_PAGES) * PAGE_SIZE;
}

/** The bytes one node of a key of `keyBytes` bytes takes in a zone of `kind` (its slab slot). */
export function nodeCost(kind: ZoneKind, keyBytes: number): number {
  const bytes = RBTREE_NODE + (kind === 'limit_req' ? LIMIT_REQ_NODE : LIMIT_CONN_NODE) + keyBytes;
  if (bytes > PAGE_SIZE / 2) return Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
  let slot = 8;
  while (slot < bytes) slot *= 2;
  return slot;
}
