// Using a fine-tuned checkpoint: a LoRA checkpoint (adapter_config.json + adapter_model.safetensors with PEFT's key
// names) merged into its base model in memory, W' = W + scale·B·A with PEFT's scale (lora_alpha / r, or
// lora_alpha / √r with use_rslora), or a full-training checkpoint, which is itself a model directory. The base model
// comes from --model or from the run's args.json (in the checkpoint or its parent, the run directory).
import { isHubId } from './hub.ts';
import { dirname, isAbsolutePath, normalizePath, readFile, readText, resolvePath, stat, joinPath } from '../runtime/platform.ts';
import { UserError } from '../core/errors.ts';
import { isHfModelDir } from './hf-llama.ts';
import type { LlamaConfig, LlamaModel } from './llama.ts';
import { loadModel, type LoadedModel } from './load.ts';
import { allLoraTargets, FAMILIES } from './families/index.ts';
import { parsePeftKey } from './families/tensors.ts';
import type { TargetModule } from './lora.ts';
import { readSafetensors, type Tensor } from './safetensors.ts';

export { mergeLora, type LoraAdapterFile } from './lora-merge.ts';
import { mergeLora, type LoraAdapterFile } from './lora-merge.ts';

/** The layer and module of a PEFT LoRA key in the layout of any registered family (the model, and so its family, is
 *  not known yet when an adapter is read; mergeLora checks the module against the model's family). */
const peftKey = (key: string) => FAMILIES.map((f) => parsePeftKey(f, key)).find(Boolean);
const isFile = async (p: string) => Boolean((await stat(p))?.isFile);
const trimSlash = (p: string) => p.length > 1 ? p.replace(/\/+$/, '') : p;

/** Reads and checks a LoRA checkpoint directory; every problem is one line naming the file. */
export async function readLoraAdapter(dir: string): Promise<LoraAdapterFile> {
  dir = trimSlash(dir);
  if (!(await stat(dir))?.isDirectory) throw new UserError(`--adapters ${dir}: no such directory`);
  const cfgFile = joinPath(dir, 'adapter_config.json'), wFile = joinPath(dir, 'adapter_model.safetensors');
  if (!(await isFile(cfgFile))) throw new UserError(`${cfgFile}: missing (not a LoRA checkpoint)`);
  if (!(await isFile(wFile))) throw new UserError(`${wFile}: missing (the adapter weights are not there)`);
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(await readText(cfgFile));
    if (!cfg || typeof cfg !== 'object' || Array.isArray(cfg)) throw new Error('not a JSON object');
  } catch (e) {
    throw new UserError(`${cfgFile}: invalid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const bad = (what: string): never => { throw new UserError(`${cfgFile}: ${what}`); };
  if (cfg.peft_type !== undefined && cfg.peft_type !== 'LORA') bad(`peft_type ${JSON.stringify(cfg.peft_type)} is not supported (only LORA)`);
  const r = cfg.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1) bad(`r must be a positive integer (got ${JSON.stringify(r)})`);
  const alpha = cfg.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) bad(`lora_alpha must be a number (got ${JSON.stringify(alpha)})`);
  if (cfg.fan_in_fan_out === true) bad('fan_in_fan_out true is not supported (Llama-family linear weights are [out, in])');
  if (cfg.use_dora === true) bad('use_dora is not supported');
  for (const k of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = cfg[k];
    if (v && typeof v === 'object' && Object.keys(v).length) bad(`${k} is not supported (per-module ranks)`);
  }
  const rawTargets = cfg.target_modules;
  const names = typeof rawTargets === 'string' ? [rawTargets] : Array.isArray(rawTargets) ? rawTargets.map(String) : bad('target_modules is missing');
  const known = allLoraTargets();
  const targets = names.includes('all-linear') ? known : names;
  const unknown = targets.filter((n) => !known.includes(n));
  if (unknown.length) bad(`unknown target_modules ${unknown.join(', ')}; valid: all-linear or ${known.join(', ')}`);
  const scale = (alpha as number) / (cfg.use_rslora === true ? Math.sqrt(r as number) : (r as number));

  let tensors: Map<string, Tensor>;
  try {
    tensors = readSafetensors(await readFile(wFile)).tensors;
  } catch (e) {
    throw new UserError(`${wFile}: ${(e as Error).message.split('\n')[0]}`);
  }
  const layers = new Map<number, Map<TargetModule, { A?: Tensor; B?: Tensor }>>();
  for (const [key, t] of tensors) {
    const hit = peftKey(key);
    if (!hit) {
      throw new UserError(/\.lora_[AB](?:\.default)?\.weight$/.test(key)
        ? `${wFile}: tensor ${key} targets an unknown module; valid: ${allLoraTargets().join(', ')}`
        : `${wFile}: unexpected tensor ${key} (expected PEFT LoRA keys base_model.model.model.layers.N.….lora_A/B.weight)`);
    }
    const { layer: i, module: mod, ab } = hit;
    if (!targets.includes(mod)) throw new UserError(`${wFile}: tensor ${key} is for ${mod}, which is not in adapter_config.json's target_modules`);
    const rankDim = ab === 'A' ? t.shape[0] : t.shape[1];
    if (t.shape.length !== 2 || rankDim !== r) {
      throw new UserError(`${wFile}: tensor ${key} has shape [${t.shape.join(', ')}], which does not match r = ${r} in adapter_config.json`);
    }
    const layer = layers.get(i) ?? new Map();
    layers.set(i, layer);
    const pair = layer.get(mod) ?? {};
    pair[ab] = t;
    layer.set(mod, pair);
  }
  if (layers.size === 0) throw new UserError(`${wFile}: no LoRA tensors`);
  for (const [i, layer] of layers) {
    for (const [mod, p] of layer) {
      if (!p.A || !p.B) throw new UserError(`${wFile}: layer ${i} ${mod} has lora_${p.A ? 'A' : 'B'} but no lora_${p.A ? 'B' : 'A'}`);
    }
  }
  const base = typeof cfg.base_model_name_or_path === 'string' ? cfg.base_model_name_or_path : undefined;
  return { dir, r: r as number, alpha: alpha as number, scale, targets, baseModel: base,
    layers: layers as LoraAdapterFile['layers'] };
}

export interface ResolvedCheckpoint {
  kind: 'lora' | 'full';
  /** the base model path (LoRA) or the checkpoint itself (full) */
  modelPath: string;
  /** where modelPath came from: --model, args.json or adapter_config.json */
  modelFrom: string;
  adapter?: LoraAdapterFile;
}

/**
 * The local path of the base model a run's args.json names, or undefined when there is none. webtune stores it
 * absolute; older runs stored it as typed, relative to the folder sft ran in. That folder is the run directory less
 * the run's output_dir (RUN = CWD/OUTPUT_DIR/vN-…), so such a path is found from any folder; the current folder is
 * tried last, as before.
 */
async function baseModelIn(args: { model: string; output_dir?: unknown }, runDir: string): Promise<string | undefined> {
  if (isAbsolutePath(args.model)) return (await stat(args.model)) ? args.model : undefined;
  const sftCwds: string[] = [];
  const out = typeof args.output_dir === 'string' ? normalizePath(args.output_dir).replace(/(.)\/+$/, '$1') : undefined;
  if (out && !isAbsolutePath(out) && !out.split('/').includes('..')) {
    const outputDir = dirname(resolvePath(runDir));
    if (out === '.') sftCwds.push(outputDir);
    else if (outputDir.endsWith(`/${out}`)) sftCwds.push(outputDir.slice(0, -out.length - 1) || '/');
  }
  for (const cwd of [...sftCwds, '.']) {
    const p = resolvePath(cwd, args.model);
    if (await stat(p)) return p;
  }
  return undefined;
}

/** What --adapters CKPT names: a LoRA checkpoint and its base model, or a full-training checkpoint. */
export async function resolveCheckpoint(ckpt: string, model?: string): Promise<ResolvedCheckpoint> {
  ckpt = trimSlash(ckpt);
  if (!(await stat(ckpt))?.isDirectory) throw new UserError(`--adapters ${ckpt}: no such directory`);
  if (!(await isFile(joinPath(ckpt, 'adapter_config.json'))) && await isHfModelDir(ckpt)) {
    return { kind: 'full', modelPath: ckpt, modelFrom: ckpt };
  }
  const adapter = await readLoraAdapter(ckpt);
  if (model) return { kind: 'lora', modelPath: model, modelFrom: '--model', adapter };
  const parent = ckpt.includes('/') ? ckpt.slice(0, ckpt.lastIndexOf('/')) || '/' : '.';
  for (const f of [joinPath(ckpt, 'args.json'), joinPath(parent, 'args.json')]) {
    if (!(await isFile(f))) continue;
    let args: { model?: unknown };
    try { args = JSON.parse(await readText(f)); } catch (e) { throw new UserError(`${f}: invalid JSON (${(e as Error).message.split('\n')[0]})`); }
    if (typeof args?.model !== 'string' || !args.model) throw new UserError(`${f}: no "model" entry; pass --model`);
    const local = await baseModelIn(args as { model: string; output_dir?: unknown }, parent);  // checkpoints sit in the run directory
    if (!local && !isHubId(args.model)) throw new UserError(`${f}: the base model ${args.model} is not there; pass --model`);
    return { kind: 'lora', modelPath: local ?? args.model, modelFrom: f, adapter };
  }
  // PEFT's base_model_name_or_path: a local directory, or a hub id (downloaded when loaded)
  if (adapter.baseModel && (await stat(adapter.baseModel) || isHubId(adapter.baseModel))) {
    return { kind: 'lora', modelPath: adapter.baseModel, modelFrom: joinPath(ckpt, 'adapter_config.json'), adapter };
  }
  throw new UserError(`--adapters ${ckpt}: no args.json beside the checkpoint names the base model; pass --model`);
}

export interface LoadedWithAdapters extends LoadedModel { resolved: ResolvedCheckpoint; config: LlamaConfig }

/** Loads the model a checkpoint describes, with a LoRA adapter merged in. */
export async function loadWithAdapters(ckpt: string, opts: { model?: string; tokenizer?: string } = {}): Promise<LoadedWithAdapters> {
  const resolved = await resolveCheckpoint(ckpt, opts.model);
  const loaded = await loadModel(resolved.modelPath, { tokenizer: opts.tokenizer });
  const model = resolved.adapter ? mergeLora(loaded.model, resolved.adapter) : loaded.model;
  return { ...loaded, model, resolved, config: model.config };
}
