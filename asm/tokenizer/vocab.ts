// Vocabulary: piece bytes <-> id, plus a float score per piece.
// Pieces live back to back in one byte blob; an open-addressing hash table (FNV-1a, linear probing)
// maps a byte string to its id. Memory is raw (heap.alloc) so it works with any AssemblyScript runtime.

const FNV_OFFSET: u32 = 2166136261;
const FNV_PRIME: u32 = 16777619;

// @ts-ignore: decorator
@inline function fnv(h: u32, p: usize, n: i32): u32 {
  for (let i = 0; i < n; i++) h = (h ^ <u32>load<u8>(p + <usize>i)) * FNV_PRIME;
  return h;
}

export class Vocab {
  size: i32 = 0;          // pieces added so far
  capacity: i32;          // pieces the arrays hold
  maxLen: i32 = 0;        // longest piece, in bytes (pair lookups longer than this cannot match)
  duplicates: i32 = 0;    // pieces whose bytes repeat an earlier piece (the earlier id is kept)
  blob: usize;            // piece bytes
  blobCap: i32;
  blobLen: i32 = 0;
  offs: usize;            // i32[capacity + 1]: piece i is blob[offs[i] .. offs[i+1])
  scores: usize;          // f32[capacity]
  hashes: usize;          // u32[capacity]: FNV-1a of each piece, to skip most byte compares
  table: usize;           // i32[mask + 1]: ids, -1 = empty
  mask: u32;
  bigrams: usize;         // 65536-bit set of the byte pairs (x, y) that occur inside some piece
  edges: usize;           // u32[capacity]: first byte << 8 | last byte, | 0x10000; 0 for an empty piece
  single: usize;          // i32[256]: id of each one-byte piece, -1 if none (the common case of find)

  constructor(capacity: i32, blobCap: i32) {
    this.capacity = capacity;
    this.blobCap = blobCap;
    this.blob = heap.alloc(<usize>max(blobCap, 1));
    this.offs = heap.alloc(<usize>(capacity + 1) << 2);
    this.scores = heap.alloc(<usize>max(capacity, 1) << 2);
    this.hashes = heap.alloc(<usize>max(capacity, 1) << 2);
    let slots: u32 = 16;
    while (slots < <u32>capacity * 2) slots <<= 1; // load factor <= 1/2
    this.mask = slots - 1;
    this.table = heap.alloc(<usize>slots << 2);
    memory.fill(this.table, 0xff, <usize>slots << 2);
    this.bigrams = heap.alloc(8192);
    this.edges = heap.alloc(<usize>max(capacity, 1) << 2);
    this.single = heap.alloc(1024);
    memory.fill(this.single, 0xff, 1024);
    memory.fill(this.bigrams, 0, 8192);
    store<i32>(this.offs, 0);
  }

  dispose(): void {
    heap.free(this.single); heap.free(this.edges); heap.free(this.bigrams); heap.free(this.table); heap.free(this.hashes); heap.free(this.scores); heap.free(this.offs); heap.free(this.blob);
  }

  /** Appends the next piece (id = size). Returns false when it repeats an earlier piece: the map keeps the earlier id. */
  add(src: usize, len: i32, score: f32): bool {
    const id = this.append(src, len, score);
    const h = load<u32>(this.hashes + (<usize>id << 2));
    let slot = h & this.mask;
    while (true) {
      const other = load<i32>(this.table + (<usize>slot << 2));
      if (other < 0) {
        store<i32>(this.table + (<usize>slot << 2), id);
        if (len == 1) store<i32>(this.single + (<usize>load<u8>(src) << 2), id);
        return true;
      }
      if (load<u32>(this.hashes + (<usize>other << 2)) == h && this.len(other) == len &&
          memory.compare(this.ptr(other), src, <usize>len) == 0) { this.duplicates++; return false; }
      slot = (slot + 1) & this.mask;
    }
  }

  /** Appends a piece that find() never returns (its id keeps its bytes for decoding only). */
  addHidden(src: usize, len: i32): void {
    this.append(src, len, 0);
  }

  private append(src: usize, len: i32, score: f32): i32 {
    const id = this.size++;
    const at = this.blobLen;
    memory.copy(this.blob + <usize>at, src, <usize>len);
    this.blobLen = at + len;
    store<i32>(this.offs + (<usize>(id + 1) << 2), at + len);
    store<f32>(this.scores + (<usize>id << 2), score);
    const h = fnv(FNV_OFFSET, src, len);
    store<u32>(this.hashes + (<usize>id << 2), h);
    if (len > this.maxLen) this.maxLen = len;
    store<u32>(this.edges + (<usize>id << 2), len ? 0x10000 | (<u32>load<u8>(src) << 8) | load<u8>(src + <usize>len - 1) : 0);
    for (let i = 1; i < len; i++) {
      const bit = (<u32>load<u8>(src + <usize>i - 1) << 8) | <u32>load<u8>(src + <usize>i);
      const cell = this.bigrams + (bit >> 3);
      store<u8>(cell, <u32>load<u8>(cell) | (<u32>1 << (bit & 7)));
    }
    return id;
  }

  // @ts-ignore: decorator
  @inline ptr(id: i32): usize { return this.blob + <usize>load<i32>(this.offs + (<usize>id << 2)); }
  // @ts-ignore: decorator
  @inline len(id: i32): i32 {
    const o = this.offs + (<usize>id << 2);
    return load<i32>(o, 4) - load<i32>(o);
  }
  // @ts-ignore: decorator
  @inline score(id: i32): f32 { return load<f32>(this.scores + (<usize>id << 2)); }

  /** False when piece a's last byte followed by piece b's first byte occurs in no piece: then no merge can
   *  ever join a (or anything ending with it) to b (or anything starting with it). True for empty pieces. */
  // @ts-ignore: decorator
  @inline mayJoin(a: i32, b: i32): bool {
    const ea = load<u32>(this.edges + (<usize>a << 2)), eb = load<u32>(this.edges + (<usize>b << 2));
    if (!ea || !eb) return true;
    const bit = ((ea & 0xff) << 8) | ((eb >> 8) & 0xff);
    return (load<u8>(this.bigrams + (bit >> 3)) >> (bit & 7)) & 1 ? true : false;
  }

  /** Id of the piece with exactly these bytes, or -1. */
  find(p: usize, n: i32): i32 {
    if (n == 1) return load<i32>(this.single + (<usize>load<u8>(p) << 2));
    if (n > this.maxLen) return -1;
    const h = fnv(FNV_OFFSET, p, n);
    let slot = h & this.mask;
    while (true) {
      const id = load<i32>(this.table + (<usize>slot << 2));
      if (id < 0) return -1;
      if (load<u32>(this.hashes + (<usize>id << 2)) == h && this.len(id) == n &&
          memory.compare(this.ptr(id), p, <usize>n) == 0) return id;
      slot = (slot + 1) & this.mask;
    }
  }

  /** Id of the piece spelled piece(a) + piece(b), or -1, without building the concatenation. */
  findPair(a: i32, b: i32): i32 {
    const la = this.len(a), lb = this.len(b);
    const n = la + lb;
    if (n > this.maxLen) return -1;
    const pa = this.ptr(a), pb = this.ptr(b);
    const h = fnv(fnv(FNV_OFFSET, pa, la), pb, lb);
    let slot = h & this.mask;
    while (true) {
      const id = load<i32>(this.table + (<usize>slot << 2));
      if (id < 0) return -1;
      if (load<u32>(this.hashes + (<usize>id << 2)) == h && this.len(id) == n) {
        const p = this.ptr(id);
        if (memory.compare(p, pa, <usize>la) == 0 && memory.compare(p + <usize>la, pb, <usize>lb) == 0) return id;
      }
      slot = (slot + 1) & this.mask;
    }
  }
}
