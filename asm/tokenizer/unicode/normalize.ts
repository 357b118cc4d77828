// NFC / NFD / NFKC / NFKD over UTF-8, equal to String.prototype.normalize.
// Fast path: ASCII runs and code points whose quick-check is Yes with combining class 0 are copied as they
// are. Anything else goes to a pending buffer of code points (fully decomposed), which is canonically
// reordered, composed for C forms and written out at the next stable starter. The last starter copied
// directly is pulled back into the buffer first, since a following mark may reorder or compose with it.
import { DECOMP_COUNT, DECOMP_KEYS, DECOMP_OFFS, DECOMP_DATA, COMP_COUNT, COMP_KEYS, COMP_VALUES } from './tables';
import { normRecord, N_NFD_NO, N_NFKD_NO, N_NFC_NO, N_NFC_MAYBE, N_NFKC_NO, N_NFKC_MAYBE } from './props';
import { decodeUtf8, cpOf, lenOf, asciiRunEnd, encodeUtf8 } from './utf8';
import { Bytes } from '../hf/text';

export const FORM_NFC: i32 = 0;
export const FORM_NFD: i32 = 1;
export const FORM_NFKC: i32 = 2;
export const FORM_NFKD: i32 = 3;

const SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7;
const LCOUNT = 19, VCOUNT = 21, TCOUNT = 28, NCOUNT = 588, SCOUNT = 11172;

// pending code points (i32), grown on demand
let buf: usize = 0;
let bufCap: i32 = 0;
let bufN: i32 = 0;

function bufPush(cp: i32): void {
  if (bufN >= bufCap) {
    const c = bufCap < 64 ? 64 : bufCap << 1;
    buf = buf ? heap.realloc(buf, <usize>c << 2) : heap.alloc(<usize>c << 2);
    bufCap = c;
  }
  store<i32>(buf + (<usize>bufN << 2), cp);
  bufN++;
}

/** Index of key in DECOMP_KEYS, or -1. */
function findDecomp(key: u32): i32 {
  let lo = 0, hi = DECOMP_COUNT - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const k = load<u32>(DECOMP_KEYS + (<usize>mid << 2));
    if (k == key) return mid;
    if (k < key) lo = mid + 1; else hi = mid - 1;
  }
  return -1;
}

/** The canonical composite of (a, b), or -1. */
export function composePair(a: i32, b: i32): i32 {
  const li = a - LBASE;
  if (<u32>li < <u32>LCOUNT) {
    const vi = b - VBASE;
    return <u32>vi < <u32>VCOUNT ? SBASE + (li * VCOUNT + vi) * TCOUNT : -1;
  }
  const si = a - SBASE;
  if (<u32>si < <u32>SCOUNT && si % TCOUNT == 0) {
    const ti = b - TBASE;
    return ti > 0 && ti < TCOUNT ? a + ti : -1;
  }
  const key = (<u64>a << 21) | <u64>b;
  let lo = 0, hi = COMP_COUNT - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const k = load<u64>(COMP_KEYS + (<usize>mid << 3));
    if (k == key) return <i32>load<u32>(COMP_VALUES + (<usize>mid << 2));
    if (k < key) lo = mid + 1; else hi = mid - 1;
  }
  return -1;
}

/** Pushes cp's full decomposition (compat if `compat`) onto the pending buffer; `flushBefore` runs first
 *  when the decomposition starts with a stable starter (one nothing before it can reorder or compose with). */
function decompose(cp: i32, compat: bool, dst: Bytes, compose: bool): void {
  const si = cp - SBASE;
  if (<u32>si < <u32>SCOUNT) {
    if (bufN > 0) flush(dst, compose);
    bufPush(LBASE + si / NCOUNT);
    bufPush(VBASE + (si % NCOUNT) / TCOUNT);
    if (si % TCOUNT != 0) bufPush(TBASE + si % TCOUNT);
    return;
  }
  const f = normRecord(cp) >> 8;
  let idx = -1;
  if (compat && (f & N_NFKD_NO) != 0) idx = findDecomp((<u32>cp << 1) | 1);
  if (idx < 0 && (f & N_NFD_NO) != 0) idx = findDecomp(<u32>cp << 1);
  if (idx < 0) {
    if (bufN > 0 && stableStarter(cp)) flush(dst, compose);
    bufPush(cp);
    return;
  }
  const s = <i32>load<u16>(DECOMP_OFFS + (<usize>idx << 1)), e = <i32>load<u16>(DECOMP_OFFS + (<usize>(idx + 1) << 1));
  const first = <i32>load<u32>(DECOMP_DATA + (<usize>s << 2));
  if (bufN > 0 && stableStarter(first)) flush(dst, compose);
  for (let i = s; i < e; i++) bufPush(<i32>load<u32>(DECOMP_DATA + (<usize>i << 2)));
}

// @ts-ignore: decorator
@inline function stableStarter(cp: i32): bool {
  return (normRecord(cp) & (0xFF | ((N_NFC_MAYBE | N_NFKC_MAYBE) << 8))) == 0;
}

/** Reorders, composes (C forms) and writes out the pending buffer. */
function flush(dst: Bytes, compose: bool): void {
  const n = bufN;
  // canonical ordering: stable insertion sort of each run of non-starters by class
  for (let i = 1; i < n; i++) {
    const c = load<i32>(buf + (<usize>i << 2));
    const cc = normRecord(c) & 0xFF;
    if (cc == 0) continue;
    let j = i;
    while (j > 0) {
      const pc = load<i32>(buf + (<usize>(j - 1) << 2));
      const pcc = normRecord(pc) & 0xFF;
      if (pcc <= cc) break;
      store<i32>(buf + (<usize>j << 2), pc);
      j--;
    }
    store<i32>(buf + (<usize>j << 2), c);
  }
  let w = n;
  if (compose) {
    w = 0;
    let starter = -1, prevCcc = 0;
    for (let i = 0; i < n; i++) {
      const c = load<i32>(buf + (<usize>i << 2));
      const cc = normRecord(c) & 0xFF;
      if (starter >= 0 && (w - 1 == starter || prevCcc < cc)) {
        const comp = composePair(load<i32>(buf + (<usize>starter << 2)), c);
        if (comp >= 0) { store<i32>(buf + (<usize>starter << 2), comp); continue; }
      }
      if (cc == 0) starter = w;
      prevCcc = cc;
      store<i32>(buf + (<usize>w << 2), c);
      w++;
    }
  }
  dst.reserve(w << 2);
  let o = dst.ptr + <usize>dst.len;
  for (let i = 0; i < w; i++) o += <usize>encodeUtf8(load<i32>(buf + (<usize>i << 2)), o);
  dst.len = <i32>(o - dst.ptr);
  bufN = 0;
}

/** Appends the `form` normalization of the UTF-8 text [src, src + len) to dst. */
export function normalizeUtf8(src: usize, len: i32, form: i32, dst: Bytes): void {
  const compat = form == FORM_NFKC || form == FORM_NFKD;
  const compose = form == FORM_NFC || form == FORM_NFKC;
  const quick = 0xFF | (quickMask(form) << 8);
  const end = src + <usize>len;
  let p = src;
  let run = src;           // start of the pending verbatim run [run, p) of quick-check-Yes starters
  let last: usize = 0;     // start of the last code point in that run (valid when p > run)
  bufN = 0;
  dst.reserve(len);
  while (p < end) {
    if (load<u8>(p) < 0x80) {
      if (bufN > 0) flush(dst, compose);
      p = asciiRunEnd(p, end);
      last = p - 1;
      continue;
    }
    const d = decodeUtf8(p, end);
    const cp = cpOf(d), n = lenOf(d);
    if ((normRecord(cp) & quick) == 0) {
      if (bufN > 0) flush(dst, compose);
      last = p;
      p += <usize>n;
      continue;
    }
    // slow path: the run goes out as is, except its last starter, which a mark may reorder or compose with
    if (p > run) {
      dst.append(run, <i32>(last - run));
      decompose(cpOf(decodeUtf8(last, end)), compat, dst, compose);
    }
    decompose(cp, compat, dst, compose);
    p += <usize>n;
    run = p;
  }
  if (bufN > 0) flush(dst, compose);
  dst.append(run, <i32>(end - run));
}

// @ts-ignore: decorator
@inline function quickMask(form: i32): i32 {
  return form == FORM_NFC ? N_NFC_NO | N_NFC_MAYBE : form == FORM_NFD ? N_NFD_NO
    : form == FORM_NFKC ? N_NFKC_NO | N_NFKC_MAYBE : N_NFKD_NO;
}

/** True when [src, src + len) is certainly already in `form` (quick check, no Maybe resolution). */
export function isNormalizedQuick(src: usize, len: i32, form: i32): bool {
  const quick = 0xFF | (quickMask(form) << 8);
  const end = src + <usize>len;
  let p = src;
  while (p < end) {
    p = asciiRunEnd(p, end);
    if (p >= end) break;
    const d = decodeUtf8(p, end);
    if ((normRecord(cpOf(d)) & quick) != 0) return false;
    p += <usize>lenOf(d);
  }
  return true;
}
