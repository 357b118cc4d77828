// Qwen1.5, Qwen2 and Qwen2.5: Llama's layout plus biases on the q/k/v projections (always, whatever config.json says).
import { LLAMA_CONFIG_FIELDS, LLAMA_LORA_TARGETS, LLAMA_TENSORS } from './llama-like.ts';
import type { ModelFamily } from './types.ts';

export const qwen2: ModelFamily = {
  modelType: 'qwen2',
  architectures: ['Qwen2ForCausalLM'],
  description: 'Qwen1.5, Qwen2, Qwen2.5 (q/k/v biases)',
  configFields: LLAMA_CONFIG_FIELDS,
  features: { attentionBias: 'always', qkNorm: false, tieWordEmbeddings: false, ropeScaling: ['llama3'] },
  tensors: LLAMA_TENSORS,
  loraTargets: LLAMA_LORA_TARGETS,
  defaultTemplate: 'qwen',
};
