// Native scanners equal to the JS RegExp (u flag, leftmost-first alternation, greedy with backtracking) of
// the byte-level BPE pre-tokenizer patterns. Each returns the end of the match starting at byte i; these
// patterns match at every position and never match empty, so matches tile the text.
//   GPT-2:        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   Llama 3/Qwen: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//                 \s*[\r\n]+|\s+(?!\S)|\s+        (Qwen2/3: \p{N} instead of \p{N}{1,3})
// \s is JS \s for ByteLevel's built-in regex, but \p{White_Space} in a Split regex (the reference rewrites
// it), so the whitespace class is a parameter. (?i:) folds ASCII only, as the reference rewrites it.
import { ctype, C_LETTER, C_NUMBER } from '../unicode/props';
import { decodeUtf8, cpOf, lenOf } from '../unicode/utf8';

export const K_OTHER: i32 = 0;
export const K_L: i32 = 1;
export const K_N: i32 = 2;
export const K_WS: i32 = 3;   // whitespace other than ' ', \r, \n
export const K_SP: i32 = 4;   // ' '
export const K_NL: i32 = 5;   // \r, \n
export const K_APOS: i32 = 6; // '

// ASCII classes (identical under both whitespace definitions)
const ASCII_K = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 3, 3, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  4, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0,
  0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
  0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
]);

let wsBit: i32 = 0; // C_SPACE_JS or C_WHITE_SPACE, set by each scan call
let kLen: i32 = 1;  // byte length of the code point klass() just read

// @ts-ignore: decorator
@inline function klass(p: usize, i: i32, n: i32): i32 {
  const b = <i32>load<u8>(p + <usize>i);
  if (b < 0x80) { kLen = 1; return load<u8>(ASCII_K + <usize>b); }
  const d = decodeUtf8(p + <usize>i, p + <usize>n);
  kLen = lenOf(d);
  const t = ctype(cpOf(d));
  return (t & C_LETTER) ? K_L : (t & C_NUMBER) ? K_N : (t & wsBit) ? K_WS : K_OTHER;
}

/** End of the run of class k (K_L or K_N) starting at i. */
function runOf(p: usize, i: i32, n: i32, k: i32): i32 {
  while (i < n) {
    const b = <i32>load<u8>(p + <usize>i);
    if (b < 0x80) {
      if (<i32>load<u8>(ASCII_K + <usize>b) != k) return i;
      i++;
    } else {
      if (klass(p, i, n) != k) return i;
      i += kLen;
    }
  }
  return i;
}

/** End of the run of [^\s\p{L}\p{N}] starting at i. */
function runOther(p: usize, i: i32, n: i32): i32 {
  while (i < n) {
    const k = klass(p, i, n);
    if (k != K_OTHER && k != K_APOS) return i;
    i += kLen;
  }
  return i;
}

function runNewlines(p: usize, i: i32, n: i32): i32 {
  while (i < n) {
    const b = load<u8>(p + <usize>i);
    if (b != 0x0A && b != 0x0D) break;
    i++;
  }
  return i;
}

// @ts-ignore: decorator
@inline function isWs(k: i32): bool { return k >= K_WS && k <= K_NL; }

/** \s+(?!\S)|\s+ at i (a whitespace run); with `newlines`, \s*[\r\n]+ first. */
function wsMatch(p: usize, i: i32, n: i32, newlines: bool): i32 {
  let k = i, last = i, count = 0, nlEnd = -1;
  while (k < n) {
    const c = klass(p, k, n);
    if (!isWs(c)) break;
    if (c == K_NL) nlEnd = k + 1;
    last = k; k += kLen; count++;
  }
  if (newlines && nlEnd >= 0) return nlEnd;
  if (k >= n) return n;
  return count >= 2 ? last : k;
}

/** 's 't 're 've 'm 'll 'd after the apostrophe at j - 1; returns the end, or -1. `fold`: ASCII case-insensitive. */
// @ts-ignore: decorator
@inline function contraction(p: usize, j: i32, n: i32, fold: bool): i32 {
  if (j >= n) return -1;
  const f: u32 = fold ? 0x20 : 0;
  const b = <u32>load<u8>(p + <usize>j) | f;
  if (b == 0x73 || b == 0x74 || b == 0x6D || b == 0x64) return j + 1; // s t m d
  if (j + 1 >= n) return -1;
  const b2 = <u32>load<u8>(p + <usize>j + 1) | f;
  if ((b == 0x72 && b2 == 0x65) || (b == 0x76 && b2 == 0x65) || (b == 0x6C && b2 == 0x6C)) return j + 2; // re ve ll
  return -1;
}

/** The GPT-2 pattern's match at i. */
export function scanGpt2(p: usize, i: i32, n: i32, whitespaceBit: i32): i32 {
  wsBit = whitespaceBit;
  const c = klass(p, i, n);
  const j = i + kLen;
  switch (c) {
    case K_APOS: {
      const e = contraction(p, j, n, false);
      return e >= 0 ? e : runOther(p, j, n);
    }
    case K_L: return runOf(p, j, n, K_L);
    case K_N: return runOf(p, j, n, K_N);
    case K_SP: {
      if (j < n) {
        const c2 = klass(p, j, n);
        if (c2 == K_L || c2 == K_N) return runOf(p, j + kLen, n, c2);
        if (c2 == K_OTHER || c2 == K_APOS) return runOther(p, j + kLen, n);
      }
      return wsMatch(p, i, n, false);
    }
    case K_WS: case K_NL: return wsMatch(p, i, n, false);
    default: return runOther(p, j, n);
  }
}

/** The Llama 3 (maxDigits 3) / Qwen2 (maxDigits 1) pattern's match at i (whitespace: White_Space). */
export function scanLlama3(p: usize, i: i32, n: i32, maxDigits: i32, whitespaceBit: i32): i32 {
  wsBit = whitespaceBit;
  const c = klass(p, i, n);
  const j = i + kLen;
  switch (c) {
    case K_L: return runOf(p, j, n, K_L);
    case K_N: {
      let k = j, count = 1;
      while (count < maxDigits && k < n && klass(p, k, n) == K_N) { k += kLen; count++; }
      return k;
    }
    case K_NL: return wsMatch(p, i, n, true);
    case K_APOS: {
      const e = contraction(p, j, n, true);
      if (e >= 0) return e;
      break;
    }
    default: break;
  }
  // c is in [^\r\n\p{L}\p{N}]: a following letter run joins it
  if (j < n) {
    const c2 = klass(p, j, n);
    if (c2 == K_L) return runOf(p, j + kLen, n, K_L);
    if (c == K_SP && (c2 == K_OTHER || c2 == K_APOS)) return runNewlines(p, runOther(p, j + kLen, n), n);
  }
  if (c == K_OTHER || c == K_APOS) return runNewlines(p, runOther(p, j, n), n);
  return wsMatch(p, i, n, true);
}
