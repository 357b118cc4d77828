// Llama 1/2/3.x (and TinyLlama, SmolLM, llama2.c models imported by webtune): model_type "llama".
import { LLAMA_CONFIG_FIELDS, LLAMA_LORA_TARGETS, LLAMA_TENSORS } from './llama-like.ts';
import type { ModelFamily } from './types.ts';

export const llama: ModelFamily = {
  modelType: 'llama',
  architectures: ['LlamaForCausalLM'],
  description: 'Llama 1/2/3.x, TinyLlama, SmolLM and llama2.c models',
  configFields: LLAMA_CONFIG_FIELDS,
  features: { attentionBias: 'config', qkNorm: false, tieWordEmbeddings: false, ropeScaling: ['llama3'] },
  tensors: LLAMA_TENSORS,
  loraTargets: LLAMA_LORA_TARGETS,
  // "llama" covers base and chat models of several chat formats (Llama 2, Llama 3, none): plain text when the
  // tokenizer brings no chat_template
  defaultTemplate: 'default',
};
