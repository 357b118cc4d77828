// webtune's WASM CPU kernels (AssemblyScript, f32x4 SIMD). Every kernel takes raw byte pointers into this
// module's linear memory (f32 or i32 arrays, row-major) plus shapes; src/backend/wasm-ops.ts wraps them as Ops.
// Buffers come from alloc/free, 16-byte aligned; alloc returns 0 when memory cannot grow.
export { alloc, free, heapUsed } from './alloc';
export { matmul, matmulShare, matmulShareList, matmulScratchBytes } from './matmul';
export { embeddingHalf } from './half';
export { embedding, kvStore, rmsnorm, rope, swiglu, add, addBias } from './elementwise';
export { attention } from './attention';
// training (src/backend/wasm-train-ops.ts)
export { gemm, gemmScratchBytes } from './gemm';
export { rmsnormBackward, swigluBackward, embeddingBackward, attentionTrain, attentionBackward, ceStats, ceFinish, ceGrad,
  adamw, sgd, sumSquares, scale } from './train';
