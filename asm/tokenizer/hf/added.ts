// Added tokens: a byte trie searched leftmost-longest, like tokenizers' Aho-Corasick (MatchKind::LeftmostLongest).
// Two matchers: `raw` holds the tokens with normalized: false and runs on the input text before normalization;
// `norm` holds the normalized: true ones (contents normalized at load) and runs on each normalized section.
// A 256-entry first-byte filter makes the scan cheap: most positions cannot start any token.
import { isWordChar } from './chars';

export const A_LSTRIP = 1;
export const A_RSTRIP = 2;
export const A_SINGLE_WORD = 4;
export const A_NORMALIZED = 8;
export const A_SPECIAL = 16;

export class AddedMatcher {
  // Trie edges: key (node << 8 | byte) + 1 → child node, open addressing (key 0 = empty).
  keys: usize = 0;
  vals: usize = 0;
  mask: u32 = 0;
  term: usize = 0;          // i32 per node: token index ending there, or -1
  nodes: i32 = 1;
  nodeCap: i32 = 0;
  first: usize = heap.alloc(256);
  count: i32 = 0;
  // Result of the last find(): match [start, mEnd) of token mTok.
  mEnd: i32 = 0;
  mTok: i32 = -1;

  constructor() { memory.fill(this.first, 0, 256); this.resize(64); }

  private resize(nodeCap: i32): void {
    const oldKeys = this.keys, oldVals = this.vals, oldSlots = this.keys ? this.mask + 1 : 0;
    let slots: u32 = 16;
    while (slots < <u32>nodeCap * 2) slots <<= 1;
    this.keys = heap.alloc(<usize>slots << 2);
    this.vals = heap.alloc(<usize>slots << 2);
    memory.fill(this.keys, 0, <usize>slots << 2);
    this.mask = slots - 1;
    for (let s: u32 = 0; s < oldSlots; s++) {
      const k = load<u32>(oldKeys + (<usize>s << 2));
      if (k) this.insert(k, load<i32>(oldVals + (<usize>s << 2)));
    }
    const term = heap.alloc(<usize>nodeCap << 2);
    memory.fill(term, 0xff, <usize>nodeCap << 2);
    if (this.term) memory.copy(term, this.term, <usize>this.nodes << 2);
    this.term = term;
    this.nodeCap = nodeCap;
  }

  private insert(k: u32, child: i32): void {
    let s = (k * 0x9e3779b1) & this.mask;
    while (load<u32>(this.keys + (<usize>s << 2)) != 0) s = (s + 1) & this.mask;
    store<u32>(this.keys + (<usize>s << 2), k);
    store<i32>(this.vals + (<usize>s << 2), child);
  }

  // @ts-ignore: decorator
  @inline child(node: i32, b: u32): i32 {
    const k = ((<u32>node << 8) | b) + 1;
    let s = (k * 0x9e3779b1) & this.mask;
    while (true) {
      const x = load<u32>(this.keys + (<usize>s << 2));
      if (x == k) return load<i32>(this.vals + (<usize>s << 2));
      if (x == 0) return -1;
      s = (s + 1) & this.mask;
    }
  }

  /** Adds a pattern; an identical pattern added later replaces the earlier one's token. */
  add(p: usize, n: i32, tok: i32): void {
    if (n <= 0) return;
    let node = 0;
    for (let i = 0; i < n; i++) {
      const b = <u32>load<u8>(p + <usize>i);
      let c = this.child(node, b);
      if (c < 0) {
        if (this.nodes + 1 > this.nodeCap) this.resize(this.nodeCap * 2);
        c = this.nodes++;
        this.insert(((<u32>node << 8) | b) + 1, c);
      }
      node = c;
    }
    store<i32>(this.term + (<usize>node << 2), tok);
    store<u8>(this.first + <usize>load<u8>(p), 1);
    this.count++;
  }

  /** The leftmost match starting at or after `from` (the longest one there); its start, or -1. */
  find(p: usize, from: i32, len: i32): i32 {
    if (this.count == 0) return -1;
    for (let i = from; i < len; i++) {
      if (!load<u8>(this.first + <usize>load<u8>(p + <usize>i))) continue;
      let node = 0, best = -1;
      for (let j = i; j < len; j++) {
        node = this.child(node, load<u8>(p + <usize>j));
        if (node < 0) break;
        const t = load<i32>(this.term + (<usize>node << 2));
        if (t >= 0) { best = j + 1; this.mTok = t; }
      }
      if (best >= 0) { this.mEnd = best; return i; }
    }
    return -1;
  }
}

// Added tokens by index: id and flags.
let tokIds = new StaticArray<i32>(0);
let tokFlags = new StaticArray<i32>(0);
export let addedCount = 0;
export let raw = new AddedMatcher();
export let norm = new AddedMatcher();

export function resetAdded(n: i32): void {
  tokIds = new StaticArray<i32>(n);
  tokFlags = new StaticArray<i32>(n);
  addedCount = 0;
  raw = new AddedMatcher();
  norm = new AddedMatcher();
}

/** Registers added token `i` (index), matched on `content` (already normalized for A_NORMALIZED ones). */
export function addAdded(i: i32, id: i32, flags: i32, p: usize, n: i32): void {
  tokIds[i] = id;
  tokFlags[i] = flags;
  if (i >= addedCount) addedCount = i + 1;
  (flags & A_NORMALIZED ? norm : raw).add(p, n, i);
}

// @ts-ignore: decorator
@inline export function addedId(t: i32): i32 { return tokIds[t]; }
// @ts-ignore: decorator
@inline export function addedFlags(t: i32): i32 { return tokFlags[t]; }

/** White_Space (Rust regex \s), the characters lstrip/rstrip take in. */
export function isSpace(cp: i32): bool {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 9 && cp <= 13);
  if (cp < 0x85) return false;
  return cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
    cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/** Decodes the UTF-8 character at p[i] (i < n); sets cpLen. Invalid bytes decode as U+FFFD, one byte long. */
export let cpLen = 1;
export function cpAt(p: usize, i: i32, n: i32): i32 {
  const b0 = <i32>load<u8>(p + <usize>i);
  cpLen = 1;
  if (b0 < 0x80) return b0;
  const need = b0 >= 0xf0 ? 3 : b0 >= 0xe0 ? 2 : b0 >= 0xc0 ? 1 : 0;
  if (need == 0 || i + need >= n) return 0xfffd;
  let cp = b0 & (0x3f >> need);
  for (let k = 1; k <= need; k++) {
    const b = <i32>load<u8>(p + <usize>(i + k));
    if ((b & 0xc0) != 0x80) return 0xfffd;
    cp = (cp << 6) | (b & 0x3f);
  }
  cpLen = need + 1;
  return cp;
}

/** The code point that ends at p[end) (end > 0). */
export function cpBefore(p: usize, end: i32): i32 {
  let i = end - 1;
  while (i > 0 && end - i < 4 && (load<u8>(p + <usize>i) & 0xc0) == 0x80) i--;
  const cp = cpAt(p, i, end);
  return i + cpLen == end ? cp : 0xfffd;
}

/**
 * Walks the matches of `m` over [0, len) as tokenizers' find_matches does (single_word, lstrip, rstrip), calling
 * back through `sink`: gap(start, end) for text between tokens, token(id) for each match.
 */
export abstract class SplitSink {
  abstract gap(p: usize, start: i32, end: i32): void;
  abstract token(id: i32): void;
}

export function splitAdded(m: AddedMatcher, p: usize, len: i32, sink: SplitSink): void {
  let startOffset = 0, pos = 0;
  while (true) {
    let s = m.find(p, pos, len);
    if (s < 0) break;
    let e = m.mEnd;
    const t = m.mTok;
    pos = e;
    const f = tokFlags[t];
    if (f & A_SINGLE_WORD) {
      const wordBefore = s > 0 && isWordChar(cpBefore(p, s));
      const wordAfter = e < len && isWordChar(cpAt(p, e, len));
      if (wordBefore || wordAfter) continue;
    }
    if (f & A_LSTRIP) {
      let ns = s;
      while (ns > startOffset) {
        const cp = cpBefore(p, ns);
        if (!isSpace(cp)) break;
        ns -= cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      }
      s = ns;
    }
    if (f & A_RSTRIP) {
      while (e < len) {
        const cp = cpAt(p, e, len);
        if (!isSpace(cp)) break;
        e += cpLen;
      }
      pos = e;
    }
    if (startOffset < s) sink.gap(p, startOffset, s);
    sink.token(tokIds[t]);
    startOffset = e;
  }
  if (startOffset < len) sink.gap(p, startOffset, len);
}
