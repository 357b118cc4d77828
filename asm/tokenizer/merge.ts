// Greedy pair merging shared by the BPE models: a linked list of symbols and a max-heap of candidate merges.
// run.c rescans every adjacent pair after each merge (O(n²)) and takes the best one, leftmost on ties (strict ">").
// Here each adjacent pair's candidate merge sits in a heap keyed by (priority, position): the same choice in
// O(n log n). Keys are u64, priority << 32 | ~position, so one integer compare orders them. Entries go stale when
// a neighbour merges; each symbol remembers its current candidate and priority, and a popped entry is applied only
// if they still match (the same priority at the same position is the same choice anyway).

/** How two adjacent symbols merge. Score-BPE (llama2.c) looks the concatenation up in the vocabulary;
 *  a merges-BPE model (Hugging Face merges list) would look the pair up in its ranked merge table. */
export abstract class PairRule {
  /** Priority of the last successful merge(): higher merges first. */
  prio: u32 = 0;
  /** The id that merging a then b gives, or -1 if that pair does not merge; sets prio. */
  abstract merge(a: i32, b: i32): i32;
}

/** Bytes of work memory mergeAll needs for n symbols (8-byte aligned). */
export function mergeWorkBytes(n: i32): usize {
  return (<usize>n << 4) + 8 + <usize>n * 24; // next, prev, cand, prio + heap of at most 3n entries
}

let hp: usize = 0; // heap entries (u64)
let hn: i32 = 0;

function push(key: u64): void {
  let i = hn;
  hn++;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const pk = load<u64>(hp + (<usize>parent << 3));
    if (pk >= key) break;
    store<u64>(hp + (<usize>i << 3), pk);
    i = parent;
  }
  store<u64>(hp + (<usize>i << 3), key);
}

function pop(): u64 {
  const top = load<u64>(hp);
  hn--;
  const key = load<u64>(hp + (<usize>hn << 3));
  let i = 0;
  while (true) {
    let c = 2 * i + 1;
    if (c >= hn) break;
    let ck = load<u64>(hp + (<usize>c << 3));
    if (c + 1 < hn) {
      const rk = load<u64>(hp + (<usize>(c + 1) << 3));
      if (rk > ck) { c++; ck = rk; }
    }
    if (key >= ck) break;
    store<u64>(hp + (<usize>i << 3), ck);
    i = c;
  }
  if (hn > 0) store<u64>(hp + (<usize>i << 3), key);
  return top;
}

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize { return base + (<usize>i << 2); }

/** Merges the n symbol ids at `ids` in place until no pair merges; returns the new count. */
export function mergeAll(rule: PairRule, ids: usize, n: i32, work: usize): i32 {
  if (n < 2) return n;
  if (n <= SMALL) return mergeSmall(rule, ids, n, work);
  const next = work, prev = next + (<usize>n << 2), cand = prev + (<usize>n << 2), prio = cand + (<usize>n << 2);
  hp = (prio + (<usize>n << 2) + 7) & ~(<usize>7);
  hn = 0;
  for (let i = 0; i < n; i++) {
    store<i32>(at(next, i), i + 1 < n ? i + 1 : -1);
    store<i32>(at(prev, i), i - 1);
  }
  for (let i = 0; i < n; i++) setCandidate(rule, ids, next, cand, prio, i);
  while (hn > 0) {
    const key = pop();
    const l = <i32>~<u32>key;
    const c = load<i32>(at(cand, l));
    if (c < 0 || load<u32>(at(prio, l)) != <u32>(key >> 32)) continue; // stale entry
    const r = load<i32>(at(next, l));
    const rr = load<i32>(at(next, r));
    store<i32>(at(ids, l), c);
    store<i32>(at(next, l), rr);
    if (rr >= 0) store<i32>(at(prev, rr), l);
    store<i32>(at(cand, r), -1); // r is gone
    setCandidate(rule, ids, next, cand, prio, l);
    const pl = load<i32>(at(prev, l));
    if (pl >= 0) setCandidate(rule, ids, next, cand, prio, pl);
  }
  // Compact the survivors in order (symbol 0 always survives: only right-hand symbols disappear).
  let k = 0;
  for (let i = 0; i >= 0; i = load<i32>(at(next, i))) {
    store<i32>(at(ids, k), load<i32>(at(ids, i)));
    k++;
  }
  return k;
}

// Short runs (words, once the caller splits where nothing can merge) are faster with run.c's own scheme:
// rescan for the best candidate, leftmost on ties, with each position's candidate kept in an array.
const SMALL = 24;

function mergeSmall(rule: PairRule, ids: usize, n: i32, work: usize): i32 {
  const cand = work, prio = work + (<usize>n << 2);
  for (let i = 0; i + 1 < n; i++) pairAt(rule, ids, cand, prio, i);
  while (n > 1) {
    let best = -1, bestPrio: u32 = 0;
    for (let i = 0; i + 1 < n; i++) {
      const p = load<u32>(at(prio, i));
      if (load<i32>(at(cand, i)) >= 0 && (best < 0 || p > bestPrio)) { best = i; bestPrio = p; }
    }
    if (best < 0) break;
    store<i32>(at(ids, best), load<i32>(at(cand, best)));
    n--;
    for (let i = best + 1; i < n; i++) { // drop the right-hand symbol
      store<i32>(at(ids, i), load<i32>(at(ids, i + 1)));
      store<i32>(at(cand, i), load<i32>(at(cand, i + 1)));
      store<u32>(at(prio, i), load<u32>(at(prio, i + 1)));
    }
    if (best + 1 < n) pairAt(rule, ids, cand, prio, best);
    if (best > 0) pairAt(rule, ids, cand, prio, best - 1);
  }
  return n;
}

// @ts-ignore: decorator
@inline function pairAt(rule: PairRule, ids: usize, cand: usize, prio: usize, i: i32): void {
  const c = rule.merge(load<i32>(at(ids, i)), load<i32>(at(ids, i + 1)));
  store<i32>(at(cand, i), c);
  store<u32>(at(prio, i), rule.prio);
}

function setCandidate(rule: PairRule, ids: usize, next: usize, cand: usize, prio: usize, i: i32): void {
  const j = load<i32>(at(next, i));
  const c = j < 0 ? -1 : rule.merge(load<i32>(at(ids, i)), load<i32>(at(ids, j)));
  store<i32>(at(cand, i), c);
  if (c >= 0) {
    store<u32>(at(prio, i), rule.prio);
    push((<u64>rule.prio << 32) | <u64>~<u32>i);
  }
}
