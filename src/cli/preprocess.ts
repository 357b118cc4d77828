// `webtune preprocess`: datasets → exact input_ids and labels (JSON Lines), with a summary on stderr. The output is
// for training many times from one tokenization: `sft --dataset encoded.jsonl` reads it back.
import { Command } from 'commander';
import { joinPath, readDir, stat, writeStderr } from '../../runtime/platform.ts';
import type { ChatTokenizer } from '../data/chat-tokenizer.ts';
import { readModelLimits, resolveMaxLength, type ModelLimits } from '../data/context-limit.ts';
import { encodeOptionsOf, type DataArgs } from '../data/data-args.ts';
import { loadChatTokenizer } from '../data/model-tokenizer.ts';
import { preprocess } from '../data/preprocess.ts';
import { UserError } from '../errors.ts';
import { loadModelSource } from '../train/model-source.ts';
import { addDataFlags, debugPrinter } from './data-flags.ts';
import { intFlag } from './options.ts';

interface PreprocessFlags extends DataArgs {
  model?: string;
  output?: string;
  val_output?: string;
  seed: number;
}

/** --model's tokenizer, context and vocabulary: a tokenizer.json directory (config.json, if any, gives the limits), or
 * a llama2.c checkpoint directory (tok*.bin; the header gives them), so any model sft trains can be preprocessed. */
async function dataModel(dir: string): Promise<{ tok: ChatTokenizer; limits: ModelLimits }> {
  const llama2c = (await stat(dir))?.isDirectory && !(await stat(joinPath(dir, 'tokenizer.json')))?.isFile &&
    (await readDir(dir)).some((n) => n.endsWith('.bin'));
  if (!llama2c) return { tok: await loadChatTokenizer(dir), limits: await readModelLimits(dir) };
  const src = await loadModelSource(dir);
  return { tok: src.tok, limits: { context: src.model.config.maxPositionEmbeddings, vocabSize: src.model.config.vocabSize } };
}

export function preprocessCommand(): Command {
  const cmd = new Command('preprocess')
    .description('encode SFT datasets into input_ids and labels with the model\'s chat template (JSON Lines out, summary on stderr)')
    .option('--model <dir>', 'model or tokenizer directory: tokenizer.json + tokenizer_config.json (its chat_template is used; ' +
      'config.json, if present, gives the context), or a llama2.c checkpoint directory');
  return addDataFlags(cmd)
    .option('--output <file>', 'where to write the encoded training rows (JSON Lines)')
    .option('--val_output <file>', 'where to write validation rows (default: the output name with .val before the extension)')
    .option('--seed <n>', 'seed for shuffling and sampling', intFlag(0, 0xffffffff), 42)
    .action(async (flags: PreprocessFlags) => {
      if (!flags.model) throw new UserError('preprocess: --model is required (a model or tokenizer directory)');
      if (!flags.dataset?.length) throw new UserError('preprocess: --dataset is required');
      if (!flags.output) throw new UserError('preprocess: --output is required');
      const encode = encodeOptionsOf(flags);
      const { tok, limits } = await dataModel(flags.model);
      const len = resolveMaxLength({ maxLength: flags.max_length, context: limits.context, ignoreContextLimit: flags.ignore_context_limit, model: flags.model });
      if (len.warning) writeStderr(`webtune: warning: ${len.warning}\n`);
      const show = debugPrinter(flags);
      const start = performance.now();
      const res = await preprocess(tok, {
        ...encode, maxLength: len.maxLength, vocabSize: limits.vocabSize, lengthLimit: { defaultFrom: len.defaultFrom, context: limits.context },
        datasets: flags.dataset, valDatasets: flags.val_dataset, output: flags.output, valOutput: flags.val_output,
        seed: flags.seed, shuffle: flags.dataset_shuffle, splitDatasetRatio: flags.split_dataset_ratio, packing: flags.packing,
        onRow: show && ((r, i) => show(tok, r, i)),
      });
      const secs = (performance.now() - start) / 1000;
      writeStderr(`webtune: preprocess: ${tok.name}, template ${flags.template ?? (tok.chatTemplate ? "the model's chat_template" : 'default (the model has none)')}, ${secs.toFixed(1)} s\n`);
      for (const line of res.summary) writeStderr(`webtune: ${line}\n`);
      for (const w of res.warnings) writeStderr(`webtune: warning: ${w}\n`);
    });
}
