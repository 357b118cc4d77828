// `webtune export --to onnx`: a model (llama2.c or Hugging Face directory, optionally with a LoRA checkpoint
// merged in) written as a transformers.js-style folder: config.json, generation_config.json, the tokenizer
// files of the source, onnx/model.onnx + onnx/model.onnx_data. Built under a temporary name and renamed into place.
import { Command } from 'commander';
import { readDir, readFile, readText, stat, joinPath, writeStderr, writeStdout } from '../../runtime/platform.ts';
import { mergeLora, resolveCheckpoint } from '../../models/adapters.ts';
import { loadModel } from '../../models/load.ts';
import { isHfModelDir } from '../../models/hf-llama.ts';
import { exportLlamaOnnx } from '../../models/onnx/export-llama.ts';
import { hfConfigJson } from '../train/checkpoint.ts';
import { UserError } from '../errors.ts';

export interface ExportFlags { model: string; to: string; output_dir: string; adapters?: string; merge_lora?: boolean; dtype?: string }

const ARCH: Record<string, string> = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' };
const HF_TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model', 'chat_template.jinja'];

async function readJson(file: string): Promise<Record<string, unknown> | undefined> {
  if (!(await stat(file))?.isFile) return undefined;
  try { return JSON.parse(await readText(file)); } catch (e) { throw new UserError(`${file}: invalid JSON (${(e as Error).message.split('\n')[0]})`); }
}

export async function exportModel(flags: ExportFlags): Promise<{ outDir: string }> {
  if (flags.to !== 'onnx') throw new UserError(`--to ${flags.to}: unsupported format (supported: onnx)`);
  if ((flags.dtype ?? 'fp32') !== 'fp32') throw new UserError(`--dtype ${flags.dtype}: only fp32 is supported for now`);
  const fs = await import('node:fs/promises');
  const outDir = flags.output_dir.length > 1 ? flags.output_dir.replace(/\/+$/, '') : flags.output_dir;
  const existing = await stat(outDir);
  if (existing && (!existing.isDirectory || (await readDir(outDir)).length > 0)) {
    throw new UserError(`--output_dir ${outDir} already exists and is not empty; choose a new directory`);
  }
  let modelPath = flags.model;
  let adapter;
  if (flags.adapters) {
    const resolved = await resolveCheckpoint(flags.adapters, flags.model);
    modelPath = resolved.modelPath;
    adapter = resolved.adapter;
    if (adapter && !flags.merge_lora) {
      throw new UserError(`--adapters ${flags.adapters}: exporting unmerged LoRA weights is not supported yet; add --merge_lora`);
    }
  }
  const loaded = await loadModel(modelPath);
  const model = adapter ? mergeLora(loaded.model, adapter) : loaded.model;
  const c = model.config, type = c.modelType ?? 'llama', base = modelPath.replace(/\/+$/, '');
  const hf = (await stat(base))?.isDirectory && await isHfModelDir(base);
  const baseConfig = hf ? await readJson(joinPath(base, 'config.json')) : undefined;
  const bos = loaded.tokenizer.bosId >= 0 ? loaded.tokenizer.bosId : (baseConfig?.bos_token_id ?? 1);
  const eos = loaded.tokenizer.eosId >= 0 ? loaded.tokenizer.eosId : (baseConfig?.eos_token_id ?? 2);
  const config: Record<string, unknown> = {
    ...(baseConfig ?? hfConfigJson(c)),
    architectures: [ARCH[type] ?? 'LlamaForCausalLM'], model_type: type, torch_dtype: 'float32',
    num_hidden_layers: c.numLayers, num_attention_heads: c.numHeads, num_key_value_heads: c.numKvHeads, head_dim: c.headDim,
    hidden_size: c.hiddenSize, vocab_size: c.vocabSize, bos_token_id: bos, eos_token_id: eos, use_cache: true,
    'transformers.js_config': { dtype: 'fp32', use_external_data_format: true },
  };
  const baseGen = hf ? await readJson(joinPath(base, 'generation_config.json')) : undefined;
  const generation = baseGen ?? { _from_model_config: true, bos_token_id: bos, eos_token_id: eos };
  let onnxFiles;
  try {
    onnxFiles = exportLlamaOnnx(model, 'model.onnx_data');
  } catch (e) {
    throw new UserError(`--model ${flags.model}: cannot export to ONNX (${(e as Error).message})`);
  }

  const parent = outDir.includes('/') ? outDir.slice(0, outDir.lastIndexOf('/')) || '/' : '.';
  await fs.mkdir(parent, { recursive: true }).catch((e: Error) => { throw new UserError(`--output_dir ${outDir}: cannot create ${parent} (${e.message.split('\n')[0]})`); });
  const tmp = `${outDir}.tmp-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await fs.mkdir(joinPath(tmp, 'onnx'), { recursive: true });
    const json = (f: string, v: unknown) => fs.writeFile(joinPath(tmp, f), `${JSON.stringify(v, null, 2)}\n`);
    await json('config.json', config);
    await json('generation_config.json', generation);
    await fs.writeFile(joinPath(tmp, 'onnx/model.onnx_data'), onnxFiles.data);
    await fs.writeFile(joinPath(tmp, 'onnx/model.onnx'), onnxFiles.model);
    const toks = hf ? HF_TOKENIZER_FILES.map((f) => joinPath(base, f)) : [loaded.tokenizerFile];
    for (const f of toks) if ((await stat(f))?.isFile) await fs.writeFile(joinPath(tmp, f.replace(/^.*\//, '')), await readFile(f));
    if (existing) await fs.rmdir(outDir);
    await fs.rename(tmp, outDir);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    if (e instanceof UserError) throw e;
    throw new UserError(`--output_dir ${outDir}: ${(e as Error).message.split('\n')[0]}`);
  }
  return { outDir };
}

export function exportCommand(): Command {
  return new Command('export')
    .description('export a model as an ONNX folder (onnx/model.onnx + external data, config.json) for onnxruntime and transformers.js')
    .requiredOption('--model <path>', 'a llama2.c model directory or file, or a Hugging Face model directory')
    .option('--adapters <checkpoint>', 'a checkpoint-N directory written by webtune sft (LoRA needs --merge_lora)')
    .option('--merge_lora', 'merge the LoRA weights of --adapters into the base weights')
    .option('--to <format>', 'output format', 'onnx')
    .option('--dtype <dtype>', 'weight precision (fp32)', 'fp32')
    .requiredOption('--output_dir <dir>', 'where the export goes (must not exist or be empty)')
    .action(async (flags: ExportFlags) => {
      const { outDir } = await exportModel(flags);
      writeStderr(`webtune: exported ${flags.model} to ${joinPath(outDir, 'onnx/model.onnx')}\n`);
      writeStdout(`${outDir}\n`);
    });
}
