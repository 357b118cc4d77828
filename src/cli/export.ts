// `webtune export --to onnx`: a model (llama2.c or Hugging Face directory, optionally with a LoRA checkpoint
// merged in) written as a transformers.js-style folder: config.json, generation_config.json, the tokenizer
// files of the source, onnx/model.onnx + onnx/model.onnx_data. Built under a temporary name and renamed into place.
import { Command } from 'commander';
import { joinPath, writeStderr, writeStdout } from '../../runtime/platform.ts';
import { mergeLora, resolveCheckpoint } from '../../models/adapters.ts';
import { loadModel } from '../../models/load.ts';
import { checkOutputDir, HF_ARCHITECTURES, sourceFiles, writeModelDir } from '../../models/model-dir.ts';
import { exportLlamaOnnx } from '../../models/onnx/export-llama.ts';
import { hfConfigJson } from '../train/checkpoint.ts';
import { UserError } from '../errors.ts';

export interface ExportFlags { model: string; to: string; output_dir: string; adapters?: string; merge_lora?: boolean; dtype?: string }


export async function exportModel(flags: ExportFlags): Promise<{ outDir: string }> {
  if (flags.to !== 'onnx') throw new UserError(`--to ${flags.to}: unsupported format (supported: onnx)`);
  if ((flags.dtype ?? 'fp32') !== 'fp32') throw new UserError(`--dtype ${flags.dtype}: only fp32 is supported for now`);
  const outDir = await checkOutputDir(flags.output_dir);
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
  const c = model.config, type = c.modelType ?? 'llama';
  const src = await sourceFiles(modelPath, loaded);
  const bos = loaded.tokenizer.bosId >= 0 ? loaded.tokenizer.bosId : (src.config?.bos_token_id ?? 1);
  const eos = loaded.tokenizer.eosId >= 0 ? loaded.tokenizer.eosId : (src.config?.eos_token_id ?? 2);
  const config: Record<string, unknown> = {
    ...(src.config ?? hfConfigJson(c)),
    architectures: [HF_ARCHITECTURES[type] ?? 'LlamaForCausalLM'], model_type: type, torch_dtype: 'float32',
    num_hidden_layers: c.numLayers, num_attention_heads: c.numHeads, num_key_value_heads: c.numKvHeads, head_dim: c.headDim,
    hidden_size: c.hiddenSize, vocab_size: c.vocabSize, bos_token_id: bos, eos_token_id: eos, use_cache: true,
    'transformers.js_config': { dtype: 'fp32', use_external_data_format: true },
  };
  const generation = src.generation ?? { _from_model_config: true, bos_token_id: bos, eos_token_id: eos };
  let onnxFiles;
  try {
    onnxFiles = exportLlamaOnnx(model, 'model.onnx_data');
  } catch (e) {
    throw new UserError(`--model ${flags.model}: cannot export to ONNX (${(e as Error).message})`);
  }
  await writeModelDir(outDir, {
    'config.json': config,
    'generation_config.json': generation,
    'onnx/model.onnx_data': onnxFiles.data,
    'onnx/model.onnx': onnxFiles.model,
  }, src.tokenizerFiles);
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
