// Tensor names and shapes read from a family's TensorLayout. webtune's own tensor names (the trainer's, also used in
// errors) are the architecture's: embedTokens, norm, lmHead, layers.N.<LlamaLayerWeights key>, and for LoRA
// layers.N.<linear>.loraA / .loraB. These functions translate them to the family's Hugging Face (full) or PEFT
// (LoRA) names and give their shapes.
import type { LlamaConfig } from '../llama.ts';
import type { LayerTensorKey, LinearKey, ModelFamily, TensorSpec } from './types.ts';

const TRAINER_NAME = /^layers\.(\d+)\.(\w+?)(?:\.lora([AB]))?$/;
const MODEL_LEVEL = { embedTokens: 'embedTokens', norm: 'norm', lmHead: 'lmHead' } as const;

function parse(f: ModelFamily, name: string): { spec?: TensorSpec; layer?: number; linear?: LinearKey; ab?: 'A' | 'B' } {
  if (name in MODEL_LEVEL) return { spec: f.tensors[name as keyof typeof MODEL_LEVEL] };
  const m = TRAINER_NAME.exec(name);
  if (!m) throw new Error(`${f.modelType}: no tensor ${name}`);
  const [, i, part, ab] = m, layer = Number(i);
  if (part in f.tensors.linears) return { layer, linear: part as LinearKey, ab: ab as 'A' | 'B' | undefined };
  const spec = f.tensors.layerTensors[part as LayerTensorKey];
  if (!spec || ab) throw new Error(`${f.modelType}: no tensor ${name}`);
  return { spec, layer };
}

/** Trainer tensor name → the family's Hugging Face name (full weights) or PEFT key (LoRA A/B). */
export function hfTensorName(f: ModelFamily, name: string): string {
  const { spec, layer, linear, ab } = parse(f, name), t = f.tensors;
  if (layer === undefined) return spec!.name;
  const inLayer = linear ? `${t.linears[linear].path}.${ab ? `lora_${ab}.` : ''}weight` : spec!.name;
  return `${ab ? t.peftPrefix : ''}${t.layerPrefix}${layer}.${inLayer}`;
}

/** The shape of a trainer tensor for config `c` (LoRA: A [rank, in], B [out, rank]). */
export function tensorShape(f: ModelFamily, name: string, c: LlamaConfig, rank = 0): number[] {
  const { spec, linear, ab } = parse(f, name);
  if (!linear) return spec!.shape(c);
  const [out, inp] = f.tensors.linears[linear].shape(c);
  return ab === 'A' ? [rank, inp] : ab === 'B' ? [out, rank] : [out, inp];
}

/** Whether the config switches on the feature a tensor belongs to (tensors without one always exist). */
export const tensorPresent = (spec: TensorSpec, c: LlamaConfig): boolean => !spec.when || Boolean(c[spec.when]);

/** The trainer names of every tensor a full checkpoint of config `c` holds (all: also those of features it has off,
 *  which a checkpoint may carry anyway). */
export function modelTensorNames(f: ModelFamily, c: LlamaConfig, opts: { all?: boolean } = {}): string[] {
  const names = ['embedTokens'];
  for (let i = 0; i < c.numLayers; i++) {
    for (const k of Object.keys(f.tensors.linears)) names.push(`layers.${i}.${k}`);
    for (const [k, spec] of Object.entries(f.tensors.layerTensors)) if (opts.all || tensorPresent(spec, c)) names.push(`layers.${i}.${k}`);
  }
  names.push('norm');
  if (!c.tieWordEmbeddings) names.push('lmHead');
  return names;
}

/** The LoRA layer and module a PEFT key names (`base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight`, with
 *  or without `.default`), or undefined when it is not one of the family's LoRA targets. */
export function parsePeftKey(f: ModelFamily, key: string): { layer: number; module: string; ab: 'A' | 'B' } | undefined {
  const t = f.tensors, head = `${t.peftPrefix}${t.layerPrefix}`;
  if (!key.startsWith(head)) return undefined;
  const m = /^(\d+)\.(.+)\.lora_([AB])(?:\.default)?\.weight$/.exec(key.slice(head.length));
  const lin = m && Object.values(t.linears).find((l) => l.path === m[2]);
  if (!m || !lin || !f.loraTargets.includes(lin.module)) return undefined;
  return { layer: Number(m[1]), module: lin.module, ab: m[3] as 'A' | 'B' };
}

/** A tensor's base name in webtune's ONNX exports: the Hugging Face name without the leading `model.` and without
 *  `.weight`/`.bias` (the exporter appends `.weight_t` to MatMul weights it stores transposed, `.weight` to norms and
 *  the embedding, `.bias` to biases; LoRA pairs are `<base>.lora_A.weight_t` / `.lora_B.weight_t`). */
export const onnxBaseName = (f: ModelFamily, name: string): string =>
  hfTensorName(f, name).replace(/^model\./, '').replace(/\.(weight|bias)$/, '');

/** The initializer webtune's ONNX export stores a tensor under: `<base>.weight_t` for MatMul weights (linears and
 *  lm_head, transposed to [in, out]), `<base>.bias` for biases, `<base>.weight` for the rest. */
export function onnxInitializerName(f: ModelFamily, name: string): string {
  const hf = hfTensorName(f, name), base = onnxBaseName(f, name);
  const part = /^layers\.\d+\.(\w+)$/.exec(name)?.[1];
  const matmul = name === 'lmHead' || (part !== undefined && part in f.tensors.linears);
  return `${base}.${matmul ? 'weight_t' : hf.endsWith('.bias') ? 'bias' : 'weight'}`;
}
