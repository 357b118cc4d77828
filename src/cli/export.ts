// `webtune export --to onnx`: a model (llama2.c or Hugging Face directory, optionally with a LoRA checkpoint,
// merged in or kept as separate initializers) written as a transformers.js-ready folder: config.json,
// generation_config.json, tokenizer.json + tokenizer_config.json (converted from a llama2.c vocabulary, whose
// tok*.bin is kept too), onnx/model.onnx and/or onnx/model_fp16.onnx with their external data (split past 2 GiB).
// Built under a temporary name and renamed into place.
import { Command } from 'commander';
import { joinPath, readFile, writeStderr, writeStdout } from '../../runtime/platform.ts';
import { mergeLora, resolveCheckpoint } from '../../models/adapters.ts';
import { loadModel, MODEL_KINDS } from '../../models/load.ts';
import { generationConfigFor, hfConfigFor } from '../../models/hf-llama.ts';
import { checkOutputDir, sourceFiles, writeModelDir } from '../../models/model-dir.ts';
import { exportLlamaOnnx, type OnnxDtype } from '../../models/onnx/export-llama.ts';
import { convertLlama2cTokenizer } from '../../models/hf/llama2c-to-json.ts';
import { UserError } from '../../core/errors.ts';

export interface ExportFlags {
  model?: string; to: string; output_dir: string; adapters?: string; merge_lora?: boolean; dtype?: string | string[];
  /** tests: external data files start anew past this many bytes (default 2 GiB) */
  maxFileBytes?: number;
}

const DTYPES: Record<OnnxDtype, string> = { fp32: 'model.onnx', fp16: 'model_fp16.onnx' };

/** --dtype fp32 | fp16 | "fp32 fp16" (or fp32,fp16): the variants to write, fp32 first. */
function parseDtypes(v: string | string[] | undefined): OnnxDtype[] {
  const names = (Array.isArray(v) ? v : [v ?? 'fp32']).flatMap((s) => s.split(/[\s,]+/)).filter(Boolean);
  const bad = names.find((n) => !(n in DTYPES));
  if (bad !== undefined || names.length === 0) throw new UserError(`--dtype ${bad ?? ''}: unsupported (supported: fp32, fp16, or both)`);
  return (Object.keys(DTYPES) as OnnxDtype[]).filter((d) => names.includes(d));
}

export async function exportModel(flags: ExportFlags): Promise<{ outDir: string }> {
  if (flags.to !== 'onnx') throw new UserError(`--to ${flags.to}: unsupported format (supported: onnx)`);
  const dtypes = parseDtypes(flags.dtype);
  if (!flags.model && !flags.adapters) throw new UserError('--model: required (or --adapters with a checkpoint whose args.json names the base model)');
  const outDir = await checkOutputDir(flags.output_dir);
  let modelPath = flags.model ?? '';
  let adapter;
  if (flags.adapters) {
    const resolved = await resolveCheckpoint(flags.adapters, flags.model);
    modelPath = resolved.modelPath;
    adapter = resolved.adapter;
  }
  const loaded = await loadModel(modelPath);
  const model = adapter && flags.merge_lora ? mergeLora(loaded.model, adapter) : loaded.model;
  const lora = adapter && !flags.merge_lora ? adapter : undefined;
  const c = model.config;
  const src = await sourceFiles(modelPath, loaded);

  const files: Record<string, Uint8Array | object> = {};
  const chunks: Record<string, number> = {};
  for (const dtype of dtypes) {
    const name = DTYPES[dtype];
    let onnxFiles;
    try {
      onnxFiles = exportLlamaOnnx(model, `${name}_data`, { dtype, lora, maxFileBytes: flags.maxFileBytes });
    } catch (e) {
      throw new UserError(`--model ${modelPath}: cannot export to ONNX (${(e as Error).message})`);
    }
    for (const f of onnxFiles.files) files[`onnx/${f.name}`] = f.bytes;
    files[`onnx/${name}`] = onnxFiles.model;
    chunks[name] = onnxFiles.files.length;
  }
  const counts = new Set(Object.values(chunks));
  // the source's config.json field for field (or one made for a llama2.c import), plus what transformers.js reads: the
  // default dtype, and how many external data files each model has (model.onnx_data, _1, …)
  const config: Record<string, unknown> = {
    ...hfConfigFor(model, dtypes[0] === 'fp16' ? 'float16' : 'float32', { bos: loaded.tokenizer.bosId, eos: loaded.tokenizer.eosId }),
    'transformers.js_config': { dtype: dtypes[0], use_external_data_format: counts.size === 1 ? [...counts][0] : chunks },
  };
  if (lora) config.lora = { r: lora.r, lora_alpha: lora.alpha, scale: lora.scale, target_modules: lora.targets, merged: false };
  const generation = src.generation ?? generationConfigFor(config);

  let copy = src.tokenizerFiles;
  if (loaded.tokenizer.kind === 'llama2c') {
    // a llama2.c vocabulary: an equivalent tokenizer.json for transformers.js (the tok*.bin is kept beside it)
    try {
      const converted = convertLlama2cTokenizer(await readFile(loaded.tokenizerFile),
        { vocabSize: loaded.tokenizer.vocabSize, modelMaxLength: c.maxPositionEmbeddings, name: loaded.tokenizerFile });
      files['tokenizer.json'] = converted.tokenizerJson;
      files['tokenizer_config.json'] = converted.tokenizerConfig;
      copy = copy.filter((f) => !/(^|\/)(tokenizer\.json|tokenizer_config\.json)$/.test(f));
    } catch (e) {
      writeStderr(`webtune: warning: no tokenizer.json written (${(e as Error).message}); transformers.js cannot load this folder's tokenizer\n`);
    }
  }
  files['config.json'] = config;
  files['generation_config.json'] = generation;
  await writeModelDir(outDir, files, copy);
  return { outDir };
}

export function exportCommand(): Command {
  return new Command('export')
    .description('export a model as an ONNX folder (onnx/model.onnx + external data, config.json, tokenizer.json) for onnxruntime and transformers.js')
    .option('--model <path>', `the model (default with --adapters: the run's base model): ${MODEL_KINDS}`)
    .option('--adapters <checkpoint>', 'a checkpoint-N directory written by webtune sft (LoRA: kept as separate lora_A/lora_B initializers unless --merge_lora)')
    .option('--merge_lora', 'merge the LoRA weights of --adapters into the base weights')
    .option('--to <format>', 'output format (onnx is the only one)', 'onnx')
    .option('--dtype <dtype...>', 'weight precision: fp32 (onnx/model.onnx), fp16 (onnx/model_fp16.onnx), or both', ['fp32'])
    .requiredOption('--output_dir <dir>', 'where the export goes (must not exist or be empty)')
    .action(async (flags: ExportFlags) => {
      const { outDir } = await exportModel(flags);
      const names = parseDtypes(flags.dtype).map((d) => joinPath(outDir, `onnx/${DTYPES[d]}`));
      writeStderr(`webtune: exported ${flags.model ?? flags.adapters} to ${names.join(', ')}\n`);
      writeStdout(`${outDir}\n`);
    });
}
