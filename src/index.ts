// webtune's library API: everything the CLI does, importable from Node, Deno and edge workers.
export type { Ops, Buf, DType } from './backend/ops.ts';
export { ReferenceOps } from './backend/reference-ops.ts';
export { createWasmOps } from './backend/wasm-ops.ts';
export { createWebGpuOps } from '../gpu/webgpu-ops.ts';
export { selectBackend, type DeviceChoice } from './backend/select.ts';
export { acquireGPU, type GpuContext } from '../runtime/webgpu.ts';
export { registerWasm } from '../runtime/wasm.ts';
export { LlamaRunner, type LlamaConfig, type LlamaModel, type LlamaWeights } from '../models/llama.ts';
export { loadLlama2c } from '../models/llama2c.ts';
export { loadModel, loadModelFromBytes, type LoadedModel } from '../models/load.ts';
export { loadLlama2cTokenizer, type Tokenizer } from '../models/tokenizer.ts';
export { Generator, type GenerateOptions, type GenerateResult } from './generate.ts';
export { Sampler, Rng, argmax } from './sampling.ts';
export { UserError } from './errors.ts';
