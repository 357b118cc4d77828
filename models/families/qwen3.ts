// Qwen3 (dense): Llama's layout plus a per-head RMSNorm of q and k before RoPE (self_attn.q_norm / k_norm).
import { LLAMA_CONFIG_FIELDS, LLAMA_LORA_TARGETS, LLAMA_TENSORS } from './llama-like.ts';
import type { ModelFamily } from './types.ts';

export const qwen3: ModelFamily = {
  modelType: 'qwen3',
  architectures: ['Qwen3ForCausalLM'],
  description: 'Qwen3 dense models (q/k norms)',
  configFields: LLAMA_CONFIG_FIELDS,
  features: { attentionBias: 'config', qkNorm: true, tieWordEmbeddings: false, ropeScaling: ['llama3'] },
  tensors: LLAMA_TENSORS,
  loraTargets: LLAMA_LORA_TARGETS,
  defaultTemplate: 'qwen3',
};
