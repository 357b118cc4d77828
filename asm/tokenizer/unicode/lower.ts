// Full lowercase mapping as JS String.prototype.toLowerCase: one-to-many (U+0130 → i + U+0307) and the
// Final_Sigma context for U+03A3, tested the way ICU does (case-ignorables are skipped before cased is checked).
import { LOWER_RUN_COUNT, LOWER_RUN_START, LOWER_RUN_INFO, LOWER_MULTI_COUNT, LOWER_MULTI } from './tables';
import { ctype, normRecord, N_LOWER, C_CASED, C_CASE_IGNORABLE } from './props';
import { decodeUtf8, cpOf, lenOf, prevStart, asciiRunEnd } from './utf8';
import { Bytes } from '../hf/text';

/** The single code point cp lowercases to (cp itself when unchanged or one-to-many). */
export function toLowerSimple(cp: i32): i32 {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5A ? cp + 32 : cp;
  // last run starting at or before cp
  let lo = 0, hi = LOWER_RUN_COUNT - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (<i32>load<u32>(LOWER_RUN_START + (<usize>mid << 2)) <= cp) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  if (found < 0) return cp;
  const start = <i32>load<u32>(LOWER_RUN_START + (<usize>found << 2));
  const info = load<i32>(LOWER_RUN_INFO + (<usize>found << 2));
  const count = info & 1023, x = info >> 10, stride = (x & 1) + 1, delta = x >> 1;
  const off = cp - start;
  if (off >= count * stride || off % stride != 0) return cp;
  return cp + delta;
}

/** Writes cp's full lowercase (context-free; Σ gives σ) as code points at out (room for 3); returns the count. */
export function toLowerFull(cp: i32, out: usize): i32 {
  let p = LOWER_MULTI;
  for (let i = 0; i < LOWER_MULTI_COUNT; i++) {
    const n = <i32>load<u32>(p, 4);
    if (<i32>load<u32>(p) == cp) {
      for (let k = 0; k < n; k++) store<i32>(out + (<usize>k << 2), load<u32>(p + 8 + (<usize>k << 2)));
      return n;
    }
    p += 8 + (<usize>n << 2);
  }
  store<i32>(out, toLowerSimple(cp));
  return 1;
}

function precededByCased(start: usize, p: usize): bool {
  while (p > start) {
    const q = prevStart(start, p);
    const t = ctype(cpOf(decodeUtf8(q, p)));
    if ((t & C_CASE_IGNORABLE) == 0) return (t & C_CASED) != 0;
    p = q;
  }
  return false;
}

function followedByCased(p: usize, end: usize): bool {
  while (p < end) {
    const d = decodeUtf8(p, end);
    const t = ctype(cpOf(d));
    if ((t & C_CASE_IGNORABLE) == 0) return (t & C_CASED) != 0;
    p += <usize>lenOf(d);
  }
  return false;
}

const lowerTmp = memory.data(16);

/** Appends the lowercase of the UTF-8 text [src, src + len) to dst. */
export function lowercaseUtf8(src: usize, len: i32, dst: Bytes): void {
  const end = src + <usize>len;
  dst.reserve(len);
  let p = src;
  let run = src; // pending run [run, p) of unchanged non-ASCII code points, copied in one go
  while (p < end) {
    const b = load<u8>(p);
    if (b < 0x80) {
      dst.append(run, <i32>(p - run));
      const q = asciiRunEnd(p, end);
      dst.reserve(<i32>(q - p));
      let o = dst.ptr + <usize>dst.len;
      for (let r = p; r < q; r++, o++) {
        const c = <u32>load<u8>(r);
        store<u8>(o, c - 0x41 < 26 ? c + 32 : c);
      }
      dst.len += <i32>(q - p);
      p = run = q;
      continue;
    }
    const d = decodeUtf8(p, end);
    const cp = cpOf(d), n = lenOf(d);
    if ((normRecord(cp) & (N_LOWER << 8)) == 0) { p += <usize>n; continue; }
    dst.append(run, <i32>(p - run));
    if (cp == 0x3A3) {
      dst.pushCp(precededByCased(src, p) && !followedByCased(p + 2, end) ? 0x3C2 : 0x3C3);
    } else {
      const k = toLowerFull(cp, lowerTmp);
      for (let i = 0; i < k; i++) dst.pushCp(load<i32>(lowerTmp + (<usize>i << 2)));
    }
    p += <usize>n;
    run = p;
  }
  dst.append(run, <i32>(end - run));
}
