// Growable byte buffer and piece list in linear memory (raw UTF-8 everywhere). Buffers are reused between
// calls (reset keeps capacity), so steady-state encoding allocates nothing.
import { encodeUtf8 } from '../unicode/utf8';

/** A growable byte buffer: bytes [ptr, ptr + len), capacity cap. */
export class Bytes {
  ptr: usize = 0;
  len: i32 = 0;
  cap: i32 = 0;

  constructor(initial: i32 = 256) {
    if (initial < 16) initial = 16;
    this.ptr = heap.alloc(<usize>initial);
    this.cap = initial;
  }

  // @ts-ignore: decorator
  @inline reset(): void { this.len = 0; }

  /** Ensures room for `extra` more bytes (ptr may move). */
  reserve(extra: i32): void {
    const need = this.len + extra;
    if (need > this.cap) this.grow(need);
  }

  grow(need: i32): void {
    let c = this.cap << 1;
    if (c < need) c = need;
    this.ptr = heap.realloc(this.ptr, <usize>c);
    this.cap = c;
  }

  // @ts-ignore: decorator
  @inline push(b: u8): void {
    if (this.len >= this.cap) this.grow(this.len + 1);
    store<u8>(this.ptr + <usize>this.len, b);
    this.len++;
  }

  /** Appends n bytes from src (which must not lie in this buffer). */
  append(src: usize, n: i32): void {
    if (n <= 0) return;
    // 16 bytes of slack let short copies (most pieces) be one unaligned v128 move instead of memory.copy
    const need = this.len + n + 16;
    if (need > this.cap) this.grow(need);
    const dst = this.ptr + <usize>this.len;
    if (n <= 16 && src + 16 <= (<usize>memory.size() << 16)) v128.store(dst, v128.load(src));
    else memory.copy(dst, src, <usize>n);
    this.len += n;
  }

  /** Appends code point cp as UTF-8. */
  pushCp(cp: i32): void {
    this.reserve(4);
    this.len += encodeUtf8(cp, this.ptr + <usize>this.len);
  }

  /** Swaps storage with another buffer (cheap double-buffering between pipeline stages). */
  swap(o: Bytes): void {
    const p = this.ptr, l = this.len, c = this.cap;
    this.ptr = o.ptr; this.len = o.len; this.cap = o.cap;
    o.ptr = p; o.len = l; o.cap = c;
  }
}

/**
 * Pieces: all piece bytes concatenated in `bytes`, plus ends[i] = end offset of piece i in `bytes`
 * (piece i spans [end(i-1) or 0, end(i))). Empty pieces are never stored. Write only through add(), or
 * bytes.append/push followed by close() (close tracks the last end; don't shrink bytes.len by hand).
 */
export class Pieces {
  bytes: Bytes = new Bytes(1024);
  ends: usize = 0;   // i32 array
  n: i32 = 0;
  endsCap: i32 = 0;
  lastEnd: i32 = 0;  // end of the last piece (0 when none)

  constructor() {
    this.endsCap = 64;
    this.ends = heap.alloc(<usize>this.endsCap << 2);
  }

  // @ts-ignore: decorator
  @inline reset(): void { this.bytes.len = 0; this.n = 0; this.lastEnd = 0; }

  // @ts-ignore: decorator
  @inline count(): i32 { return this.n; }

  // @ts-ignore: decorator
  @inline end(i: i32): i32 { return load<i32>(this.ends + (<usize>i << 2)); }

  // @ts-ignore: decorator
  @inline start(i: i32): i32 { return i == 0 ? 0 : load<i32>(this.ends + (<usize>(i - 1) << 2)); }

  /** Pointer to piece i's first byte (valid until bytes grows). */
  // @ts-ignore: decorator
  @inline piecePtr(i: i32): usize { return this.bytes.ptr + <usize>this.start(i); }

  // @ts-ignore: decorator
  @inline pieceLen(i: i32): i32 { return this.end(i) - this.start(i); }

  /** Ends the current piece at the current end of `bytes` (skipped if it would be empty). */
  close(): void {
    const e = this.bytes.len;
    if (e == this.lastEnd) return;
    if (this.n >= this.endsCap) {
      this.endsCap <<= 1;
      this.ends = heap.realloc(this.ends, <usize>this.endsCap << 2);
    }
    store<i32>(this.ends + (<usize>this.n << 2), e);
    this.n++;
    this.lastEnd = e;
  }

  /** Appends one piece (n bytes at src); empty pieces are ignored. */
  add(src: usize, n: i32): void {
    if (n <= 0) return;
    this.bytes.append(src, n);
    this.close();
  }

  /** Swaps contents with another Pieces (double-buffering between pipeline stages). */
  swap(o: Pieces): void {
    const b = this.bytes; this.bytes = o.bytes; o.bytes = b;
    const e = this.ends, n = this.n, c = this.endsCap, l = this.lastEnd;
    this.ends = o.ends; this.n = o.n; this.endsCap = o.endsCap; this.lastEnd = o.lastEnd;
    o.ends = e; o.n = n; o.endsCap = c; o.lastEnd = l;
  }
}
