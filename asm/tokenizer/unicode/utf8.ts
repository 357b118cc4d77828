// UTF-8 helpers. Input comes from TextEncoder, so it is valid; malformed bytes still decode safely, one
// byte at a time, as U+FFFD (never reading past `end`).

/** Decodes the code point at p (< end): returns cp | byteLength << 21. */
// @ts-ignore: decorator
@inline export function decodeUtf8(p: usize, end: usize): i32 {
  const b0 = <i32>load<u8>(p);
  if (b0 < 0x80) return b0 | (1 << 21);
  return decodeMulti(p, end, b0);
}

function decodeMulti(p: usize, end: usize, b0: i32): i32 {
  const avail = <i32>(end - p);
  if (b0 >= 0xC2 && b0 < 0xE0) {
    if (avail >= 2) {
      const b1 = <i32>load<u8>(p, 1);
      if ((b1 & 0xC0) == 0x80) return (((b0 & 0x1F) << 6) | (b1 & 0x3F)) | (2 << 21);
    }
  } else if (b0 >= 0xE0 && b0 < 0xF0) {
    if (avail >= 3) {
      const b1 = <i32>load<u8>(p, 1), b2 = <i32>load<u8>(p, 2);
      if (((b1 & 0xC0) == 0x80) && ((b2 & 0xC0) == 0x80)) {
        const cp = ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F);
        if (cp >= 0x800) return cp | (3 << 21);
      }
    }
  } else if (b0 >= 0xF0 && b0 < 0xF5) {
    if (avail >= 4) {
      const b1 = <i32>load<u8>(p, 1), b2 = <i32>load<u8>(p, 2), b3 = <i32>load<u8>(p, 3);
      if (((b1 & 0xC0) == 0x80) && ((b2 & 0xC0) == 0x80) && ((b3 & 0xC0) == 0x80)) {
        const cp = ((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F);
        if (cp >= 0x10000 && cp < 0x110000) return cp | (4 << 21);
      }
    }
  }
  return 0xFFFD | (1 << 21);
}

// @ts-ignore: decorator
@inline export function cpOf(d: i32): i32 { return d & 0x1FFFFF; }
// @ts-ignore: decorator
@inline export function lenOf(d: i32): i32 { return d >>> 21; }

/** Start of the code point that ends just before p (p > start). */
// @ts-ignore: decorator
@inline export function prevStart(start: usize, p: usize): usize {
  let q = p - 1;
  let k = 0;
  while (q > start && k < 3 && (load<u8>(q) & 0xC0) == 0x80) { q--; k++; }
  return q;
}

// @ts-ignore: decorator
@inline export function utf8Length(cp: i32): i32 {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/** Writes cp as UTF-8 at dst (room for 4 bytes); returns the byte count. */
export function encodeUtf8(cp: i32, dst: usize): i32 {
  if (cp < 0x80) { store<u8>(dst, <u8>cp); return 1; }
  if (cp < 0x800) {
    store<u8>(dst, <u8>(0xC0 | (cp >> 6))); store<u8>(dst, <u8>(0x80 | (cp & 0x3F)), 1);
    return 2;
  }
  if (cp < 0x10000) {
    store<u8>(dst, <u8>(0xE0 | (cp >> 12))); store<u8>(dst, <u8>(0x80 | ((cp >> 6) & 0x3F)), 1);
    store<u8>(dst, <u8>(0x80 | (cp & 0x3F)), 2);
    return 3;
  }
  store<u8>(dst, <u8>(0xF0 | (cp >> 18))); store<u8>(dst, <u8>(0x80 | ((cp >> 12) & 0x3F)), 1);
  store<u8>(dst, <u8>(0x80 | ((cp >> 6) & 0x3F)), 2); store<u8>(dst, <u8>(0x80 | (cp & 0x3F)), 3);
  return 4;
}

/** Index of the first byte >= 0x80 in [p, end), or end (16 bytes at a time). */
export function asciiRunEnd(p: usize, end: usize): usize {
  while (p + 16 <= end) {
    const m = i8x16.bitmask(v128.load(p));
    if (m != 0) return p + <usize>ctz(m);
    p += 16;
  }
  while (p < end && load<u8>(p) < 0x80) p++;
  return p;
}
