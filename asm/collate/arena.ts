// A bump allocator over linear memory: the wrapper resets it before each batch, copies the rows in and
// allocates the outputs. 16-byte aligned; returns 0 when memory cannot grow.

let top: usize = 0;
let floor: usize = 0;

@inline function base(): usize { return ((floor ? floor : __heap_base) + 15) & ~<usize>15; }

/** Starts the arena at p instead of the heap base: a module that also allocates with the runtime (asm/data-wasi)
 *  puts it above everything the runtime gave out, and allocates no more with the runtime afterwards. */
export function arenaFloor(p: usize): void {
  floor = p;
  top = 0;
}

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
