// Loads Hugging Face Llama-family checkpoints (llama, mistral, qwen2, qwen3): config.json plus
// model.safetensors or sharded *.safetensors with model.safetensors.index.json. bf16/f16 widen to f32.
import { readFile, readText, stat, joinPath } from '../runtime/platform.ts';
import { UserError } from '../src/errors.ts';
import type { Llama3RopeScaling, LlamaConfig, LlamaLayerWeights, LlamaModel } from './llama.ts';
import { readSafetensors, type Tensor } from './safetensors.ts';

/** The families webtune runs: config.json's model_type → its transformers class and what the type itself implies. */
const FAMILIES: Record<string, { architecture: string; attentionBias?: boolean; qkNorm?: boolean }> = {
  llama: { architecture: 'LlamaForCausalLM' },
  mistral: { architecture: 'MistralForCausalLM' },
  qwen2: { architecture: 'Qwen2ForCausalLM', attentionBias: true },
  qwen3: { architecture: 'Qwen3ForCausalLM', qkNorm: true },
};
const SUPPORTED = Object.keys(FAMILIES);

/** Maps config.json to LlamaConfig; unsupported architectures and settings fail with the field named. */
export function parseHfConfig(json: Record<string, unknown>, file = 'config.json'): LlamaConfig {
  const type = String(json.model_type ?? '');
  if (!SUPPORTED.includes(type)) {
    throw new UserError(`${file}: model_type "${type}" is not supported (supported: ${SUPPORTED.join(', ')})`);
  }
  const num = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`${file}: ${key} is missing or not a number`);
    return v;
  };
  const heads = num('num_attention_heads'), hidden = num('hidden_size');
  const ropeScaling = parseRopeScaling(json.rope_scaling, file);
  return {
    ...(ropeScaling ? { ropeScaling } : {}),  // absent, not undefined, for unscaled models (configs compare equal)
    modelType: type,
    hiddenSize: hidden,
    intermediateSize: num('intermediate_size'),
    numLayers: num('num_hidden_layers'),
    numHeads: heads,
    numKvHeads: num('num_key_value_heads', heads),
    headDim: num('head_dim', hidden / heads),
    vocabSize: num('vocab_size'),
    maxPositionEmbeddings: num('max_position_embeddings', 2048),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    tieWordEmbeddings: Boolean(json.tie_word_embeddings ?? false),
    attentionBias: Boolean(FAMILIES[type].attentionBias || json.attention_bias),
    qkNorm: Boolean(FAMILIES[type].qkNorm),
  };
}

/**
 * config.json for a model that came without one (llama2.c imports, the embedded tiny model, an ONNX export carrying
 * only its metadata): parseHfConfig's inverse, with the family's class and the tokenizer's BOS/EOS ids. The only
 * place webtune makes a config.json.
 */
export function makeHfConfigJson(c: LlamaConfig, ids: { bos?: number; eos?: number } = {}): Record<string, unknown> {
  const type = c.modelType ?? 'llama', family = FAMILIES[type] ?? FAMILIES.llama, s = c.ropeScaling;
  return { architectures: [family.architecture], model_type: type, hidden_size: c.hiddenSize, intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers, num_attention_heads: c.numHeads, num_key_value_heads: c.numKvHeads, head_dim: c.headDim,
    vocab_size: c.vocabSize, max_position_embeddings: c.maxPositionEmbeddings, rms_norm_eps: c.rmsNormEps, rope_theta: c.ropeTheta,
    rope_scaling: s ? { rope_type: s.ropeType, factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor,
      original_max_position_embeddings: s.originalMaxPositionEmbeddings } : null,
    ...(family.attentionBias ? {} : { attention_bias: Boolean(c.attentionBias) }),
    tie_word_embeddings: c.tieWordEmbeddings, hidden_act: 'silu', use_cache: true, torch_dtype: 'float32',
    bos_token_id: ids.bos !== undefined && ids.bos >= 0 ? ids.bos : 1, eos_token_id: ids.eos !== undefined && ids.eos >= 0 ? ids.eos : 2 };
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

/** rope_scaling: absent/null or "default" → plain RoPE; "llama3" → its four parameters; any other type is refused. */
function parseRopeScaling(v: unknown, file: string): Llama3RopeScaling | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${file}: rope_scaling must be an object`);
  const r = v as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  if (type === 'default') return undefined;
  if (type !== 'llama3') {
    throw new UserError(`${file}: rope_scaling type ${JSON.stringify(type)} is not supported (supported: default, llama3)`);
  }
  const num = (key: string): number => {
    const x = r[key];
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) throw new UserError(`${file}: rope_scaling.${key} is missing or not a positive number`);
    return x;
  };
  const scaling: Llama3RopeScaling = { ropeType: 'llama3', factor: num('factor'), lowFreqFactor: num('low_freq_factor'),
    highFreqFactor: num('high_freq_factor'), originalMaxPositionEmbeddings: num('original_max_position_embeddings') };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
    throw new UserError(`${file}: rope_scaling.high_freq_factor must be greater than low_freq_factor`);
  }
  return scaling;
}

/** Assembles a LlamaModel from Hugging Face tensor names. */
export function hfTensorsToModel(config: LlamaConfig, tensors: Map<string, Tensor>, source = 'checkpoint'): LlamaModel {
  const get = (name: string, optional = false): Float32Array | undefined => {
    const t = tensors.get(name);
    if (!t && !optional) throw new UserError(`${source}: tensor ${name} is missing`);
    return t?.data;
  };
  const layers: LlamaLayerWeights[] = Array.from({ length: config.numLayers }, (_, i) => {
    const p = `model.layers.${i}.`;
    return {
      inputNorm: get(`${p}input_layernorm.weight`)!,
      q: get(`${p}self_attn.q_proj.weight`)!,
      k: get(`${p}self_attn.k_proj.weight`)!,
      v: get(`${p}self_attn.v_proj.weight`)!,
      o: get(`${p}self_attn.o_proj.weight`)!,
      postNorm: get(`${p}post_attention_layernorm.weight`)!,
      gate: get(`${p}mlp.gate_proj.weight`)!,
      up: get(`${p}mlp.up_proj.weight`)!,
      down: get(`${p}mlp.down_proj.weight`)!,
      qBias: get(`${p}self_attn.q_proj.bias`, !config.attentionBias),
      kBias: get(`${p}self_attn.k_proj.bias`, !config.attentionBias),
      vBias: get(`${p}self_attn.v_proj.bias`, !config.attentionBias),
      qNorm: get(`${p}self_attn.q_norm.weight`, !config.qkNorm),
      kNorm: get(`${p}self_attn.k_norm.weight`, !config.qkNorm),
    };
  });
  // Some tied checkpoints still store lm_head; use it only when the config does not tie.
  const lmHead = config.tieWordEmbeddings ? undefined : get('lm_head.weight');
  return { config, weights: { embedTokens: get('model.embed_tokens.weight')!, layers, norm: get('model.norm.weight')!, lmHead } };
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
