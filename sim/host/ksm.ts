// KSM on the host (mm/ksm.c): identical guest pages merged into stable nodes.
// A stable node accepts a sharer while rmap_hlist_len + offset < max_page_sharing
// (default 256); when full a new "dup" KSM page is hung off a chain. Without
// the limit (0: the kernel before v4.13) one node holds every mapping of the
// content. An rmap walk (rmap_walk_ksm, e.g. for page migration) visits every
// rmap_item of one node with its locks held, ~10 us each (TLB-flush IPIs to the
// primary and secondary MMUs): numad's migrate_pages holds the VM's mmap lock
// across the walk, so vCPU threads that fault guest memory wait for it.
export interface KsmSpec {
  /** max_page_sharing; 0 = unlimited (before v4.13). */
  maxPageSharing: number;
  /** ns per rmap_item visited by one walk. */
  rmapItemCostNs: bigint;
}

export interface KsmVm { name: string; memoryMiB: number; nonZeroPages: number }

export interface KsmState {
  /** rmap_items on the zero page's content: every zero guest page of every VM. */
  rmapItems: bigint;
  /** Stable nodes holding it: 1 without the limit, else a chain of dups. */
  stableNodes: bigint;
  /** The most mappings one node holds. */
  longestNodeItems: bigint;
  /** One rmap walk over that node. */
  longestWalkNs: bigint;
}

const PAGES_PER_MIB = 256n; // 4 KiB pages

/** Zero pages of a VM: its memory less the pages it has written. */
export const zeroPages = (vm: KsmVm): bigint => BigInt(vm.memoryMiB) * PAGES_PER_MIB - BigInt(vm.nonZeroPages);

export function ksmMerge(spec: KsmSpec, vms: KsmVm[]): KsmState {
  const items = vms.reduce((a, v) => a + zeroPages(v), 0n);
  const max = BigInt(spec.maxPageSharing);
  // a node takes sharers while len < max: full dups hold `max` mappings
  const nodes = max === 0n ? (items ? 1n : 0n) : (items + max - 1n) / max;
  const longest = max === 0n || items < max ? items : max;
  return { rmapItems: items, stableNodes: nodes, longestNodeItems: longest, longestWalkNs: longest * spec.rmapItemCostNs };
}
