// The model-family registry (ms-swift's register_model): one file per family in this folder, listed once below.
// Everything that reads config.json model_types, tensor names, LoRA targets or features asks here.
import type { LlamaConfig } from '../llama.ts';
import { llama } from './llama.ts';
import { mistral } from './mistral.ts';
import { qwen2 } from './qwen2.ts';
import { qwen3 } from './qwen3.ts';
import type { LinearKey, ModelFamily } from './types.ts';

export type { ConfigField, FamilyFeatures, LayerTensorKey, LinearKey, LinearSpec, ModelFamily, TensorLayout, TensorSpec } from './types.ts';

const families: ModelFamily[] = [];
/** The registered families, in registration order. */
export const FAMILIES: readonly ModelFamily[] = families;

/** Adds a family (a new model_type); a second entry for one model_type is refused. */
export function registerFamily(f: ModelFamily): ModelFamily {
  if (families.some((x) => x.modelType === f.modelType)) throw new Error(`model family ${f.modelType} is registered twice`);
  families.push(f);
  return f;
}

for (const f of [llama, mistral, qwen2, qwen3]) registerFamily(f);

/** config.json's model_type is not a registered family; the message lists the registered ones. */
export class UnknownModelTypeError extends Error {
  constructor(readonly modelType: string) {
    super(`model_type ${JSON.stringify(modelType)} is not supported (supported: ${supportedModelTypes().join(', ')})`);
  }
}

export const supportedModelTypes = (): string[] => families.map((f) => f.modelType);

export function familyOf(modelType: string): ModelFamily {
  const f = families.find((x) => x.modelType === modelType);
  if (!f) throw new UnknownModelTypeError(modelType);
  return f;
}

/** The family of a loaded model (llama2.c imports and configs without a model_type are Llama). */
export const familyOfConfig = (c: Pick<LlamaConfig, 'modelType'>): ModelFamily => familyOf(c.modelType ?? 'llama');

/** Every PEFT module name some registered family lets LoRA target, in first-seen order. */
export const allLoraTargets = (): string[] => [...new Set(families.flatMap((f) => f.loraTargets))];

/** The architecture's linear layer a LoRA target module names in `family` (undefined: not one of its targets). */
export function linearKeyOf(family: ModelFamily, module: string): LinearKey | undefined {
  if (!family.loraTargets.includes(module)) return undefined;
  return (Object.entries(family.tensors.linears) as [LinearKey, { module: string }][]).find(([, l]) => l.module === module)?.[0];
}
