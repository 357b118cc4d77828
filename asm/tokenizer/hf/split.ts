// Split pre-tokenizer: matches of a pattern (a native regex scanner or a literal string) become regions,
// delimited per Hugging Face's SplitDelimiterBehavior, with `invert` swapping matches and gaps.
import { Pieces } from './text';
import { scanGpt2, scanLlama3 } from './scan';
import { findBytes } from './normalize';
import { C_WHITE_SPACE } from '../unicode/props';

export const SPLIT_REMOVED: i32 = 0;
export const SPLIT_ISOLATED: i32 = 1;
export const SPLIT_MERGED_WITH_PREVIOUS: i32 = 2;
export const SPLIT_MERGED_WITH_NEXT: i32 = 3;
export const SPLIT_CONTIGUOUS: i32 = 4;

export const PATTERN_STRING: i32 = 0;
export const PATTERN_GPT2: i32 = 1;
export const PATTERN_LLAMA3: i32 = 2;
export const PATTERN_QWEN2: i32 = 3;

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

function equalsAscii(p: usize, n: i32, s: string): bool {
  if (n != s.length) return false;
  for (let i = 0; i < n; i++) if (<i32>load<u8>(p + <usize>i) != s.charCodeAt(i)) return false;
  return true;
}

/** The PATTERN_* of a regex source (UTF-8), or -1 when it has no native scanner. */
export function recognizeRegex(p: usize, n: i32): i32 {
  if (equalsAscii(p, n, GPT2)) return PATTERN_GPT2;
  if (equalsAscii(p, n, LLAMA3)) return PATTERN_LLAMA3;
  if (equalsAscii(p, n, QWEN2)) return PATTERN_QWEN2;
  return -1;
}

// region state for the merging behaviours
let pendS = -1, pendE = 0, prevMatch = false;

// @ts-ignore: decorator
@inline function flushPending(p: usize, out: Pieces): void {
  if (pendS >= 0) { out.add(p + <usize>pendS, pendE - pendS); pendS = -1; }
}

function region(p: usize, s: i32, e: i32, isMatch: bool, behavior: i32, out: Pieces): void {
  if (s >= e) return;
  switch (behavior) {
    case SPLIT_REMOVED: if (!isMatch) out.add(p + <usize>s, e - s); break;
    case SPLIT_ISOLATED: out.add(p + <usize>s, e - s); break;
    case SPLIT_MERGED_WITH_PREVIOUS:
      if (isMatch && !prevMatch && pendS >= 0) pendE = e;
      else { flushPending(p, out); pendS = s; pendE = e; }
      break;
    case SPLIT_MERGED_WITH_NEXT:
      if (isMatch) { flushPending(p, out); pendS = s; pendE = e; }
      else if (pendS >= 0) { pendE = e; flushPending(p, out); }
      else out.add(p + <usize>s, e - s);
      break;
    default: // contiguous
      if (pendS >= 0 && isMatch == prevMatch) pendE = e;
      else { flushPending(p, out); pendS = s; pendE = e; }
  }
  prevMatch = isMatch;
}

/** Splits [p, p + n) by `pattern` (PATTERN_*; a literal for PATTERN_STRING) and appends the pieces to out. */
export function splitPieces(p: usize, n: i32, pattern: i32, lit: usize, litLen: i32, behavior: i32, invert: bool, out: Pieces): void {
  pendS = -1; prevMatch = false;
  if (pattern != PATTERN_STRING && behavior == SPLIT_ISOLATED) {
    // hot path: every match is a piece (and gaps never occur), whatever `invert` says
    let i = 0;
    while (i < n) {
      const e = pattern == PATTERN_GPT2 ? scanGpt2(p, i, n, C_WHITE_SPACE)
        : scanLlama3(p, i, n, pattern == PATTERN_LLAMA3 ? 3 : 1, C_WHITE_SPACE);
      out.add(p + <usize>i, e - i);
      i = e;
    }
    return;
  }
  let i = 0;
  while (i < n) {
    let s: i32, e: i32;
    if (pattern == PATTERN_STRING) {
      const q = findBytes(p + <usize>i, p + <usize>n, lit, litLen);
      s = <i32>(q - p);
      e = s < n ? s + litLen : n;
    } else {
      s = i;
      e = pattern == PATTERN_GPT2 ? scanGpt2(p, i, n, C_WHITE_SPACE)
        : scanLlama3(p, i, n, pattern == PATTERN_LLAMA3 ? 3 : 1, C_WHITE_SPACE);
    }
    region(p, i, s, invert, behavior, out);
    region(p, s, e, !invert, behavior, out);
    i = e;
  }
  flushPending(p, out);
}
