// checkpoint-N/ as ms-swift (Hugging Face Trainer + PEFT) lays it out: LoRA → adapter_config.json +
// adapter_model.safetensors with PEFT's key names; full → model.safetensors with Hugging Face names, config.json and
// the tokenizer files. Beside them: trainer_state.json, optimizer.safetensors (AdamW moments; HF's optimizer.pt
// is a torch pickle), scheduler.json, rng_state.json (dropout counter, data position). The directory is built
// under a temporary name and renamed into place, so a crash never leaves a half-written checkpoint-N.
import { familyOfConfig } from '../../models/families/index.ts';
import { hfTensorName, tensorShape } from '../../models/families/tensors.ts';
import type { LlamaConfig } from '../../models/llama.ts';
import type { LlamaTrainer } from '../../models/llama-train.ts';
import type { LoraConfig } from '../../models/lora.ts';
import { readSafetensors, writeSafetensors, type Tensor } from '../../models/safetensors.ts';
import { writeTensorContainer } from '../../models/onnx/tensor-container.ts';
import { fileSystem, readFile, readText, stat, writeAtomic, writeFileAtomic } from '../../runtime/platform.ts';
import { UserError } from '../../core/errors.ts';

/** Trainer tensor name → the model family's Hugging Face (full) or PEFT (LoRA) key (models/families/tensors.ts). */
export const hfName = (name: string, c: LlamaConfig): string => hfTensorName(familyOfConfig(c), name);

/** The shape of a trainer tensor (safetensors stores shapes). */
export const shapeOf = (name: string, c: LlamaConfig, rank = 0): number[] => tensorShape(familyOfConfig(c), name, c, rank);

export function adapterConfig(l: LoraConfig, baseModel: string): Record<string, unknown> {
  return { peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: baseModel, r: l.rank, lora_alpha: l.alpha,
    lora_dropout: l.dropout, target_modules: [...l.targets], bias: 'none', fan_in_fan_out: false, inference_mode: true,
    init_lora_weights: true, modules_to_save: null, use_rslora: false, use_dora: false, layers_to_transform: null,
    layers_pattern: null, rank_pattern: {}, alpha_pattern: {}, revision: null };
}

const tensors = (m: Map<string, Float32Array>, shape: (n: string) => number[], key: (n: string) => string) =>
  new Map<string, Tensor>([...m].map(([n, data]) => [key(n), { shape: shape(n), data }]));

export interface CheckpointInput {
  trainer: LlamaTrainer;
  baseModel: string;
  /** full training: config.json contents (the source's, models/hf-llama.ts hfConfigFor) and tokenizer files to copy */
  configJson: Record<string, unknown>;
  tokenizerFiles: string[];
  trainerState: Record<string, unknown>;
  scheduler: Record<string, unknown>;
  rng: Record<string, unknown>;
  args: Record<string, unknown>;
  adamw: boolean;
}

export async function saveCheckpoint(dir: string, x: CheckpointInput): Promise<void> {
  // built whole under a temporary name, then renamed over any older checkpoint-N (a kill leaves one or the other)
  await writeAtomic(dir, (tmp) => fillCheckpoint(tmp, x), { replace: true });
}

async function fillCheckpoint(tmp: string, x: CheckpointInput): Promise<void> {
  const fs = fileSystem(), c = x.trainer.config, rank = x.trainer.lora?.rank ?? 0;
  await fs.mkdir(tmp, { recursive: true });
  const json = (f: string, v: unknown) => writeFileAtomic(`${tmp}/${f}`, `${JSON.stringify(v, null, 2)}\n`);
  const values = await x.trainer.read('value'), shape = (n: string) => shapeOf(n, c, rank), key = (n: string) => hfName(n, c);
  if (x.trainer.lora) {
    await json('adapter_config.json', adapterConfig(x.trainer.lora, x.baseModel));
    await writeFileAtomic(`${tmp}/adapter_model.safetensors`, writeSafetensors(tensors(values, shape, key), { format: 'pt' }));
  } else {
    await writeFileAtomic(`${tmp}/model.safetensors`, writeSafetensors(tensors(values, shape, key), { format: 'pt' }));
    await json('config.json', x.configJson);
    for (const f of x.tokenizerFiles) if ((await stat(f))?.isFile) await writeFileAtomic(`${tmp}/${f.replace(/^.*\//, '')}`, await readFile(f));
  }
  if (x.adamw) {
    const [m, v] = [await x.trainer.read('m'), await x.trainer.read('v')], all = new Map<string, Tensor>();
    for (const [n, a] of m) all.set(`exp_avg/${n}`, { shape: [a.length], data: a });
    for (const [n, a] of v) all.set(`exp_avg_sq/${n}`, { shape: [a.length], data: a });
    await writeFileAtomic(`${tmp}/optimizer.safetensors`, writeSafetensors(all, { optimizer_steps: String(x.trainer.steps) }));
  }
  await writeOnnxContainers(tmp, x, values, shape, key);
  await json('trainer_state.json', x.trainerState);
  await json('scheduler.json', x.scheduler);
  await json('rng_state.json', { ...x.rng, micro: x.trainer.micro, optimizer_steps: x.trainer.steps });
  await json('args.json', x.args);
}

/** adapter.onnx (trainable tensors, PEFT/HF names) and, with AdamW, optimizer.onnx (`<name>.exp_avg`, `.exp_avg_sq`,
 *  `step`): initializer-only ONNX models, readable with onnx.load + numpy_helper. Doc strings keep the trainer names. */
async function writeOnnxContainers(tmp: string, x: CheckpointInput, values: Map<string, Float32Array>, shape: (n: string) => number[],
  key: (n: string) => string): Promise<void> {
  const named = (m: Map<string, Float32Array>, suffix = '') =>
    [...m].map(([n, data]) => [`${key(n)}${suffix}`, { shape: shape(n), data, doc: n }] as const);
  const meta = { 'webtune.train_type': x.trainer.lora ? 'lora' : 'full', optimizer_steps: String(x.trainer.steps) };
  await writeFileAtomic(`${tmp}/adapter.onnx`, writeTensorContainer(new Map(named(values)), meta, 'adapter'));
  if (!x.adamw) return;
  const [m, v] = [await x.trainer.read('m'), await x.trainer.read('v')];
  const moments = new Map<string, { shape: number[]; data: Float32Array | BigInt64Array; doc?: string }>([...named(m, '.exp_avg'), ...named(v, '.exp_avg_sq')]);
  moments.set('step', { shape: [], data: BigInt64Array.of(BigInt(x.trainer.steps)) });
  await writeFileAtomic(`${tmp}/optimizer.onnx`, writeTensorContainer(moments, meta, 'optimizer'));
}

export interface LoadedCheckpoint { state: Record<string, unknown>; rng: { micro: number; optimizer_steps: number; [k: string]: unknown } }

/** Restores trainable values, AdamW moments and counters into `trainer`; returns the saved states. */
export async function loadCheckpoint(dir: string, trainer: LlamaTrainer, adamw: boolean): Promise<LoadedCheckpoint> {
  const file = async (f: string) => {
    if (!(await stat(`${dir}/${f}`))?.isFile) throw new UserError(`--resume_from_checkpoint ${dir}: no ${f} (not a webtune checkpoint, or of another --train_type)`);
    return `${dir}/${f}`;
  };
  const weights = readSafetensors(await readFile(await file(trainer.lora ? 'adapter_model.safetensors' : 'model.safetensors'))).tensors;
  const byName = new Map(trainer.params.map((p) => [hfName(p.name, trainer.config), p.name]));
  const values = new Map<string, Float32Array>();
  for (const [k, t] of weights) if (byName.has(k)) values.set(byName.get(k)!, t.data);
  try { trainer.load('value', values); } catch (e) { throw new UserError(`--resume_from_checkpoint ${dir}: ${(e as Error).message} (another model or --lora_rank/--target_modules?)`); }
  const rng = JSON.parse(await readText(await file('rng_state.json')));
  if (adamw && rng.optimizer_steps > 0) {
    const opt = readSafetensors(await readFile(await file('optimizer.safetensors'))).tensors;
    for (const which of ['m', 'v'] as const) {
      const prefix = which === 'm' ? 'exp_avg/' : 'exp_avg_sq/';
      trainer.load(which, new Map([...opt].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t.data])));
    }
  }
  trainer.steps = rng.optimizer_steps;
  trainer.micro = rng.micro;
  return { state: JSON.parse(await readText(await file('trainer_state.json'))), rng };
}
