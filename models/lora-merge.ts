// Merging a LoRA adapter into a model's weights (PEFT's merge_and_unload): pure, so the loaders (adapters.ts,
// onnx/import-llama.ts) share it without importing each other.
import { joinPath } from '../runtime/platform.ts';
import { UserError } from '../core/errors.ts';
import type { LlamaLayerWeights, LlamaModel } from './llama.ts';
import { familyOfConfig, linearKeyOf } from './families/index.ts';
import { tensorShape } from './families/tensors.ts';
import type { TargetModule } from './lora.ts';
import type { Tensor } from './safetensors.ts';

export interface LoraAdapterFile {
  dir: string;
  r: number;
  alpha: number;
  /** the factor applied to B·A */
  scale: number;
  targets: TargetModule[];
  /** base_model_name_or_path from adapter_config.json */
  baseModel?: string;
  /** layer → module → {A [r, in], B [out, r]} */
  layers: Map<number, Map<TargetModule, { A: Tensor; B: Tensor }>>;
}

/** Merges the adapter into a copy of `model` (tensors it does not touch are shared): W' = W + scale·(B·A), in f32.
 *  An adapter made for another model (layer count or sizes) fails naming the adapter file. */
export function mergeLora(model: LlamaModel, ad: LoraAdapterFile): LlamaModel {
  const c = model.config, file = joinPath(ad.dir, 'adapter_model.safetensors'), family = familyOfConfig(c);
  const maxLayer = Math.max(...ad.layers.keys());
  if (maxLayer >= c.numLayers) {
    throw new UserError(`${file}: has weights for layer ${maxLayer} but the model has ${c.numLayers} layers (an adapter for another model?)`);
  }
  const layers = model.weights.layers.map((l) => ({ ...l }));
  for (const [i, mods] of ad.layers) {
    for (const [mod, { A, B }] of mods) {
      const key = linearKeyOf(family, mod);
      if (!key) throw new UserError(`${file}: ${mod} is not a LoRA target of ${family.modelType} models (valid: ${family.loraTargets.join(', ')}); an adapter for another model?`);
      const [out, inF] = tensorShape(family, `layers.${i}.${key}`, c);
      if (A.shape[1] !== inF || B.shape[0] !== out) {
        throw new UserError(`${file}: layer ${i} ${mod} adapter is [${B.shape[0]}×${A.shape[1]}] but the model's weight is [${out}×${inF}] (an adapter for another model?)`);
      }
      const W = new Float32Array(layers[i][key]);
      const r = ad.r, a = A.data, b = B.data, row = new Float32Array(inF);
      for (let o = 0; o < out; o++) {
        row.fill(0);
        for (let k = 0; k < r; k++) {
          const bk = b[o * r + k];
          if (bk === 0) continue;
          const off = k * inF;
          for (let j = 0; j < inF; j++) row[j] += bk * a[off + j];
        }
        const wo = o * inF;
        for (let j = 0; j < inF; j++) W[wo + j] += Math.fround(row[j] * ad.scale);
      }
      (layers[i] as Record<keyof LlamaLayerWeights, Float32Array | undefined>)[key] = W;
    }
  }
  return { ...model, weights: { ...model.weights, layers } };
}
