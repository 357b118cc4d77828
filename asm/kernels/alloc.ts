// A small first-fit allocator over linear memory for the kernels' buffers (weights, activations, KV caches).
// Blocks: a 16-byte header (block size at +0, next free block at +8 while free), then a 16-byte aligned payload.
// Free blocks stay in an address-sorted list and coalesce with their neighbours; a free block at the end of
// the heap is given back to the bump pointer, so a freed-then-larger allocation reuses that tail.
// Nothing here uses the AssemblyScript runtime's own heap (the kernels never allocate managed objects).

const HDR: usize = 16;
const MIN_SPLIT: usize = 64; // don't leave free fragments smaller than this

let top: usize = 0; // end of the used heap; everything above is untouched memory
let freeList: usize = 0; // first free block (address-sorted singly linked list)

@inline function blockSize(b: usize): usize { return load<usize>(b); }
@inline function setSize(b: usize, s: usize): void { store<usize>(b, s); }
@inline function nextFree(b: usize): usize { return load<usize>(b, 8); }
@inline function setNext(b: usize, n: usize): void { store<usize>(b, n, 8); }

/** Allocate `bytes` (not zeroed) and return a 16-byte aligned pointer, or 0 when memory cannot grow. */
export function alloc(bytes: usize): usize {
  if (top == 0) top = (__heap_base + 15) & ~<usize>15;
  if (bytes > <usize>0xFFFF0000) return 0;
  let size = ((bytes + 15) & ~<usize>15) + HDR;

  // First fit in the free list, splitting off the tail when it is worth keeping.
  let prev: usize = 0;
  let b = freeList;
  while (b != 0) {
    const bs = blockSize(b);
    if (bs >= size) {
      let next = nextFree(b);
      if (bs - size >= MIN_SPLIT) {
        const rest = b + size;
        setSize(rest, bs - size);
        setNext(rest, next);
        next = rest;
      } else {
        size = bs;
      }
      if (prev != 0) setNext(prev, next); else freeList = next;
      setSize(b, size);
      return b + HDR;
    }
    prev = b;
    b = nextFree(b);
  }

  // Bump from the top, growing memory in whole pages as needed.
  b = top;
  const end = <u64>b + <u64>size;
  const have = <u64>memory.size() << 16;
  if (end > have) {
    if (end >= (<u64>1 << 32)) return 0;
    const pages = <i32>((end - have + 0xFFFF) >> 16);
    if (memory.grow(pages) < 0) return 0;
  }
  top = b + size;
  setSize(b, size);
  return b + HDR;
}

/** Return a block from `alloc` to the allocator. free(0) is a no-op. */
export function free(ptr: usize): void {
  if (ptr == 0) return;
  let b = ptr - HDR;
  // Find the neighbours in the sorted list.
  let prev: usize = 0;
  let next = freeList;
  while (next != 0 && next < b) { prev = next; next = nextFree(next); }
  // Merge with the following free block.
  if (next != 0 && b + blockSize(b) == next) {
    setSize(b, blockSize(b) + blockSize(next));
    next = nextFree(next);
  }
  setNext(b, next);
  // Merge with the preceding free block, or link after it.
  if (prev != 0 && prev + blockSize(prev) == b) {
    setSize(prev, blockSize(prev) + blockSize(b));
    setNext(prev, next);
    b = prev;
  } else if (prev != 0) {
    setNext(prev, b);
  } else {
    freeList = b;
  }
  // A free block that ends at the top goes back to the bump region (it is the last one in the list).
  if (b + blockSize(b) == top) { unlink(b); top = b; }
}

/** Remove block b (the last one in the list) from the free list. */
function unlink(b: usize): void {
  if (freeList == b) { freeList = 0; return; }
  let p = freeList;
  while (nextFree(p) != b) p = nextFree(p);
  setNext(p, 0);
}

/** Bytes between the heap start and the bump pointer (for tests and diagnostics). */
export function heapUsed(): usize {
  return top == 0 ? 0 : top - ((__heap_base + 15) & ~<usize>15);
}
