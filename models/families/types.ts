// What a model family is (ms-swift's ModelMeta): the config.json it reads, the tensor names it stores, the linear
// layers LoRA may target, the features the Llama architecture switches on, and its default chat template. Entries
// are data; the machinery that reads them is in layout.ts (tensor names and shapes) and config.ts (config.json).
// Imports go downward only: nothing here reaches into src/.
import type { LlamaConfig, LlamaLayerWeights } from '../llama.ts';

/** The LlamaLayerWeights matrices: the linear layers of the architecture (models/llama.ts, llama-train.ts). */
export type LinearKey = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';
/** The other per-layer tensors: norms, and the q/k/v biases and q/k norms a feature switches on. */
export type LayerTensorKey = Exclude<keyof LlamaLayerWeights, LinearKey>;

/** A tensor's name in the family's Hugging Face checkpoint and its shape for a config. */
export interface TensorSpec {
  /** name inside a layer (`self_attn.q_proj.weight`) or the whole name for model-level tensors */
  name: string;
  shape: (c: LlamaConfig) => number[];
  /** present only when the config has this feature on */
  when?: 'attentionBias' | 'qkNorm';
}

/** A linear layer: its PEFT module name (what --target_modules and adapter_config.json's target_modules say) and its
 *  path inside a layer (`self_attn.q_proj`; the weight is `<path>.weight`); shape [out, in]. */
export interface LinearSpec { module: string; path: string; shape: (c: LlamaConfig) => [number, number] }

/** How a family names its tensors in Hugging Face checkpoints (and, prefixed, in PEFT adapters). */
export interface TensorLayout {
  /** prefix of layer i's tensors: `model.layers.${i}.` */
  layerPrefix: string;
  embedTokens: TensorSpec;
  norm: TensorSpec;
  lmHead: TensorSpec;
  linears: Record<LinearKey, LinearSpec>;
  layerTensors: Record<LayerTensorKey, TensorSpec>;
  /** what PEFT puts before a base model's tensor name in adapter_model.safetensors */
  peftPrefix: string;
}

/** A config.json number and its LlamaConfig field; `fallback` when config.json lacks it (the transformers class's
 *  default, or derived from other fields). */
export interface ConfigField {
  key: 'hiddenSize' | 'intermediateSize' | 'numLayers' | 'numHeads' | 'numKvHeads' | 'headDim' | 'vocabSize'
    | 'maxPositionEmbeddings' | 'rmsNormEps' | 'ropeTheta';
  hf: string;
  fallback?: number | ((json: Record<string, unknown>) => unknown);
}

export interface FamilyFeatures {
  /** q/k/v biases: always (Qwen2), or as config.json's attention_bias says */
  attentionBias: 'always' | 'config';
  /** per-head RMSNorm of q and k before RoPE (Qwen3) */
  qkNorm: boolean;
  /** tie_word_embeddings when config.json does not say */
  tieWordEmbeddings: boolean;
  /** rope_scaling types beyond plain RoPE ("default") that the family's configs may carry */
  ropeScaling: readonly 'llama3'[];
}

export interface ModelFamily {
  /** config.json's model_type */
  modelType: string;
  /** transformers class names (config.json's architectures); the first is written into configs webtune makes */
  architectures: readonly string[];
  /** one line for the README and help: which models these are */
  description: string;
  /** config.json numbers ↔ LlamaConfig */
  configFields: readonly ConfigField[];
  features: FamilyFeatures;
  tensors: TensorLayout;
  /** PEFT module names LoRA may target (`all-linear` = all of them) */
  loraTargets: readonly string[];
  /** the built-in chat template (src/data/templates/builtin.ts, by name) for a tokenizer without a chat_template */
  defaultTemplate: string;
}
