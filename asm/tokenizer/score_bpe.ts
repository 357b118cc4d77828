// "Score-BPE": SentencePiece BPE as llama2.c's run.c encodes it. Start from one piece per UTF-8 code point
// (byte-fallback pieces when the code point is not a piece), then repeatedly merge the adjacent pair whose
// concatenation is a piece, highest piece score first, leftmost on ties.
import { Vocab } from './vocab';
import { PairRule, mergeAll } from './merge';

// run.c starts its search at best_score = -1e10 (a float) and needs a strictly greater score.
const MIN_SCORE: f32 = -1e10;

/** f32 → u32 whose unsigned order is the float order (-0 counts as 0, as float compares do). */
export function sortableScore(s: f32): u32 {
  if (s == 0) return 0x80000000;
  const b = reinterpret<u32>(s);
  return b & 0x80000000 ? ~b : b | 0x80000000;
}

// @ts-ignore: decorator
@inline function put(ids: usize, n: i32, id: i32): i32 {
  store<i32>(ids + (<usize>n << 2), id);
  return n + 1;
}

// Natural text repeats the same few thousand pairs, so merge results are cached by (a, b) in a direct-mapped
// table: an integer hash instead of hashing and comparing piece bytes. Entry: key a << 32 | b, id, prio.
const CACHE_BITS = 14;

export class ScoreRule extends PairRule {
  cache: usize = heap.alloc(16 << CACHE_BITS);

  constructor(public vocab: Vocab) {
    super();
    memory.fill(this.cache, 0xff, 16 << CACHE_BITS); // key -1: empty (ids are < 2^31)
  }

  dispose(): void { heap.free(this.cache); }

  merge(a: i32, b: i32): i32 {
    const key = (<u64>a << 32) | <u64><u32>b;
    const e = this.cache + (<usize>(<u32>(key * 0x9e3779b97f4a7c15 >> (64 - CACHE_BITS))) << 4);
    if (load<u64>(e) == key) {
      this.prio = load<u32>(e, 12);
      return load<i32>(e, 8);
    }
    let id = this.vocab.findPair(a, b);
    if (id >= 0) {
      const s = this.vocab.score(id);
      if (s > MIN_SCORE) this.prio = sortableScore(s);
      else id = -1; // also NaN, as in run.c's comparison
    }
    store<u64>(e, key);
    store<i32>(e, id, 8);
    store<u32>(e, this.prio, 12);
    return id;
  }
}

/**
 * Writes the initial symbols for `len` UTF-8 bytes at `text` to `ids` and merges them; returns the count.
 * `first` (BOS) and `prefix` (the dummy-prefix " " piece, used only for non-empty text) are skipped when < 0.
 * Like run.c, a code point is a lead byte plus up to 3 continuation bytes (10xxxxxx), whatever their validity,
 * and each of its bytes b falls back to id b + byteBase when the group is not a piece.
 * `ids` needs room for len + 2 ids, `work` for mergeWorkBytes(len + 2).
 */
export function encodeScoreBpe(rule: ScoreRule, text: usize, len: i32, first: i32, prefix: i32, byteBase: i32,
                               ids: usize, work: usize): i32 {
  const v = rule.vocab;
  let n = 0;
  if (first >= 0) n = put(ids, n, first);
  if (len > 0 && prefix >= 0) n = put(ids, n, prefix);
  let i = 0;
  while (i < len) {
    let j = i + 1;
    while (j < len && j - i < 4 && (load<u8>(text + <usize>j) & 0xc0) == 0x80) j++;
    const id = v.find(text + <usize>i, j - i);
    if (id >= 0) {
      n = put(ids, n, id);
    } else {
      for (let k = i; k < j; k++) n = put(ids, n, <i32>load<u8>(text + <usize>k) + byteBase);
    }
    i = j;
  }
  return mergeSegments(rule, ids, n, work);
}

/**
 * Merging only ever joins neighbours whose pieces' boundary bytes (last of the left, first of the right) occur
 * together inside some piece. Where they do not, the text splits into segments that never interact, and run.c's
 * global greedy order restricted to one segment is that segment's own greedy order. Merging segment by segment
 * (words, in practice) gives identical ids and keeps the heap small and in cache.
 */
function mergeSegments(rule: ScoreRule, ids: usize, n: i32, work: usize): i32 {
  const v = rule.vocab;
  let count = 0, start = 0;
  for (let i = 1; i <= n; i++) {
    if (i < n) {
      if (v.mayJoin(load<i32>(ids + (<usize>(i - 1) << 2)), load<i32>(ids + (<usize>i << 2)))) continue;
    }
    const k = mergeAll(rule, ids + (<usize>start << 2), i - start, work);
    for (let j = 0; j < k; j++) store<i32>(ids + (<usize>(count + j) << 2), load<i32>(ids + (<usize>(start + j) << 2)));
    count += k;
    start = i;
  }
  return count;
}
