// Entry of dist/browser/webtune.mjs: the library in a browser tab. Files live in a MemoryFs (given as Files or
// bytes, or fetched from URLs on first read), so the model loader, tokenizer, preprocess, generation and training
// run the same code as the CLI does on node:fs. The .wasm modules are embedded; the bundle imports no node: module
// (scripts/build.mjs puts runtime/browser-host.ts in place of runtime/node-host.ts).
import '../runtime/wasm-embedded.ts';
import { fileSystem } from '../runtime/platform.ts';
import { MemoryFs } from '../runtime/memory-fs.ts';
import { loadModel, type LoadedModel } from '../models/load.ts';

export { MemoryFs, type MemoryFsOptions } from '../runtime/memory-fs.ts';
export { setFileSystem, fileSystem, type FileSystem, type FileInfo } from '../runtime/platform.ts';
export type { Ops, Buf, DType } from '../core/ops.ts';
export type { TrainOps } from '../core/train-ops.ts';
export { UserError } from '../core/errors.ts';
export { ReferenceOps } from './backend/reference-ops.ts';
export { ReferenceTrainOps } from './backend/reference-train-ops.ts';
export { createWasmOps } from './backend/wasm-ops.ts';
export { createWebGpuOps } from '../gpu/webgpu-ops.ts';
export { createWebGpuTrainOps } from '../gpu/train-ops.ts';
export { selectBackend, selectTrainBackend, type DeviceChoice } from './backend/select.ts';
export { acquireGPU, releaseGPU, type GpuContext } from '../runtime/webgpu.ts';
export { loadModel, loadModelFromBytes, loadOnnxModelFromFiles, type LoadedModel } from '../models/load.ts';
export { loadLlama2cTokenizer, hfTokenizerFromJson, type Tokenizer } from '../models/tokenizer.ts';
export { readSafetensors, writeSafetensors } from '../models/safetensors.ts';
export { loadWithAdapters } from '../models/adapters.ts';
export { preprocess } from './data/preprocess.ts';
export { Collator } from './data/collate.ts';
export { Generator, encodePrompt, type GenerateOptions, type GenerateResult } from './generate.ts';
export { Sampler, Rng, argmax } from './sampling.ts';
export { chatPrompt } from './chat-prompt.ts';
export { StopMatcher } from './stop-words.ts';
export { runSft, type SftArgs, type SftOptions, type SftResult } from './train/sft.ts';

/** The MemoryFs in use (the page's files); an error when another FileSystem was installed. */
export function memoryFs(): MemoryFs {
  const fs = fileSystem();
  if (!(fs instanceof MemoryFs)) throw new Error('webtune: the file system in use is not a MemoryFs');
  return fs;
}

export interface MountOptions {
  /** where the files go in the MemoryFs (default /models/NAME, NAME the last part of the URL or "model") */
  dir?: string;
  /** a tokenizer file for loadModel's --tokenizer (a path in the MemoryFs) */
  tokenizer?: string;
}

const dirFor = (opts: MountOptions, name: string) => opts.dir ?? `/models/${name.replace(/\/+$/, '').split('/').pop() || 'model'}`;

/**
 * Loads a model served at `baseUrl`: `files` names what is there (config.json, model.safetensors, tokenizer.json…,
 * or a llama2.c .bin and tok*.bin), optionally with sizes. Files are fetched as the loader reads them.
 */
export async function loadModelFromUrls(baseUrl: string | URL, files: string[] | Record<string, number>, opts: MountOptions = {}): Promise<LoadedModel> {
  const dir = dirFor(opts, new URL(baseUrl.toString(), globalThis.location?.href).pathname);
  memoryFs().mount(dir, { baseUrl, manifest: files });
  return loadModel(dir, { tokenizer: opts.tokenizer });
}

/** Loads a model from Files (an <input type=file multiple> or a dropped folder's files). */
export async function loadModelFromFiles(files: Iterable<File>, opts: MountOptions = {}): Promise<LoadedModel> {
  const dir = dirFor(opts, 'model');
  memoryFs().mount(dir, files);
  return loadModel(dir, { tokenizer: opts.tokenizer });
}
