// config.json ↔ LlamaConfig, read from a family's ConfigField table and features: parseFamilyConfig and its inverse
// writeFamilyConfig. Errors are ConfigError, one line naming the field (the loader adds the file).
import type { Llama3RopeScaling, LlamaConfig } from '../llama.ts';
import type { ModelFamily } from './types.ts';

export class ConfigError extends Error {}

export function parseFamilyConfig(f: ModelFamily, json: Record<string, unknown>): LlamaConfig {
  const nums = Object.fromEntries(f.configFields.map(({ key, hf, fallback }) => {
    const v = json[hf] ?? (typeof fallback === 'function' ? fallback(json) : fallback);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`${hf} is missing or not a number`);
    return [key, v];
  })) as Pick<LlamaConfig, (typeof f.configFields)[number]['key']>;
  const ropeScaling = parseRopeScaling(f, json.rope_scaling);
  return {
    ...(ropeScaling ? { ropeScaling } : {}),  // absent, not undefined, for unscaled models (configs compare equal)
    modelType: f.modelType,
    ...nums,
    tieWordEmbeddings: Boolean(json.tie_word_embeddings ?? f.features.tieWordEmbeddings),
    attentionBias: f.features.attentionBias === 'always' || Boolean(json.attention_bias),
    qkNorm: f.features.qkNorm,
  };
}

/** config.json for a model that came without one: parseFamilyConfig's inverse, plus the family's class and the
 *  tokenizer's BOS/EOS ids. */
export function writeFamilyConfig(f: ModelFamily, c: LlamaConfig, ids: { bos?: number; eos?: number } = {}): Record<string, unknown> {
  const s = c.ropeScaling;
  const nums = Object.fromEntries(f.configFields.map(({ key, hf }) => [hf, c[key]]));
  return { architectures: [f.architectures[0]], model_type: f.modelType, ...nums,
    rope_scaling: s ? { rope_type: s.ropeType, factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor,
      original_max_position_embeddings: s.originalMaxPositionEmbeddings } : null,
    ...(f.features.attentionBias === 'always' ? {} : { attention_bias: Boolean(c.attentionBias) }),
    tie_word_embeddings: c.tieWordEmbeddings, hidden_act: 'silu', use_cache: true, torch_dtype: 'float32',
    bos_token_id: ids.bos !== undefined && ids.bos >= 0 ? ids.bos : 1, eos_token_id: ids.eos !== undefined && ids.eos >= 0 ? ids.eos : 2 };
}

/** rope_scaling: absent/null or "default" → plain RoPE; a type the family lists → its parameters; others refused. */
function parseRopeScaling(f: ModelFamily, v: unknown): Llama3RopeScaling | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError('rope_scaling must be an object');
  const r = v as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  if (type === 'default') return undefined;
  if (!(f.features.ropeScaling as readonly unknown[]).includes(type)) {
    throw new ConfigError(`rope_scaling type ${JSON.stringify(type)} is not supported (supported: ${['default', ...f.features.ropeScaling].join(', ')})`);
  }
  const num = (key: string): number => {
    const x = r[key];
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) throw new ConfigError(`rope_scaling.${key} is missing or not a positive number`);
    return x;
  };
  const scaling: Llama3RopeScaling = { ropeType: 'llama3', factor: num('factor'), lowFreqFactor: num('low_freq_factor'),
    highFreqFactor: num('high_freq_factor'), originalMaxPositionEmbeddings: num('original_max_position_embeddings') };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) throw new ConfigError('rope_scaling.high_freq_factor must be greater than low_freq_factor');
  return scaling;
}
