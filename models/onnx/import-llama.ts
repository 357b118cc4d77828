// Rebuilds a LlamaModel from a webtune ONNX export (export-llama.ts), so webtune's own runtime runs exported
// folders on every target. The export's initializers carry Hugging Face names without the `model.` prefix:
// `<name>.weight_t` are MatMul weights transposed to [in, out] (transposed back here, bit-exactly), norms
// `<name>.weight`, biases `<name>.bias`. Unmerged LoRA pairs (`<module>.lora_A.weight` [r, in] and
// `.lora_B.weight` [out, r], or their `.weight_t` transposes) are merged at load as PEFT does: W + scale·B·A.
// Graphs with any other layout are not interpreted: onnxruntime runs those.
import { UserError } from '../../core/errors.ts';
import { mergeLora, type LoraAdapterFile } from '../lora-merge.ts';
import { FAMILIES, familyOfConfig, type ModelFamily } from '../families/index.ts';
import { hfTensorName, modelTensorNames, onnxBaseName, onnxInitializerName, tensorShape } from '../families/tensors.ts';
import { hfTensorsToModel, parseHfConfig } from '../hf-llama.ts';
import { validateWeights, type LlamaConfig, type LlamaModel } from '../llama.ts';
import type { TargetModule } from '../lora.ts';
import type { Tensor } from '../safetensors.ts';
import { initializerFloats, type OnnxFile, type OnnxInitializer } from './reader.ts';

const LORA = /^(.+)\.lora_([AB])(?:\.default)?\.(weight_t|weight)$/;

/** [rows, cols] row-major → [cols, rows]. */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/** True when the initializers are laid out as webtune's exporter writes them for some registered family. */
export function isWebtuneLlamaGraph(m: OnnxFile): boolean {
  return FAMILIES.some((f) => ['embedTokens', 'norm', 'layers.0.q', 'layers.0.down'].every((n) => m.initializers.has(onnxInitializerName(f, n))));
}

function notWebtune(m: OnnxFile, why: string): never {
  throw new UserError(`${m.file}: ${why}; only webtune's own ONNX exports run natively (run other ONNX models with onnxruntime)`);
}

/** The exporter's LlamaConfig from metadata_props (webtune.config), else from the folder's config.json. */
function exportConfig(m: OnnxFile, configJson?: Record<string, unknown>, configFile = 'config.json'): LlamaConfig {
  const meta = m.metadata['webtune.config'];
  if (meta) {
    let c: LlamaConfig;
    try { c = JSON.parse(meta); } catch { throw new UserError(`${m.file}: metadata webtune.config is not valid JSON: corrupt file?`); }
    for (const k of ['hiddenSize', 'intermediateSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'vocabSize', 'rmsNormEps', 'ropeTheta'] as const) {
      if (typeof c[k] !== 'number') throw new UserError(`${m.file}: metadata webtune.config has no number ${k}: corrupt file?`);
    }
    return c;
  }
  if (!configJson) notWebtune(m, 'no webtune.config metadata and no config.json beside the model');
  return parseHfConfig(configJson, configFile);
}

/** The LoRA scale: metadata (webtune.lora's scale, lora_scale, or lora_alpha with lora_r / r, use_rslora), else config.json. */
function loraScale(m: OnnxFile, configJson?: Record<string, unknown>): number | undefined {
  const sources: Record<string, unknown>[] = [];
  if (m.metadata['webtune.lora']) { try { sources.push(JSON.parse(m.metadata['webtune.lora'])); } catch { /* ignored */ } }
  sources.push(m.metadata, (configJson?.lora as Record<string, unknown>) ?? {}, configJson ?? {});
  for (const s of sources) {
    const num = (k: string) => (s[k] === undefined || s[k] === '' ? undefined : Number(s[k]));
    const scale = num('lora_scale') ?? num('scale') ?? num('scaling');
    if (scale !== undefined && Number.isFinite(scale)) return scale;
    const alpha = num('lora_alpha'), r = num('lora_r') ?? num('r');
    if (alpha !== undefined && r) return (String(s.use_rslora) === 'true') ? alpha / Math.sqrt(r) : alpha / r;
  }
  return undefined;
}

/** Unmerged LoRA initializers as an in-memory adapter (PEFT layout), or undefined when the graph has none. */
function loraPairs(m: OnnxFile, f: ModelFamily, c: LlamaConfig, configJson: Record<string, unknown> | undefined,
  floats: (t: OnnxInitializer) => Float32Array): LoraAdapterFile | undefined {
  // each LoRA target's base name (layers.3.self_attn.q_proj) → its layer and PEFT module name
  const targets = new Map<string, { layer: number; module: string }>();
  for (let i = 0; i < c.numLayers; i++) {
    for (const [k, lin] of Object.entries(f.tensors.linears)) {
      if (f.loraTargets.includes(lin.module)) targets.set(onnxBaseName(f, `layers.${i}.${k}`), { layer: i, module: lin.module });
    }
  }
  const layers = new Map<number, Map<TargetModule, { A?: Tensor; B?: Tensor }>>();
  for (const [name, t] of m.initializers) {
    const hit = LORA.exec(name);
    if (!hit) continue;
    const [, base, ab, kind] = hit, target = targets.get(base);
    if (!target) notWebtune(m, `LoRA initializer ${name} targets an unknown module`);
    if (t.dims.length !== 2) throw new UserError(`${m.file}: LoRA initializer ${name} has shape [${t.dims}], expected a matrix`);
    let data = floats(t), shape = t.dims;
    if (kind === 'weight_t') { data = transpose(data, shape[0], shape[1]); shape = [shape[1], shape[0]]; }
    const mods = layers.get(target.layer) ?? new Map();
    layers.set(target.layer, mods);
    const pair = mods.get(target.module) ?? {};
    pair[ab as 'A' | 'B'] = { shape, data };
    mods.set(target.module, pair);
  }
  if (layers.size === 0) return undefined;
  const scale = loraScale(m, configJson);
  if (scale === undefined) throw new UserError(`${m.file}: has unmerged LoRA weights but no scale (metadata lora_scale or lora_alpha and lora_r)`);
  let r = 0;
  const complete = new Map<number, Map<TargetModule, { A: Tensor; B: Tensor }>>();
  for (const [i, mods] of layers) {
    const out = new Map<TargetModule, { A: Tensor; B: Tensor }>();
    for (const [mod, { A, B }] of mods) {
      if (!A || !B || A.shape[0] !== B.shape[1]) throw new UserError(`${m.file}: layer ${i} ${mod}: LoRA A and B do not pair up`);
      r = A.shape[0];
      out.set(mod, { A, B });
    }
    complete.set(i, out);
  }
  return { dir: m.file, r, alpha: scale * r, scale, targets: [...new Set([...complete.values()].flatMap((x) => [...x.keys()]))], layers: complete };
}

/** A LlamaModel from a parsed webtune export; `configJson` is the folder's config.json when there is one. */
export function onnxToLlama(m: OnnxFile, configJson?: Record<string, unknown>, configFile?: string): LlamaModel {
  if (!isWebtuneLlamaGraph(m)) notWebtune(m, 'unknown initializer layout (not a webtune export)');
  const config = exportConfig(m, configJson, configFile), family = familyOfConfig(config);
  const floats = (t: OnnxInitializer) => initializerFloats(t, m.file);
  // the family's tensors under their Hugging Face names; MatMul weights transposed back to [out, in]
  const tensors = new Map<string, Tensor>();
  for (const name of modelTensorNames(family, config, { all: true })) {
    const init = onnxInitializerName(family, name), t = m.initializers.get(init);
    if (!t) continue;
    if (init.endsWith('.weight_t')) {
      if (t.dims.length !== 2) throw new UserError(`${m.file}: initializer ${init} has shape [${t.dims}], expected [in, out]`);
      tensors.set(hfTensorName(family, name), { shape: [t.dims[1], t.dims[0]], data: transpose(floats(t), t.dims[0], t.dims[1]) });
    } else tensors.set(hfTensorName(family, name), { shape: t.dims, data: floats(t) });
  }
  // the exporter ties lm_head to embed_tokens in the graph whenever the model has no separate lm_head
  const lmHead = hfTensorName(family, 'lmHead'), embed = tensors.get(hfTensorName(family, 'embedTokens'));
  if (!config.tieWordEmbeddings && !tensors.has(lmHead) && embed) tensors.set(lmHead, { shape: tensorShape(family, 'lmHead', config), data: embed.data });
  let model = hfTensorsToModel(config, tensors, m.file);
  const lora = loraPairs(m, family, config, configJson, floats);
  if (lora) model = mergeLora(model, lora);
  try { validateWeights(model); } catch (e) { throw new UserError(`${m.file}: ${(e as Error).message}`); }
  return configJson ? { ...model, configJson: sourceConfigJson(configJson) } : model;
}

/** The model's own config.json inside an export's: without what the exporter adds (`transformers.js_config`, and the
 *  `lora` block of unmerged weights, which are merged once loaded), so a re-export or checkpoint writes it unchanged. */
function sourceConfigJson(configJson: Record<string, unknown>): Record<string, unknown> {
  const { 'transformers.js_config': _js, lora: _lora, ...own } = configJson;
  return own;
}
