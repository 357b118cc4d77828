// Mistral 7B and its relatives: Llama's layout under model_type "mistral" (sliding_window is not applied: webtune
// attends over the whole context, which equals Mistral's attention up to sliding_window tokens).
import { LLAMA_CONFIG_FIELDS, LLAMA_LORA_TARGETS, LLAMA_TENSORS } from './llama-like.ts';
import type { ModelFamily } from './types.ts';

export const mistral: ModelFamily = {
  modelType: 'mistral',
  architectures: ['MistralForCausalLM'],
  description: 'Mistral 7B v0.1–v0.3 and Mistral-architecture models',
  configFields: LLAMA_CONFIG_FIELDS,
  features: { attentionBias: 'config', qkNorm: false, tieWordEmbeddings: false, ropeScaling: ['llama3'] },
  tensors: LLAMA_TENSORS,
  loraTargets: LLAMA_LORA_TARGETS,
  defaultTemplate: 'default',  // no built-in [INST] template yet; Mistral's tokenizers carry their chat_template
};
