// Loads Hugging Face Llama-family checkpoints (llama, mistral, qwen2, qwen3): config.json plus
// model.safetensors or sharded *.safetensors with model.safetensors.index.json. bf16/f16 widen to f32.
import { readFile, readText, stat, joinPath } from '../runtime/platform.ts';
import { UserError } from '../src/errors.ts';
import type { Llama3RopeScaling, LlamaConfig, LlamaLayerWeights, LlamaModel } from './llama.ts';
import { readSafetensors, type Tensor } from './safetensors.ts';

const SUPPORTED = ['llama', 'mistral', 'qwen2', 'qwen3'];

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
    attentionBias: type === 'qwen2' || Boolean(json.attention_bias),
    qkNorm: type === 'qwen3',
  };
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
  const model = hfTensorsToModel(config, tensors, dir);
  return model;
}
