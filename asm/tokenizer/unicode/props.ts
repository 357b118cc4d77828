// Code point properties from the generated two-level tables (tables.ts, scripts/gen-unicode.mjs).
// Semantics are JavaScript's: \p{L}, \p{N}, \s etc. as Node's RegExp (u flag) sees them.
import { CTYPE_SHIFT, CTYPE_INDEX, CTYPE_BLOCKS, NORM_SHIFT, NORM_INDEX, NORM_BLOCKS, NORM_RECORDS } from './tables';

// ctype bits
export const C_LETTER: i32 = 1;          // \p{L}
export const C_NUMBER: i32 = 2;          // \p{N}
export const C_SPACE_JS: i32 = 4;        // JS \s (adds U+FEFF, lacks U+0085 vs White_Space)
export const C_WHITE_SPACE: i32 = 8;     // \p{White_Space} (what the reference rewrites a Split regex's \s to)
export const C_MARK: i32 = 16;           // \p{M}
export const C_PUNCT: i32 = 32;          // \p{P}
export const C_CASED: i32 = 64;          // \p{Cased}
export const C_CASE_IGNORABLE: i32 = 128; // \p{Case_Ignorable}

// normalization record flags (record >> 8); the low byte is the canonical combining class as a rank
// (order-preserving, not the UCD number: only comparisons matter).
export const N_NFD_NO: i32 = 1;
export const N_NFKD_NO: i32 = 2;
export const N_NFC_NO: i32 = 4;
export const N_NFC_MAYBE: i32 = 8;
export const N_NFKC_NO: i32 = 16;
export const N_NFKC_MAYBE: i32 = 32;
export const N_LOWER: i32 = 64;          // toLowerCase changes it

// The tables cover [0, 0x40000) and plane 14's first 4096 code points; everything else is all-zero.
// @ts-ignore: decorator
@inline function fold(cp: i32): i32 {
  if (cp < 0x40000) return cp;
  const d = cp - 0xE0000;
  return <u32>d < 0x1000 ? 0x40000 + d : 0x41000;
}

/** The ctype bits of cp (C_*). */
// @ts-ignore: decorator
@inline export function ctype(cp: i32): i32 {
  const f = fold(cp);
  const blk = <usize>load<u8>(CTYPE_INDEX + <usize>(f >> CTYPE_SHIFT));
  return load<u8>(CTYPE_BLOCKS + ((blk << CTYPE_SHIFT) | <usize>(f & ((1 << CTYPE_SHIFT) - 1))));
}

/** ccc rank | N_* flags << 8. */
// @ts-ignore: decorator
@inline export function normRecord(cp: i32): i32 {
  const f = fold(cp);
  const blk = <usize>load<u8>(NORM_INDEX + <usize>(f >> NORM_SHIFT));
  const r = <usize>load<u8>(NORM_BLOCKS + ((blk << NORM_SHIFT) | <usize>(f & ((1 << NORM_SHIFT) - 1))));
  return load<u16>(NORM_RECORDS + (r << 1));
}

// @ts-ignore: decorator
@inline export function ccc(cp: i32): i32 { return normRecord(cp) & 0xFF; }
// @ts-ignore: decorator
@inline export function isLetter(cp: i32): bool { return (ctype(cp) & C_LETTER) != 0; }
// @ts-ignore: decorator
@inline export function isNumber(cp: i32): bool { return (ctype(cp) & C_NUMBER) != 0; }
/** JS \s. */
// @ts-ignore: decorator
@inline export function isWhitespace(cp: i32): bool { return (ctype(cp) & C_SPACE_JS) != 0; }
/** Unicode White_Space. */
// @ts-ignore: decorator
@inline export function isWhiteSpaceProp(cp: i32): bool { return (ctype(cp) & C_WHITE_SPACE) != 0; }
// @ts-ignore: decorator
@inline export function isMark(cp: i32): bool { return (ctype(cp) & C_MARK) != 0; }
// @ts-ignore: decorator
@inline export function isPunctuation(cp: i32): bool { return (ctype(cp) & C_PUNCT) != 0; }
// @ts-ignore: decorator
@inline export function isCased(cp: i32): bool { return (ctype(cp) & C_CASED) != 0; }
// @ts-ignore: decorator
@inline export function isCaseIgnorable(cp: i32): bool { return (ctype(cp) & C_CASE_IGNORABLE) != 0; }
