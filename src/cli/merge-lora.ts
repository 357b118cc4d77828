// `webtune merge-lora`: a LoRA checkpoint merged into its base model, written as a Hugging Face model directory
// (config.json, generation_config.json, model.safetensors in f32 with Hugging Face names, tokenizer files).
// The directory is built under a temporary name beside --output_dir and renamed into place.
import { Command } from 'commander';
import { readDir, readFile, readText, stat, joinPath, writeStderr, writeStdout } from '../../runtime/platform.ts';
import { mergeLora, resolveCheckpoint } from '../../models/adapters.ts';
import { loadModel } from '../../models/load.ts';
import { isHfModelDir } from '../../models/hf-llama.ts';
import type { LlamaModel } from '../../models/llama.ts';
import { writeSafetensors, type Tensor } from '../../models/safetensors.ts';
import { hfConfigJson, hfName, shapeOf } from '../train/checkpoint.ts';
import { UserError } from '../errors.ts';

interface MergeFlags { adapters: string; model?: string; output_dir: string }

const ARCH: Record<string, string> = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' };
const HF_TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model', 'chat_template.jinja'];

/** Every tensor of `model` under its Hugging Face name. */
export function modelToHfTensors(model: LlamaModel): Map<string, Tensor> {
  const c = model.config, w = model.weights, out = new Map<string, Tensor>();
  const put = (name: string, data: Float32Array | undefined) => { if (data) out.set(hfName(name), { shape: shapeOf(name, c), data }); };
  put('embedTokens', w.embedTokens);
  w.layers.forEach((l, i) => {
    for (const k of ['inputNorm', 'q', 'k', 'v', 'o', 'postNorm', 'gate', 'up', 'down', 'qBias', 'kBias', 'vBias', 'qNorm', 'kNorm'] as const) {
      put(`layers.${i}.${k}`, l[k]);
    }
  });
  put('norm', w.norm);
  if (!c.tieWordEmbeddings) put('lmHead', w.lmHead);
  return out;
}

async function readJson(file: string): Promise<Record<string, unknown> | undefined> {
  if (!(await stat(file))?.isFile) return undefined;
  try { return JSON.parse(await readText(file)); } catch (e) { throw new UserError(`${file}: invalid JSON (${(e as Error).message.split('\n')[0]})`); }
}

export async function mergeLoraToDir(flags: MergeFlags): Promise<{ outDir: string; base: string }> {
  const fs = await import('node:fs/promises');
  const outDir = flags.output_dir.length > 1 ? flags.output_dir.replace(/\/+$/, '') : flags.output_dir;
  const existing = await stat(outDir);
  if (existing && (!existing.isDirectory || (await readDir(outDir)).length > 0)) {
    throw new UserError(`--output_dir ${outDir} already exists and is not empty; choose a new directory`);
  }
  const resolved = await resolveCheckpoint(flags.adapters, flags.model);
  if (!resolved.adapter) {
    throw new UserError(`--adapters ${flags.adapters} is a full-training checkpoint: nothing to merge (use it as --model)`);
  }
  const loaded = await loadModel(resolved.modelPath);
  const model = mergeLora(loaded.model, resolved.adapter);
  const c = model.config, type = c.modelType ?? 'llama', base = resolved.modelPath.replace(/\/+$/, '');
  const hf = (await stat(base))?.isDirectory && await isHfModelDir(base);
  const baseConfig = hf ? await readJson(joinPath(base, 'config.json')) : undefined;
  const config: Record<string, unknown> = { ...(baseConfig ?? hfConfigJson(c)), architectures: [ARCH[type] ?? 'LlamaForCausalLM'], model_type: type, torch_dtype: 'float32' };
  const baseGen = hf ? await readJson(joinPath(base, 'generation_config.json')) : undefined;
  const generation = baseGen ?? { _from_model_config: true, bos_token_id: config.bos_token_id ?? 1, eos_token_id: config.eos_token_id ?? 2 };

  const parent = outDir.includes('/') ? outDir.slice(0, outDir.lastIndexOf('/')) || '/' : '.';
  await fs.mkdir(parent, { recursive: true }).catch((e: Error) => { throw new UserError(`--output_dir ${outDir}: cannot create ${parent} (${e.message.split('\n')[0]})`); });
  const tmp = `${outDir}.tmp-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await fs.mkdir(tmp);
    const json = (f: string, v: unknown) => fs.writeFile(joinPath(tmp, f), `${JSON.stringify(v, null, 2)}\n`);
    await json('config.json', config);
    await json('generation_config.json', generation);
    await fs.writeFile(joinPath(tmp, 'model.safetensors'), writeSafetensors(modelToHfTensors(model), { format: 'pt' }));
    const toks = hf ? HF_TOKENIZER_FILES.map((f) => joinPath(base, f)) : [loaded.tokenizerFile];
    if (hf && loaded.tokenizerFile.endsWith('.bin')) toks.push(loaded.tokenizerFile);  // a webtune checkpoint of a llama2.c import
    for (const f of toks) if ((await stat(f))?.isFile) await fs.writeFile(joinPath(tmp, f.replace(/^.*\//, '')), await readFile(f));
    if (existing) await fs.rmdir(outDir);
    await fs.rename(tmp, outDir);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    if (e instanceof UserError) throw e;
    throw new UserError(`--output_dir ${outDir}: ${(e as Error).message.split('\n')[0]}`);
  }
  return { outDir, base };
}

export function mergeLoraCommand(): Command {
  return new Command('merge-lora')
    .description('merge a LoRA checkpoint into its base model and write a Hugging Face model directory')
    .requiredOption('--adapters <checkpoint>', 'the LoRA checkpoint-N directory written by webtune sft')
    .option('--model <path>', 'the base model (default: the "model" of the run\'s args.json)')
    .requiredOption('--output_dir <dir>', 'where the merged model goes (must not exist or be empty)')
    .action(async (flags: MergeFlags) => {
      const { outDir, base } = await mergeLoraToDir(flags);
      writeStderr(`webtune: merged ${flags.adapters} into ${base}\n`);
      writeStdout(`${outDir}\n`);
    });
}
