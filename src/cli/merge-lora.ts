// `webtune merge-lora`: a LoRA checkpoint merged into its base model, written as a Hugging Face model directory
// (config.json, generation_config.json, model.safetensors in f32 with Hugging Face names, tokenizer files).
// The directory is built under a temporary name beside --output_dir and renamed into place.
import { Command } from 'commander';
import { writeStderr, writeStdout } from '../../runtime/platform.ts';
import { mergeLora, resolveCheckpoint } from '../../models/adapters.ts';
import { loadModel, MODEL_KINDS } from '../../models/load.ts';
import { generationConfigFor, hfConfigFor, modelToHfTensors } from '../../models/hf-llama.ts';
import { checkOutputDir, sourceFiles, writeModelDir } from '../../models/model-dir.ts';
import { writeSafetensors } from '../../models/safetensors.ts';
import { UserError } from '../../core/errors.ts';

interface MergeFlags { adapters: string; model?: string; output_dir: string }


export { modelToHfTensors };  // build-edge and tests import it from here

export async function mergeLoraToDir(flags: MergeFlags): Promise<{ outDir: string; base: string }> {
  const outDir = await checkOutputDir(flags.output_dir);
  const resolved = await resolveCheckpoint(flags.adapters, flags.model);
  if (!resolved.adapter) {
    throw new UserError(`--adapters ${flags.adapters} is a full-training checkpoint: nothing to merge (use it as --model)`);
  }
  const loaded = await loadModel(resolved.modelPath);
  const model = mergeLora(loaded.model, resolved.adapter);
  const src = await sourceFiles(resolved.modelPath, loaded);
  // the base's config.json field for field (weights now f32), or one made for a llama2.c import
  const config = hfConfigFor(model, 'float32', { bos: loaded.tokenizer.bosId, eos: loaded.tokenizer.eosId });
  const generation = src.generation ?? generationConfigFor(config);
  await writeModelDir(outDir, {
    'config.json': config,
    'generation_config.json': generation,
    'model.safetensors': writeSafetensors(modelToHfTensors(model), { format: 'pt' }),
  }, src.tokenizerFiles);
  return { outDir, base: src.base };
}

export function mergeLoraCommand(): Command {
  return new Command('merge-lora')
    .description('merge a LoRA checkpoint into its base model and write a Hugging Face model directory')
    .requiredOption('--adapters <checkpoint>', 'the LoRA checkpoint-N directory written by webtune sft')
    .option('--model <path>', `the base model (default: the "model" of the run's args.json): ${MODEL_KINDS}`)
    .requiredOption('--output_dir <dir>', 'where the merged model goes (must not exist or be empty)')
    .action(async (flags: MergeFlags) => {
      const { outDir, base } = await mergeLoraToDir(flags);
      writeStderr(`webtune: merged ${flags.adapters} into ${base}\n`);
      writeStdout(`${outDir}\n`);
    });
}
