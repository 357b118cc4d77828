// One growable scratch block, reused by every call (input bytes, work arrays, output), so repeated
// encode/decode calls do not grow memory: it only grows to the largest request seen so far.
// heap.realloc keeps the contents (the caller's input at the start) and, with the stub runtime the
// build uses, grows in place when it is the most recent allocation (the usual case after loading).

let base: usize = 0;
let cap: usize = 0;

/** The scratch block, at least `size` bytes; earlier contents are preserved. */
export function scratch(size: usize): usize {
  if (size > cap) {
    let want = cap << 1;
    if (want < size) want = size;
    if (want < 65536) want = 65536;
    base = base ? heap.realloc(base, want) : heap.alloc(want);
    cap = want;
  }
  return base;
}

/** Round up to 8 bytes, to lay out aligned arrays inside the scratch block. */
// @ts-ignore: decorator
@inline export function align8(n: usize): usize {
  return (n + 7) & ~(<usize>7);
}
