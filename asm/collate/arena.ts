// A bump allocator over linear memory: the wrapper resets it before each batch, copies the rows in and
// allocates the outputs. 16-byte aligned; returns 0 when memory cannot grow.

let top: usize = 0;

@inline function base(): usize { return (__heap_base + 15) & ~<usize>15; }

export function reset(): void {
  top = base();
}

export function alloc(bytes: usize): usize {
  if (top == 0) top = base();
  const p = top;
  const end = <u64>p + ((<u64>bytes + 15) & ~<u64>15);
  if (end >= (<u64>1 << 32)) return 0;
  const have = <u64>memory.size() << 16;
  if (end > have) {
    const pages = <i32>((end - have + 0xFFFF) >> 16);
    if (memory.grow(pages) < 0) return 0;
  }
  top = <usize>end;
  return p;
}
