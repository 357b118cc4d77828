// WASM exports of the normalizer / pre-tokenizer pipeline (re-exported by asm/tokenizer/index.ts).
// Strings are UTF-8 (ptr, len) in linear memory; pushes return 0 or a PIPE_ERR_* code (hf/normalize.ts).
// The *ForTest / unicode* exports let tests drive the pipeline and the Unicode tables from JS: input bytes at
// the scratch block (scratchPtr), results at pipelineTestOut() (+ piece ends, i32, at pipelineTestEnds()).
import { Bytes, Pieces } from './text';
import { scratch } from '../scratch';
import * as norm from './normalize';
import * as pre from './pretokenize';
import { normalizeUtf8 } from '../unicode/normalize';
import { lowercaseUtf8, toLowerFull } from '../unicode/lower';
import { ctype, normRecord } from '../unicode/props';

export function normalizerClear(): void { norm.normalizerClear(); }
export function normalizerPush(kind: i32, aPtr: usize, aLen: i32, bPtr: usize, bLen: i32, flags: i32): i32 {
  return norm.normalizerPush(kind, aPtr, aLen, bPtr, bLen, flags);
}
export function pretokenizerClear(): void { pre.pretokenizerClear(); }
export function pretokenizerPush(kind: i32, aPtr: usize, aLen: i32, bPtr: usize, bLen: i32, flags: i32): i32 {
  return pre.pretokenizerPush(kind, aPtr, aLen, bPtr, bLen, flags);
}

// ---- test-only
const testOut = new Bytes(4096);
const testPieces = new Pieces();
let testOutPtr: usize = 0;
let testEndsPtr: usize = 0;

export function pipelineTestOut(): usize { return testOutPtr; }
export function pipelineTestEnds(): usize { return testEndsPtr; }

/** Runs the normalizer on the len bytes at the scratch block; returns the output length. */
export function normalizeForTest(len: i32): i32 {
  testOut.reset();
  norm.normalize(scratch(<usize>len), len, testOut);
  testOutPtr = testOut.ptr;
  return testOut.len;
}

/** Runs the pre-tokenizer on the len bytes at the scratch block (first: 1 for the first section); returns the piece count. */
export function pretokenizeForTest(len: i32, first: i32): i32 {
  testPieces.reset();
  pre.pretokenize(scratch(<usize>len), len, testPieces, first != 0);
  testOutPtr = testPieces.bytes.ptr;
  testEndsPtr = testPieces.ends;
  return testPieces.count();
}

/** form: 0 NFC, 1 NFD, 2 NFKC, 3 NFKD, 4 lowercase. */
export function unicodeTransformForTest(len: i32, form: i32): i32 {
  testOut.reset();
  const src = scratch(<usize>len);
  if (form == 4) lowercaseUtf8(src, len, testOut); else normalizeUtf8(src, len, form, testOut);
  testOutPtr = testOut.ptr;
  return testOut.len;
}

export function unicodeCtype(cp: i32): i32 { return ctype(cp); }
export function unicodeNormRecord(cp: i32): i32 { return normRecord(cp); }
/** cp's context-free full lowercase: the count; code points (i32) at pipelineTestOut(). */
export function unicodeLowerFull(cp: i32): i32 {
  testOut.reset(); testOut.reserve(16);
  testOutPtr = testOut.ptr;
  return toLowerFull(cp, testOut.ptr);
}
