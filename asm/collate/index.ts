// webtune's collation in WebAssembly: padding rows into batches and packing rows into sequences.
// Every function takes byte pointers to i32 arrays in this module's memory (from alloc; reset frees all).
// src/data/collate.ts wraps it.
export { alloc, reset } from './arena';
export { pad } from './pad';
export { packPlan, packFill } from './pack';
