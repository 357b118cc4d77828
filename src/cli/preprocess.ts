// `webtune preprocess`: datasets → exact input_ids and labels (JSON Lines), with a summary on stderr. The output is
// for training many times from one tokenization: `sft --dataset encoded.jsonl` reads it back.
import { Command } from 'commander';
import { writeStderr } from '../../runtime/platform.ts';
import type { ChatTokenizer } from '../data/chat-tokenizer.ts';
import { resolveMaxLength, type ModelLimits } from '../data/context-limit.ts';
import { encodeOptionsOf, type DataArgs } from '../data/data-args.ts';
import { loadChatTokenizer } from '../data/model-tokenizer.ts';
import { preprocess } from '../data/preprocess.ts';
import { UserError } from '../../core/errors.ts';
import { findModelTokenizer, MODEL_KINDS } from '../../models/load.ts';
import { addDataFlags, debugPrinter } from './data-flags.ts';
import { intFlag } from './options.ts';

interface PreprocessFlags extends DataArgs {
  model?: string;
  output?: string;
  val_output?: string;
  seed: number;
}

/** --model's chat tokenizer, context and vocabulary, through the loader every command uses (no weights are read):
 * config.json or a llama2.c header gives the limits; a tokenizer-only directory has none. */
async function dataModel(model: string): Promise<{ tok: ChatTokenizer; limits: ModelLimits }> {
  const src = await findModelTokenizer(model);
  return { tok: await loadChatTokenizer(model), limits: { context: src.contextLength, vocabSize: src.vocabSize } };
}

export function preprocessCommand(): Command {
  const cmd = new Command('preprocess')
    .description('encode SFT datasets into input_ids and labels with the model\'s chat template (JSON Lines out, summary on stderr)')
    .option('--model <path>', `the model whose tokenizer and chat template encode the rows (weights are not read): ${MODEL_KINDS}; ` +
      'or a tokenizer directory (tokenizer.json + tokenizer_config.json; config.json, if present, gives the context)');
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
