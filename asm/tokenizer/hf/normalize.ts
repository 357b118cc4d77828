// Normalizer pipeline, configured from JS by successive pushes (a Sequence is its members pushed in order).
// Semantics follow @huggingface/tokenizers (the JS reference): NFx = String.prototype.normalize,
// Lowercase = toLowerCase, Strip = trimStart/trimEnd (JS whitespace), StripAccents removes \p{M},
// Replace replaces every occurrence of a literal string, Prepend prepends (to non-empty text).
import { Bytes } from './text';
import { normalizeUtf8, FORM_NFC, FORM_NFD, FORM_NFKC, FORM_NFKD } from '../unicode/normalize';
import { lowercaseUtf8 } from '../unicode/lower';
import { ctype, C_SPACE_JS, C_MARK } from '../unicode/props';
import { decodeUtf8, cpOf, lenOf, prevStart } from '../unicode/utf8';

export const NORM_NFC: i32 = 1;
export const NORM_NFD: i32 = 2;
export const NORM_NFKC: i32 = 3;
export const NORM_NFKD: i32 = 4;
export const NORM_LOWERCASE: i32 = 5;
export const NORM_STRIP: i32 = 6;         // flags: 1 = left, 2 = right
export const NORM_STRIP_ACCENTS: i32 = 7;
export const NORM_REPLACE: i32 = 8;       // a = literal pattern (UTF-8), b = content
export const NORM_PREPEND: i32 = 9;       // a = text to prepend

export const PIPE_OK: i32 = 0;
export const PIPE_ERR_KIND: i32 = -1;     // unknown kind
export const PIPE_ERR_REGEX: i32 = -2;    // unsupported regex
export const PIPE_ERR_ARGS: i32 = -3;     // bad arguments
export const PIPE_ERR_FULL: i32 = -4;     // too many stages

const MAX_STAGES = 32;

class Stage {
  kind: i32;
  flags: i32;
  a: Bytes;
  b: Bytes;
  constructor(kind: i32, flags: i32, aPtr: usize, aLen: i32, bPtr: usize, bLen: i32) {
    this.kind = kind; this.flags = flags;
    const a = new Bytes(aLen), b = new Bytes(bLen);
    a.append(aPtr, aLen); b.append(bPtr, bLen);
    this.a = a; this.b = b;
  }
}

const stages = new Array<Stage>();
const tmpA = new Bytes(4096);
const tmpB = new Bytes(4096);

export function normalizerClear(): void { stages.length = 0; }
export function hasNormalizer(): bool { return stages.length > 0; }

export function normalizerPush(kind: i32, aPtr: usize, aLen: i32, bPtr: usize, bLen: i32, flags: i32): i32 {
  if (kind < NORM_NFC || kind > NORM_PREPEND) return PIPE_ERR_KIND;
  if (aLen < 0 || bLen < 0) return PIPE_ERR_ARGS;
  if (stages.length >= MAX_STAGES) return PIPE_ERR_FULL;
  stages.push(new Stage(kind, flags, aPtr, aLen, bPtr, bLen));
  return PIPE_OK;
}

/** Appends the normalized UTF-8 text [src, src + len) to dst (a plain copy when no normalizer is set). */
export function normalize(src: usize, len: i32, dst: Bytes): void {
  const n = stages.length;
  if (n == 0) { dst.append(src, len); return; }
  if (n == 1) { applyStage(stages[0], src, len, dst); return; }
  // stage i reads the previous output; tmpA/tmpB alternate, the last stage writes dst
  let inPtr = src, inLen = len;
  let cur = tmpA, other = tmpB;
  for (let i = 0; i < n - 1; i++) {
    cur.reset();
    applyStage(stages[i], inPtr, inLen, cur);
    inPtr = cur.ptr; inLen = cur.len;
    const t = cur; cur = other; other = t;
  }
  applyStage(stages[n - 1], inPtr, inLen, dst);
}

function applyStage(st: Stage, src: usize, len: i32, dst: Bytes): void {
  switch (st.kind) {
    case NORM_NFC: normalizeUtf8(src, len, FORM_NFC, dst); break;
    case NORM_NFD: normalizeUtf8(src, len, FORM_NFD, dst); break;
    case NORM_NFKC: normalizeUtf8(src, len, FORM_NFKC, dst); break;
    case NORM_NFKD: normalizeUtf8(src, len, FORM_NFKD, dst); break;
    case NORM_LOWERCASE: lowercaseUtf8(src, len, dst); break;
    case NORM_STRIP: strip(src, len, st.flags, dst); break;
    case NORM_STRIP_ACCENTS: stripAccents(src, len, dst); break;
    case NORM_REPLACE: replaceAll(src, len, st.a, st.b, dst); break;
    case NORM_PREPEND:
      if (len > 0) dst.append(st.a.ptr, st.a.len);
      dst.append(src, len);
      break;
    default: dst.append(src, len);
  }
}

function strip(src: usize, len: i32, flags: i32, dst: Bytes): void {
  let s = src, e = src + <usize>len;
  if (flags & 1) {
    while (s < e) {
      const d = decodeUtf8(s, e);
      if ((ctype(cpOf(d)) & C_SPACE_JS) == 0) break;
      s += <usize>lenOf(d);
    }
  }
  if (flags & 2) {
    while (e > s) {
      const q = prevStart(s, e);
      if ((ctype(cpOf(decodeUtf8(q, e))) & C_SPACE_JS) == 0) break;
      e = q;
    }
  }
  dst.append(s, <i32>(e - s));
}

function stripAccents(src: usize, len: i32, dst: Bytes): void {
  const end = src + <usize>len;
  let p = src;
  while (p < end) {
    const d = decodeUtf8(p, end);
    const n = lenOf(d);
    if (n == 1 || (ctype(cpOf(d)) & C_MARK) == 0) dst.append(p, n);
    p += <usize>n;
  }
}

/** Start of the first occurrence of pat in [p, end), or end. */
export function findBytes(p: usize, end: usize, pat: usize, patLen: i32): usize {
  if (patLen == 0) return end;
  const first = load<u8>(pat);
  const last = end - <usize>patLen;
  while (p <= last) {
    if (load<u8>(p) == first && memory.compare(p, pat, <usize>patLen) == 0) return p;
    p++;
  }
  return end;
}

function replaceAll(src: usize, len: i32, pat: Bytes, content: Bytes, dst: Bytes): void {
  const end = src + <usize>len;
  let p = src;
  while (p < end) {
    const q = findBytes(p, end, pat.ptr, pat.len);
    dst.append(p, <i32>(q - p));
    if (q >= end) break;
    dst.append(content.ptr, content.len);
    p = q + <usize>pat.len;
  }
}
