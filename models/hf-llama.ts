// Loads Hugging Face checkpoints of the registered model families (models/families/): config.json plus
// model.safetensors or sharded *.safetensors with model.safetensors.index.json. bf16/f16 widen to f32.
import { readFile, readText, stat, joinPath } from '../runtime/platform.ts';
import { UserError } from '../core/errors.ts';
import { ConfigError, parseFamilyConfig, writeFamilyConfig } from './families/config.ts';
import { familyOf, familyOfConfig, UnknownModelTypeError, type LayerTensorKey, type LinearKey, type ModelFamily, type TensorSpec } from './families/index.ts';
import { hfTensorName, modelTensorNames, tensorPresent, tensorShape } from './families/tensors.ts';
import type { LlamaConfig, LlamaLayerWeights, LlamaModel } from './llama.ts';
import { readSafetensors, type Tensor } from './safetensors.ts';

/** The family of config.json's model_type; an unknown one fails naming the file and the registered types. */
export function hfFamily(json: Record<string, unknown>, file = 'config.json'): ModelFamily {
  try {
    return familyOf(String(json.model_type ?? ''));
  } catch (e) {
    throw e instanceof UnknownModelTypeError ? new UserError(`${file}: ${e.message}`) : e;
  }
}

/** Maps config.json to LlamaConfig through its family's entry; unsupported architectures and settings fail with the field named. */
export function parseHfConfig(json: Record<string, unknown>, file = 'config.json'): LlamaConfig {
  const family = hfFamily(json, file);
  try {
    return parseFamilyConfig(family, json);
  } catch (e) {
    throw e instanceof ConfigError ? new UserError(`${file}: ${e.message}`) : e;
  }
}

/**
 * config.json for a model that came without one (llama2.c imports, the embedded tiny model, an ONNX export carrying
 * only its metadata): parseHfConfig's inverse, with the family's class and the tokenizer's BOS/EOS ids. The only
 * place webtune makes a config.json.
 */
export function makeHfConfigJson(c: LlamaConfig, ids: { bos?: number; eos?: number } = {}): Record<string, unknown> {
  return writeFamilyConfig(familyOfConfig(c), c, ids);
}

/**
 * The config.json to write beside `model`'s weights stored as `torchDtype`: the one it was loaded with, field for
 * field, else one made (makeHfConfigJson). Only the dtype changes: `torch_dtype`, or `dtype` where newer transformers
 * wrote that instead.
 */
export function hfConfigFor(model: LlamaModel, torchDtype: string, ids: { bos?: number; eos?: number } = {}): Record<string, unknown> {
  const source = model.configJson ?? makeHfConfigJson(model.config, ids);
  const key = 'dtype' in source && !('torch_dtype' in source) ? 'dtype' : 'torch_dtype';
  return { ...source, [key]: torchDtype };
}

/** generation_config.json for a model without one: what transformers derives from config.json (from_model_config). */
export function generationConfigFor(config: Record<string, unknown>): Record<string, unknown> {
  return { _from_model_config: true, bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id };
}

/** Assembles a LlamaModel from its family's Hugging Face tensor names; a tensor of a feature the config has off is
 *  still read when present (the architecture ignores it). */
export function hfTensorsToModel(config: LlamaConfig, tensors: Map<string, Tensor>, source = 'checkpoint'): LlamaModel {
  const family = familyOfConfig(config);
  const get = (name: string, optional = false): Float32Array | undefined => {
    const hf = hfTensorName(family, name), t = tensors.get(hf);
    if (!t && !optional) throw new UserError(`${source}: tensor ${hf} is missing`);
    return t?.data;
  };
  const layers: LlamaLayerWeights[] = Array.from({ length: config.numLayers }, (_, i) => {
    const layer: Partial<Record<keyof LlamaLayerWeights, Float32Array>> = {};
    for (const k of Object.keys(family.tensors.linears) as LinearKey[]) layer[k] = get(`layers.${i}.${k}`);
    for (const [k, spec] of Object.entries(family.tensors.layerTensors) as [LayerTensorKey, TensorSpec][]) {
      layer[k] = get(`layers.${i}.${k}`, !tensorPresent(spec, config));
    }
    return layer as LlamaLayerWeights;
  });
  // Some tied checkpoints still store lm_head; use it only when the config does not tie.
  const lmHead = config.tieWordEmbeddings ? undefined : get('lmHead');
  return { config, weights: { embedTokens: get('embedTokens')!, layers, norm: get('norm')!, lmHead } };
}

/** Every tensor of `model` under its family's Hugging Face name: hfTensorsToModel's inverse. */
export function modelToHfTensors(model: LlamaModel): Map<string, Tensor> {
  const c = model.config, family = familyOfConfig(c), w = model.weights, out = new Map<string, Tensor>();
  const present: Record<string, Float32Array | undefined> = { embedTokens: w.embedTokens, norm: w.norm, lmHead: c.tieWordEmbeddings ? undefined : w.lmHead };
  w.layers.forEach((l, i) => { for (const [k, data] of Object.entries(l)) present[`layers.${i}.${k}`] = data; });
  for (const name of modelTensorNames(family, c, { all: true })) {
    const data = present[name];
    if (data) out.set(hfTensorName(family, name), { shape: tensorShape(family, name, c), data });
  }
  return out;
}

/** True when `dir` looks like a Hugging Face model directory. */
export async function isHfModelDir(dir: string): Promise<boolean> {
  return Boolean((await stat(joinPath(dir, 'config.json')))?.isFile);
}

export async function loadHfLlama(dir: string): Promise<LlamaModel> {
  const configFile = joinPath(dir, 'config.json');
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readText(configFile));
  } catch (e) {
    throw new UserError(`${configFile}: ${(e as Error).message.split('\n')[0]}`);
  }
  const config = parseHfConfig(json, configFile);
  const index = joinPath(dir, 'model.safetensors.index.json');
  let files: string[];
  if ((await stat(index))?.isFile) {
    const map = (JSON.parse(await readText(index)) as { weight_map?: Record<string, string> }).weight_map;
    if (!map) throw new UserError(`${index}: no weight_map`);
    files = [...new Set(Object.values(map))].map((f) => joinPath(dir, f));
  } else if ((await stat(joinPath(dir, 'model.safetensors')))?.isFile) {
    files = [joinPath(dir, 'model.safetensors')];
  } else {
    throw new UserError(`${dir}: no model.safetensors or model.safetensors.index.json`);
  }
  const tensors = new Map<string, Tensor>();
  for (const file of files) {
    if (!(await stat(file))?.isFile) throw new UserError(`${file}: shard listed in the index is missing`);
    try {
      for (const [name, t] of readSafetensors(await readFile(file)).tensors) tensors.set(name, t);
    } catch (e) {
      throw new UserError(`${file}: ${(e as Error).message}`);
    }
  }
  return { ...hfTensorsToModel(config, tensors, dir), configJson: json };
}
