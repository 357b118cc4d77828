// Merge-result cache for BPE: maps a run of initial symbol ids to the ids the merges turn it into.
// Natural text repeats the same words, so most words skip merging. Open addressing over (hash, record offset);
// records live in one arena: [n: i32][count: i32][key ids: n × i32][result ids: count × i32].
// When the table is 3/4 full or the arena runs out, everything is dropped at once (cheap, and keeps it simple).

const SLOT_BITS = 17;
const SLOTS: u32 = 1 << SLOT_BITS;
const ARENA: i32 = 16 << 20;
/** Longest symbol run worth caching. */
export const CACHE_MAX: i32 = 64;

// @ts-ignore: decorator
@inline export function hashIds(p: usize, n: i32): u32 {
  let h: u32 = 0x811c9dc5 ^ <u32>n;
  for (let i = 0; i < n; i++) {
    h = (h ^ load<u32>(p + (<usize>i << 2))) * 0x01000193;
    h ^= h >> 15;
  }
  return h ^ (h >> 13);
}

export class WordCache {
  slots: usize = heap.alloc(<usize>SLOTS << 3); // u32 hash, u32 record offset (0 = empty)
  arena: usize = heap.alloc(<usize>ARENA);
  used: i32 = 8;
  count: u32 = 0;

  constructor() { this.clear(); }

  clear(): void {
    memory.fill(this.slots, 0, <usize>SLOTS << 3);
    this.used = 8;
    this.count = 0;
  }

  /** The record holding this key, or 0. Result ids: recIds(rec), recCount(rec) of them. */
  get(key: usize, n: i32, h: u32): usize {
    let s = h & (SLOTS - 1);
    while (true) {
      const e = this.slots + (<usize>s << 3);
      const off = load<u32>(e, 4);
      if (off == 0) return 0;
      if (load<u32>(e) == h) {
        const rec = this.arena + <usize>off;
        if (load<i32>(rec) == n && memory.compare(rec + 8, key, <usize>n << 2) == 0) return rec;
      }
      s = (s + 1) & (SLOTS - 1);
    }
  }

  put(key: usize, n: i32, h: u32, ids: usize, count: i32): void {
    const bytes = 8 + ((n + count) << 2);
    if (this.count >= (SLOTS >> 2) * 3 || this.used + bytes > ARENA) this.clear();
    const off = this.used;
    const rec = this.arena + <usize>off;
    store<i32>(rec, n);
    store<i32>(rec, count, 4);
    memory.copy(rec + 8, key, <usize>n << 2);
    memory.copy(rec + 8 + (<usize>n << 2), ids, <usize>count << 2);
    this.used += bytes;
    this.count++;
    let s = h & (SLOTS - 1);
    while (load<u32>(this.slots + (<usize>s << 3), 4) != 0) s = (s + 1) & (SLOTS - 1);
    store<u32>(this.slots + (<usize>s << 3), h);
    store<u32>(this.slots + (<usize>s << 3), <u32>off, 4);
  }

  dispose(): void { heap.free(this.arena); heap.free(this.slots); }
}

// @ts-ignore: decorator
@inline export function recCount(rec: usize): i32 { return load<i32>(rec, 4); }
// @ts-ignore: decorator
@inline export function recIds(rec: usize): usize { return rec + 8 + (<usize>load<i32>(rec) << 2); }
