// WASM exports of the normalizer / pre-tokenizer pipeline (re-exported by asm/tokenizer/index.ts).
// Strings are UTF-8 (ptr, len) in linear memory; pushes return 0 or a PIPE_ERR_* code (hf/normalize.ts).
// (The exports that let tests drive the pipeline and the Unicode tables are in ../test-entry.ts: not shipped.)
import * as norm from './normalize';
import * as pre from './pretokenize';

export function normalizerClear(): void { norm.normalizerClear(); }
export function normalizerPush(kind: i32, aPtr: usize, aLen: i32, bPtr: usize, bLen: i32, flags: i32): i32 {
  return norm.normalizerPush(kind, aPtr, aLen, bPtr, bLen, flags);
}
export function pretokenizerClear(): void { pre.pretokenizerClear(); }
export function pretokenizerPush(kind: i32, aPtr: usize, aLen: i32, bPtr: usize, bLen: i32, flags: i32): i32 {
  return pre.pretokenizerPush(kind, aPtr, aLen, bPtr, bLen, flags);
}
