// The tokenizer engine plus exports that let tests drive the normalizer/pre-tokenizer pipeline and the Unicode tables
// from JS (test/hf-pipeline.test.ts): built only with the tests, as build/tokenizer-test.wasm, so production WASM
// carries none of them. Input bytes at the scratch block (scratchPtr), results at pipelineTestOut() (+ piece ends,
// i32, at pipelineTestEnds()).
export * from './index';
import { Bytes, Pieces } from './hf/text';
import { scratch } from './scratch';
import * as norm from './hf/normalize';
import * as pre from './hf/pretokenize';
import { normalizeUtf8 } from './unicode/normalize';
import { lowercaseUtf8, toLowerFull } from './unicode/lower';
import { ctype, normRecord } from './unicode/props';

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
