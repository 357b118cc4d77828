// The Hugging Face Llama conventions that Llama-like families share: LlamaForCausalLM's tensor names and shapes
// (model.layers.N.self_attn.q_proj.weight [heads·head_dim, hidden], …), PEFT's adapter prefix, the config.json
// numbers and their LlamaConfig fields, and the linear layers LoRA can target. A family entry points at these, or at
// its own tables when its checkpoints name things differently.
import type { LlamaConfig } from '../llama.ts';
import type { ConfigField, TensorLayout } from './types.ts';

const qDim = (c: LlamaConfig) => c.numHeads * c.headDim;
const kvDim = (c: LlamaConfig) => c.numKvHeads * c.headDim;

export const LLAMA_TENSORS: TensorLayout = {
  layerPrefix: 'model.layers.',
  embedTokens: { name: 'model.embed_tokens.weight', shape: (c) => [c.vocabSize, c.hiddenSize] },
  norm: { name: 'model.norm.weight', shape: (c) => [c.hiddenSize] },
  lmHead: { name: 'lm_head.weight', shape: (c) => [c.vocabSize, c.hiddenSize] },
  linears: {
    q: { module: 'q_proj', path: 'self_attn.q_proj', shape: (c) => [qDim(c), c.hiddenSize] },
    k: { module: 'k_proj', path: 'self_attn.k_proj', shape: (c) => [kvDim(c), c.hiddenSize] },
    v: { module: 'v_proj', path: 'self_attn.v_proj', shape: (c) => [kvDim(c), c.hiddenSize] },
    o: { module: 'o_proj', path: 'self_attn.o_proj', shape: (c) => [c.hiddenSize, qDim(c)] },
    gate: { module: 'gate_proj', path: 'mlp.gate_proj', shape: (c) => [c.intermediateSize, c.hiddenSize] },
    up: { module: 'up_proj', path: 'mlp.up_proj', shape: (c) => [c.intermediateSize, c.hiddenSize] },
    down: { module: 'down_proj', path: 'mlp.down_proj', shape: (c) => [c.hiddenSize, c.intermediateSize] },
  },
  layerTensors: {
    inputNorm: { name: 'input_layernorm.weight', shape: (c) => [c.hiddenSize] },
    postNorm: { name: 'post_attention_layernorm.weight', shape: (c) => [c.hiddenSize] },
    qBias: { name: 'self_attn.q_proj.bias', shape: (c) => [qDim(c)], when: 'attentionBias' },
    kBias: { name: 'self_attn.k_proj.bias', shape: (c) => [kvDim(c)], when: 'attentionBias' },
    vBias: { name: 'self_attn.v_proj.bias', shape: (c) => [kvDim(c)], when: 'attentionBias' },
    qNorm: { name: 'self_attn.q_norm.weight', shape: (c) => [c.headDim], when: 'qkNorm' },
    kNorm: { name: 'self_attn.k_norm.weight', shape: (c) => [c.headDim], when: 'qkNorm' },
  },
  peftPrefix: 'base_model.model.',
};

/** LlamaConfig's defaults (transformers' LlamaConfig: 2048 positions, θ 10000; rms_norm_eps 1e-6 as webtune always
 *  read it); num_key_value_heads and head_dim follow from the heads and the width when absent. */
export const LLAMA_CONFIG_FIELDS: readonly ConfigField[] = [
  { key: 'hiddenSize', hf: 'hidden_size' },
  { key: 'intermediateSize', hf: 'intermediate_size' },
  { key: 'numLayers', hf: 'num_hidden_layers' },
  { key: 'numHeads', hf: 'num_attention_heads' },
  { key: 'numKvHeads', hf: 'num_key_value_heads', fallback: (j) => j.num_attention_heads },
  { key: 'headDim', hf: 'head_dim', fallback: (j) => (j.hidden_size as number) / (j.num_attention_heads as number) },
  { key: 'vocabSize', hf: 'vocab_size' },
  { key: 'maxPositionEmbeddings', hf: 'max_position_embeddings', fallback: 2048 },
  { key: 'rmsNormEps', hf: 'rms_norm_eps', fallback: 1e-6 },
  { key: 'ropeTheta', hf: 'rope_theta', fallback: 10000 },
];

/** Every linear layer, as PEFT's `all-linear` picks them for LlamaForCausalLM (lm_head excluded). */
export const LLAMA_LORA_TARGETS = Object.values(LLAMA_TENSORS.linears).map((l) => l.module);
