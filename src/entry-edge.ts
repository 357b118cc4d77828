// Entry of the edge bundle (dist/edge/worker.mjs): a module Worker serving the OpenAI-compatible API (the same
// Hono app as `webtune deploy`) from the WASM backend. The .wasm files and the model are module imports: edge
// runtimes such as workerd refuse to compile WebAssembly at run time and have no file system.
// `webtune build-edge` writes the model's modules and a workerd config beside a copy of this bundle.
import kernels from '../build/kernels.wasm';
import tokenizer from '../build/tokenizer.wasm';
// Data modules (ArrayBuffer) written by `webtune build-edge`:
// @ts-ignore: provided by the worker's module table, not by this repository
import manifestBin from './webtune.json';
// @ts-ignore: likewise
import configBin from './config.json';
// @ts-ignore: likewise
import modelBin from './model.safetensors';
// @ts-ignore: likewise
import tokenizerBin from './tokenizer.dat';
import { registerWasm } from '../runtime/wasm.ts';
import { hfTensorsToModel, parseHfConfig } from '../models/hf-llama.ts';
import { readSafetensors } from '../models/safetensors.ts';
import { hfTokenizerFromJson, loadLlama2cTokenizer, type Tokenizer } from '../models/tokenizer.ts';
import type { LoadedModel } from '../models/load.ts';
import { createWasmOps } from './backend/wasm-ops.ts';
import { chatTokenizerFromJson, type WithChatTokenizer } from './data/model-tokenizer.ts';
import { createApp } from './serve/app.ts';
import { Engine } from './serve/engine.ts';
import { EDGE_LIMITS, type ServeLimits } from './serve/limits.ts';
import type { Hono } from 'hono';

registerWasm('kernels', kernels as unknown as WebAssembly.Module);
registerWasm('tokenizer', tokenizer as unknown as WebAssembly.Module);

/** What build-edge records about the model it packed. */
export interface EdgeManifest {
  id: string;
  tokenizer: 'llama2c' | 'hf';
  /** tokenizer_config.json of a Hugging Face tokenizer */
  tokenizerConfig?: Record<string, unknown>;
  template?: string;
  system?: string;
  created: number;
  maxNumSeqs?: number;
}

const text = (b: ArrayBuffer) => new TextDecoder().decode(b);

async function loadEdgeModel(manifest: EdgeManifest): Promise<LoadedModel & WithChatTokenizer> {
  const config = parseHfConfig(JSON.parse(text(configBin as ArrayBuffer)), 'config.json');
  const model = hfTensorsToModel(config, readSafetensors(new Uint8Array(modelBin as ArrayBuffer)).tensors, 'model.safetensors');
  const tok: Tokenizer = manifest.tokenizer === 'llama2c'
    ? await loadLlama2cTokenizer(new Uint8Array(tokenizerBin as ArrayBuffer), config.vocabSize)
    : await hfTokenizerFromJson(text(tokenizerBin as ArrayBuffer), manifest.tokenizerConfig ?? null);
  const chatTokenizer = manifest.tokenizer === 'hf'
    ? await chatTokenizerFromJson(manifest.id, text(tokenizerBin as ArrayBuffer), manifest.tokenizerConfig) : undefined;
  return { model, tokenizer: tok, modelFile: 'model.safetensors', tokenizerFile: 'tokenizer.dat', chatTokenizer };
}

/** The worker's text bindings (config.capnp written by build-edge). */
interface Env { API_KEY?: string; MAX_QUEUE?: string; MAX_REQUEST_BYTES?: string; REQUEST_TIMEOUT?: string }

/** A numeric binding, or the edge default when it is absent or not a non-negative number. */
const numberBinding = (v: string | undefined, fallback: number) => (v !== undefined && Number(v) >= 0 && v.trim() !== '' ? Number(v) : fallback);

function edgeLimits(env: Env): ServeLimits {
  return {
    maxQueue: Math.floor(numberBinding(env.MAX_QUEUE, EDGE_LIMITS.maxQueue)),
    maxRequestBytes: numberBinding(env.MAX_REQUEST_BYTES, EDGE_LIMITS.maxRequestBytes),
    requestTimeoutS: numberBinding(env.REQUEST_TIMEOUT, EDGE_LIMITS.requestTimeoutS),
  };
}

let app: Promise<Hono> | undefined;
const getApp = (env: Env) => (app ??= (async () => {
  const manifest = JSON.parse(text(manifestBin as ArrayBuffer)) as EdgeManifest;
  const loaded = await loadEdgeModel(manifest);
  const limits = edgeLimits(env);
  const engine = new Engine(await createWasmOps(), [{ id: manifest.id, root: manifest.id, loaded, created: manifest.created,
    template: manifest.template, system: manifest.system,
  }], { maxNumSeqs: manifest.maxNumSeqs, maxQueue: limits.maxQueue });
  return createApp(engine, { apiKey: env.API_KEY || undefined, limits });
})());

export default {
  async fetch(request: Request, env: Env = {}): Promise<Response> {
    return (await getApp(env)).fetch(request);
  },
};
