// Standalone entry for testing the pipeline before/without asm/tokenizer/index.ts:
//   node node_modules/assemblyscript/bin/asc.js asm/tokenizer/hf/test-entry.ts -o build/tokenizer-pipeline-test.wasm \
//     --runtime stub --enable simd -O3 --noAssert
import { scratch } from '../scratch';
export * from './exports-pipeline';
export function alloc(size: usize): usize { return heap.alloc(size); }
export function scratchPtr(size: usize): usize { return scratch(size); }
