// Hugging Face "BPE" model on raw-byte pieces: initial symbols (one per byte for byte-level vocabularies, one per
// UTF-8 character otherwise, with byte_fallback <0xHH> and unk / fuse_unk as tokenizers' merge_word does them), then
// ranked merges, lowest rank first, leftmost on ties (merge.ts). The vocabulary is stored as raw bytes: byte-level
// tokens are converted from the GPT-2 byte alphabet at load, so pre-tokenized pieces need no mapping.
import { Vocab } from '../vocab';
import { PairRule, mergeAll, mergeWorkBytes } from '../merge';
import { WordCache, CACHE_MAX, hashIds, recCount, recIds } from './cache';

/** Growable i32 array in linear memory (the encode output and symbol buffers). */
export class IdBuf {
  ptr: usize;
  len: i32 = 0;
  cap: i32;
  constructor(cap: i32 = 1024) { this.cap = cap; this.ptr = heap.alloc(<usize>cap << 2); }
  reserve(extra: i32): void {
    const need = this.len + extra;
    if (need <= this.cap) return;
    let c = this.cap << 1;
    if (c < need) c = need;
    this.ptr = heap.realloc(this.ptr, <usize>c << 2);
    this.cap = c;
  }
  // @ts-ignore: decorator
  @inline push(id: i32): void {
    if (this.len >= this.cap) this.reserve(1);
    store<i32>(this.ptr + (<usize>this.len << 2), id);
    this.len++;
  }
  pushAll(src: usize, n: i32): void {
    this.reserve(n);
    memory.copy(this.ptr + (<usize>this.len << 2), src, <usize>n << 2);
    this.len += n;
  }
}

/** (left id, right id) → (rank, merged id), open addressing on the u64 pair. Key -1 marks an empty slot. */
class MergeTable {
  keys: usize;
  vals: usize;
  mask: u32;
  bits: u32;
  constructor(n: i32) {
    let slots: u32 = 16, bits: u32 = 4;
    while (slots < <u32>n * 2) { slots <<= 1; bits++; }
    this.mask = slots - 1;
    this.bits = bits;
    this.keys = heap.alloc(<usize>slots << 3);
    this.vals = heap.alloc(<usize>slots << 3);
    memory.fill(this.keys, 0xff, <usize>slots << 3);
  }
  // @ts-ignore: decorator
  @inline slot(key: u64): u32 { return <u32>((key * 0x9e3779b97f4a7c15) >> (64 - this.bits)); }
  /** A later duplicate pair overwrites the earlier one, as building tokenizers' merge map does. */
  put(a: i32, b: i32, rank: i32, id: i32): void {
    const key = (<u64><u32>a << 32) | <u64><u32>b;
    let s = this.slot(key);
    while (true) {
      const k = load<u64>(this.keys + (<usize>s << 3));
      if (k == key || k == u64.MAX_VALUE) break;
      s = (s + 1) & this.mask;
    }
    store<u64>(this.keys + (<usize>s << 3), key);
    store<u64>(this.vals + (<usize>s << 3), (<u64><u32>rank << 32) | <u64><u32>id);
  }
  /** rank << 32 | merged id, or u64.MAX_VALUE when the pair does not merge. */
  // @ts-ignore: decorator
  @inline get(a: i32, b: i32): u64 {
    const key = (<u64><u32>a << 32) | <u64><u32>b;
    let s = this.slot(key);
    while (true) {
      const k = load<u64>(this.keys + (<usize>s << 3));
      if (k == key) return load<u64>(this.vals + (<usize>s << 3));
      if (k == u64.MAX_VALUE) return u64.MAX_VALUE;
      s = (s + 1) & this.mask;
    }
  }
}

class RankRule extends PairRule {
  constructor(public table: MergeTable) { super(); }
  merge(a: i32, b: i32): i32 {
    const v = this.table.get(a, b);
    if (v == u64.MAX_VALUE) return -1;
    this.prio = ~<u32>(v >> 32); // lower rank merges first
    return <i32><u32>v;
  }
}

// Model flags (packed header, see loadBpe).
export const F_BYTE_LEVEL = 1;
export const F_BYTE_FALLBACK = 2;
export const F_FUSE_UNK = 4;
export const F_IGNORE_MERGES = 8;
export const F_MERGE_IDS = 16;   // merges are already resolved: (a, b, merged id) i32 triples (the cached form)
export const F_RECORD = 32;      // keep the resolved triples for JS to cache (resolvedMerges)

export let vocab: Vocab | null = null;
let rule: RankRule | null = null;
let cache: WordCache | null = null;
export let byteLevel = false;
let byteFallback = false, fuseUnk = false, ignoreMerges = false;
export let unkId: i32 = -1;
const byteIds = new StaticArray<i32>(256);   // <0xHH> tokens for byte_fallback (-1: absent)
let prefix: usize = 0, prefixLen = 0;        // continuing_subword_prefix
let suffix: usize = 0, suffixLen = 0;        // end_of_word_suffix
let droppedMerges = 0;
let resolved: usize = 0;           // i32[nMerges * 3] with F_RECORD (a = -1: dropped)

const syms = new IdBuf(4096);      // initial symbols of the current word
const seg = new IdBuf(256);        // one segment's symbols while merging
let work: usize = 0, workCap: usize = 0;
const affixed = new IdBuf(64);     // bytes of a symbol with its prefix/suffix (used as a byte buffer)

export function droppedMergeCount(): i32 { return droppedMerges; }
/** The resolved merges of the last load with F_RECORD (0 if none); dropResolved() frees them. */
export function resolvedMerges(): usize { return resolved; }
export function dropResolved(): void { if (resolved) heap.free(resolved); resolved = 0; }

/**
 * Loads the packed model (little-endian; i32 unless said otherwise):
 *   nVocab, blobLen, nMerges, flags, unkId, prefixLen, suffixLen, byteIds[256],
 *   lens[nVocab] (bit 31: hidden, i.e. never looked up: a byte-level token outside the byte alphabet),
 *   blob bytes (padded to 4), prefix bytes, suffix bytes (padded to 4),
 *   merges in rank order, each u16 lenA, u16 lenB, then the bytes of A and B (lenA 0xffff: unusable merge);
 *   with F_MERGE_IDS instead nMerges × (a, b, merged id) i32 (a = -1: dropped).
 * Merge parts are resolved here (hash lookups are cheaper in wasm than in JS); merges whose parts or result are
 * not in the vocabulary are skipped, and counted. Returns 0, or the byte offset + 1 where the buffer ran out.
 */
export function loadBpe(p: usize, n: i32): i32 {
  if (n < 28 + 1024) return 1;
  const nVocab = load<i32>(p), blobLen = load<i32>(p, 4), nMerges = load<i32>(p, 8), flags = load<i32>(p, 12);
  unkId = load<i32>(p, 16);
  prefixLen = load<i32>(p, 20); suffixLen = load<i32>(p, 24);
  byteLevel = (flags & F_BYTE_LEVEL) != 0;
  byteFallback = (flags & F_BYTE_FALLBACK) != 0;
  fuseUnk = (flags & F_FUSE_UNK) != 0;
  ignoreMerges = (flags & F_IGNORE_MERGES) != 0;
  for (let i = 0; i < 256; i++) byteIds[i] = load<i32>(p + 28 + (<usize>i << 2));
  let off: i32 = 28 + 1024;
  if (nVocab < 0 || blobLen < 0 || nMerges < 0 || prefixLen < 0 || suffixLen < 0) return off + 1;
  const lens = p + <usize>off;
  off += nVocab << 2;
  const blob = p + <usize>off;
  off += (blobLen + 3) & ~3;
  const affixAt = off;
  off += (prefixLen + suffixLen + 3) & ~3;
  if (off > n || off < 0) return off + 1;
  let total: i64 = 0;
  for (let i = 0; i < nVocab; i++) total += <i64>(load<u32>(lens + (<usize>i << 2)) & 0x7fffffff);
  if (total != <i64>blobLen) return 28 + 1024 + 1; // lengths disagree with the blob: corrupt
  const v = new Vocab(nVocab, blobLen);
  let at = blob;
  for (let i = 0; i < nVocab; i++) {
    const l = load<u32>(lens + (<usize>i << 2));
    const len = <i32>(l & 0x7fffffff);
    if (l & 0x80000000) v.addHidden(at, len);
    else v.add(at, len, 0);
    at += <usize>len;
  }
  if (prefixLen > 0) { prefix = heap.alloc(<usize>prefixLen); memory.copy(prefix, p + <usize>affixAt, <usize>prefixLen); }
  if (suffixLen > 0) { suffix = heap.alloc(<usize>suffixLen); memory.copy(suffix, p + <usize>(affixAt + prefixLen), <usize>suffixLen); }
  const table = new MergeTable(nMerges);
  droppedMerges = 0;
  dropResolved();
  if (flags & F_MERGE_IDS) {
    if (off + nMerges * 12 > n) return off + 1;
    for (let r = 0; r < nMerges; r++) {
      const m = p + <usize>off + <usize>r * 12;
      const a = load<i32>(m), b = load<i32>(m, 4), id = load<i32>(m, 8);
      if (<u32>a >= <u32>nVocab || <u32>b >= <u32>nVocab || <u32>id >= <u32>nVocab) { droppedMerges++; continue; }
      table.put(a, b, r, id);
    }
  } else {
    if (flags & F_RECORD) resolved = heap.alloc(<usize>max(nMerges, 1) * 12);
    for (let r = 0; r < nMerges; r++) {
      const end = resolveMerge(v, p, off, n, r, table);
      if (end < 0) return off + 1;
      off = end;
    }
  }
  vocab = v;
  rule = new RankRule(table);
  if (cache == null) cache = new WordCache(); else cache!.clear();
  return 0;
}

/** Resolves string merge r at p[off] and adds it to the table; returns the offset after it, or -1 if truncated. */
function resolveMerge(v: Vocab, p: usize, off: i32, n: i32, r: i32, table: MergeTable): i32 {
  if (off + 4 > n) return -1;
  const la = <i32>load<u16>(p + <usize>off), lb = <i32>load<u16>(p + <usize>off, 2);
  off += 4;
  let a = -1, b = -1, id = -1;
  if (la != 0xffff) {
    if (off + la + lb > n) return -1;
    const pa = p + <usize>off, pb = pa + <usize>la;
    off += la + lb;
    a = v.find(pa, la);
    b = v.find(pb, lb);
    if (a >= 0 && b >= 0) {
      if (prefixLen == 0) id = v.findPair(a, b);
      else if (lb >= prefixLen) {
        // tokenizers: merged token = A + B without its first prefix-length bytes
        affixed.len = 0;
        affixed.reserve((la + lb + 3) >> 2);
        memory.copy(affixed.ptr, pa, <usize>la);
        memory.copy(affixed.ptr + <usize>la, pb + <usize>prefixLen, <usize>(lb - prefixLen));
        id = v.find(affixed.ptr, la + lb - prefixLen);
      }
    }
  }
  if (id < 0) { droppedMerges++; a = -1; } else table.put(a, b, r, id);
  if (resolved) {
    const m = resolved + <usize>r * 12;
    store<i32>(m, a); store<i32>(m, b, 4); store<i32>(m, id, 8);
  }
  return off;
}

// @ts-ignore: decorator
@inline function charEnd(p: usize, i: i32, n: i32): i32 {
  // A lead byte and its continuation bytes (at most 4 bytes), whatever their validity.
  let j = i + 1;
  while (j < n && j - i < 4 && (load<u8>(p + <usize>j) & 0xc0) == 0x80) j++;
  return j;
}

/** Looks up one symbol: bytes [i, j) of the word, with the prefix (not first) and suffix (last) when set. */
function symbolId(v: Vocab, p: usize, i: i32, j: i32, n: i32): i32 {
  if (prefixLen == 0 && suffixLen == 0) {
    return j - i == 1 ? load<i32>(v.single + (<usize>load<u8>(p + <usize>i) << 2)) : v.find(p + <usize>i, j - i);
  }
  const b = affixSymbol(p, i, j, n);
  return v.find(b, affixed.len);
}

/** Builds prefix? + bytes + suffix? in `affixed` (as bytes; len is the byte count). */
function affixSymbol(p: usize, i: i32, j: i32, n: i32): usize {
  const pre = i > 0 ? prefixLen : 0, suf = j == n ? suffixLen : 0;
  const len = pre + (j - i) + suf;
  affixed.len = 0;
  affixed.reserve((len + 3) >> 2);
  const b = affixed.ptr;
  if (pre) memory.copy(b, prefix, <usize>pre);
  memory.copy(b + <usize>pre, p + <usize>i, <usize>(j - i));
  if (suf) memory.copy(b + <usize>(pre + j - i), suffix, <usize>suf);
  affixed.len = len;
  return b;
}

/** merge_word's initial symbols into syms. A missing symbol falls back to its bytes' <0xHH> tokens (all must
 *  exist), else to unk (consecutive ones fused with fuse_unk); without unk it is dropped. As in tokenizers, a
 *  pending unk is only emitted when the next known symbol (or the end) arrives. */
function initialSymbols(v: Vocab, p: usize, n: i32): void {
  syms.len = 0;
  syms.reserve(n + 1);
  let pendingUnk = false;
  let i = 0;
  while (i < n) {
    const j = byteLevel ? i + 1 : charEnd(p, i, n);
    // A lone surrogate (JS strings may hold one; it arrives WTF-8 encoded, ED A0..BF xx) is no vocabulary
    // character: the reference falls back to the bytes of U+FFFD, which is what TextEncoder makes of it.
    const id = isSurrogate(p, i, j) ? -1 : symbolId(v, p, i, j, n);
    if (id >= 0) {
      if (pendingUnk) { syms.push(unkId); pendingUnk = false; }
      syms.push(id);
    } else if (!(byteFallback && pushFallback(p, i, j, n))) {
      if (unkId >= 0) {
        if (pendingUnk && !fuseUnk) syms.push(unkId);
        pendingUnk = true;
      }
    }
    i = j;
  }
  if (pendingUnk) syms.push(unkId);
}

// @ts-ignore: decorator
@inline function isSurrogate(p: usize, i: i32, j: i32): bool {
  return j - i == 3 && load<u8>(p + <usize>i) == 0xed && load<u8>(p + <usize>i, 1) >= 0xa0;
}

const FFFD = memory.data<u8>([0xef, 0xbf, 0xbd]);

function pushFallback(p: usize, i: i32, j: i32, n: i32): bool {
  let b = p + <usize>i, len = j - i;
  if (isSurrogate(p, i, j)) b = FFFD;
  if (prefixLen != 0 || suffixLen != 0) { b = affixSymbol(p, i, j, n); len = affixed.len; }
  for (let k = 0; k < len; k++) if (byteIds[load<u8>(b + <usize>k)] < 0) return false;
  syms.reserve(len);
  for (let k = 0; k < len; k++) syms.push(byteIds[load<u8>(b + <usize>k)]);
  return true;
}

function ensureWork(n: i32): usize {
  const need = mergeWorkBytes(n);
  if (need > workCap) {
    if (work) heap.free(work);
    workCap = need > 65536 ? need : 65536;
    work = heap.alloc(workCap);
  }
  return work;
}

/** Merges symbols [s, e) of syms and appends the result to out, through the word cache for short runs. */
function mergeRun(s: i32, e: i32, out: IdBuf): void {
  const n = e - s;
  const src = syms.ptr + (<usize>s << 2);
  if (n == 1) { out.push(load<i32>(src)); return; }
  const c = cache!;
  let h: u32 = 0;
  if (n <= CACHE_MAX) {
    h = hashIds(src, n);
    const rec = c.get(src, n, h);
    if (rec) { out.pushAll(recIds(rec), recCount(rec)); return; }
  }
  seg.len = 0;
  seg.pushAll(src, n);
  const k = mergeAll(rule!, seg.ptr, n, ensureWork(n));
  out.pushAll(seg.ptr, k);
  if (n <= CACHE_MAX) c.put(src, n, h, seg.ptr, k);
}

/** Encodes one pre-tokenized piece (n bytes at p) and appends its ids to out. */
export function bpeWord(p: usize, n: i32, out: IdBuf): void {
  if (n <= 0) return;
  const v = vocab!;
  if (ignoreMerges) {
    const id = v.find(p, n);
    if (id >= 0) { out.push(id); return; }
  }
  initialSymbols(v, p, n);
  const count = syms.len;
  // (A continuing_subword_prefix hides the boundary bytes that the cuts below rely on.)
  if (count <= CACHE_MAX || prefixLen > 0) { if (count > 0) mergeRun(0, count, out); return; }
  // Long words (a whole SentencePiece-style section): where no vocabulary piece contains the boundary bytes of
  // two neighbours they can never merge, so the runs between such cuts merge independently (and hit the cache).
  let start = 0;
  for (let i = 1; i <= count; i++) {
    if (i < count && v.mayJoin(load<i32>(syms.ptr + (<usize>(i - 1) << 2)), load<i32>(syms.ptr + (<usize>i << 2)))) continue;
    mergeRun(start, i, out);
    start = i;
  }
}
