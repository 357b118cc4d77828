// Packing: several rows per sequence of at most maxLen tokens.
// plan: first-fit decreasing. Rows are taken longest first (counting sort, ties by row index) and each goes
// to the first sequence with room, found in O(log n) with a max segment tree over the sequences' free space.
// fill: rows are laid out in each sequence in row order; position_ids restart at 0 for each row, segment_ids
// number the rows 1, 2, ... (0 = padding) so attention stays within a row, and each row's first label is
// -100 so no label is predicted across a row boundary.
import { alloc } from './arena';
import { IGNORE } from './pad';

/** bins[i] = sequence of row i. Returns the number of sequences, or -1 - i when row i is longer than maxLen. */
export function packPlan(n: i32, lengths: usize, maxLen: i32, bins: usize): i32 {
  if (n == 0) return 0;
  // counting sort by length, longest first
  const counts = alloc(<usize>(maxLen + 2) << 2);
  memory.fill(counts, 0, <usize>(maxLen + 2) << 2);
  for (let i = 0; i < n; i++) {
    const len = load<i32>(lengths + (<usize>i << 2));
    if (len > maxLen || len < 0) return -1 - i;
    const c = counts + (<usize>(maxLen - len) << 2);
    store<i32>(c, load<i32>(c) + 1);
  }
  let sum = 0;
  for (let k = 0; k <= maxLen; k++) {
    const c = counts + (<usize>k << 2);
    const v = load<i32>(c);
    store<i32>(c, sum);
    sum += v;
  }
  const order = alloc(<usize>n << 2);
  for (let i = 0; i < n; i++) {
    const c = counts + (<usize>(maxLen - load<i32>(lengths + (<usize>i << 2))) << 2);
    const at = load<i32>(c);
    store<i32>(order + (<usize>at << 2), i);
    store<i32>(c, at + 1);
  }
  // segment tree over n possible sequences, leaves = free space
  let size = 1;
  while (size < n) size <<= 1;
  const tree = alloc(<usize>(size << 1) << 2);
  for (let k = 0; k < size; k++) store<i32>(tree + (<usize>(size + k) << 2), k < n ? maxLen : -1);
  for (let k = size - 1; k >= 1; k--) {
    const l = load<i32>(tree + (<usize>(k << 1) << 2));
    const r = load<i32>(tree + (<usize>((k << 1) + 1) << 2));
    store<i32>(tree + (<usize>k << 2), l > r ? l : r);
  }
  let used = 0;
  for (let q = 0; q < n; q++) {
    const i = load<i32>(order + (<usize>q << 2));
    const len = load<i32>(lengths + (<usize>i << 2));
    let k = 1;
    while (k < size) {
      const l = k << 1;
      k = load<i32>(tree + (<usize>l << 2)) >= len ? l : l + 1;
    }
    const bin = k - size;
    store<i32>(bins + (<usize>i << 2), bin);
    if (bin + 1 > used) used = bin + 1;
    store<i32>(tree + (<usize>k << 2), load<i32>(tree + (<usize>k << 2)) - len);
    k >>= 1;
    while (k >= 1) {
      const l = load<i32>(tree + (<usize>(k << 1) << 2));
      const r = load<i32>(tree + (<usize>((k << 1) + 1) << 2));
      store<i32>(tree + (<usize>k << 2), l > r ? l : r);
      k >>= 1;
    }
  }
  return used;
}

/** Lays rows out in nBins sequences of seqLen tokens as `bins` assigns them. Returns 0, or -1 - bin on overflow. */
export function packFill(n: i32, offsets: usize, ids: usize, labels: usize, bins: usize, nBins: i32, seqLen: i32, padId: i32,
  outIds: usize, outLabels: usize, outMask: usize, outPos: usize, outSeg: usize): i32 {
  const fill = alloc(<usize>nBins << 2);
  const segs = alloc(<usize>nBins << 2);
  memory.fill(fill, 0, <usize>nBins << 2);
  memory.fill(segs, 0, <usize>nBins << 2);
  for (let r = 0; r < n; r++) {
    const bin = load<i32>(bins + (<usize>r << 2));
    const a = load<i32>(offsets + (<usize>r << 2));
    const len = load<i32>(offsets + (<usize>(r + 1) << 2)) - a;
    const at = load<i32>(fill + (<usize>bin << 2));
    if (at + len > seqLen) return -1 - bin;
    const seg = load<i32>(segs + (<usize>bin << 2)) + 1;
    store<i32>(segs + (<usize>bin << 2), seg);
    store<i32>(fill + (<usize>bin << 2), at + len);
    const row = <usize>bin * <usize>seqLen + <usize>at;
    memory.copy(outIds + (row << 2), ids + (<usize>a << 2), <usize>len << 2);
    memory.copy(outLabels + (row << 2), labels + (<usize>a << 2), <usize>len << 2);
    if (len > 0) store<i32>(outLabels + (row << 2), IGNORE);
    for (let j = 0; j < len; j++) {
      const o = (row + <usize>j) << 2;
      store<i32>(outMask + o, 1);
      store<i32>(outPos + o, j);
      store<i32>(outSeg + o, seg);
    }
  }
  for (let b = 0; b < nBins; b++) {
    const row = <usize>b * <usize>seqLen;
    for (let t = load<i32>(fill + (<usize>b << 2)); t < seqLen; t++) {
      const o = (row + <usize>t) << 2;
      store<i32>(outIds + o, padId);
      store<i32>(outLabels + o, IGNORE);
      store<i32>(outMask + o, 0);
      store<i32>(outPos + o, 0);
      store<i32>(outSeg + o, 0);
    }
  }
  return 0;
}
