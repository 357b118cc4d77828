// Padding: rows (token offsets into concatenated ids/labels) → [n, seqLen] input_ids, labels, attention_mask,
// position_ids, segment_ids. Right padding for training, left for generation. A row's first label is set to
// -100: a causal LM never predicts a row's first token (the same rule packing needs so no label crosses rows).

export const IGNORE: i32 = -100;

export function pad(n: i32, offsets: usize, ids: usize, labels: usize, seqLen: i32, padId: i32, left: i32,
  outIds: usize, outLabels: usize, outMask: usize, outPos: usize, outSeg: usize): i32 {
  for (let r = 0; r < n; r++) {
    const a = load<i32>(offsets + (<usize>r << 2));
    const b = load<i32>(offsets + (<usize>(r + 1) << 2));
    const len = b - a;
    if (len > seqLen) return -1 - r;
    const row = <usize>r * <usize>seqLen;
    const padLen = seqLen - len;
    const start = left ? padLen : 0; // first real token
    for (let t = 0; t < seqLen; t++) {
      const o = (row + <usize>t) << 2;
      const j = t - start;
      if (j >= 0 && j < len) {
        const src = <usize>(a + j) << 2;
        store<i32>(outIds + o, load<i32>(ids + src));
        store<i32>(outLabels + o, j == 0 ? IGNORE : load<i32>(labels + src));
        store<i32>(outMask + o, 1);
        store<i32>(outPos + o, j);
        store<i32>(outSeg + o, 1);
      } else {
        store<i32>(outIds + o, padId);
        store<i32>(outLabels + o, IGNORE);
        store<i32>(outMask + o, 0);
        store<i32>(outPos + o, 0);
        store<i32>(outSeg + o, 0);
      }
    }
  }
  return 0;
}
