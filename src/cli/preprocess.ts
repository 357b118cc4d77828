// `webtune preprocess`: datasets → exact input_ids and labels (JSON Lines), with a summary on stderr.
import { Command, InvalidArgumentError, Option } from 'commander';
import { writeStderr } from '../../runtime/platform.ts';
import { debugRow } from '../data/debug-view.ts';
import { loadChatTokenizer } from '../data/model-tokenizer.ts';
import { preprocess } from '../data/preprocess.ts';
import { bilingual } from '../data/self-cognition.ts';
import { BUILTIN_NAMES } from '../data/templates/chat-format.ts';
import { LOSS_SCALES, type LossScale } from '../data/templates/spans.ts';
import { TRUNCATION_STRATEGIES, type TruncationStrategy } from '../data/truncate.ts';
import { UserError } from '../errors.ts';
import { floatFlag, intFlag } from './options.ts';
import { MODEL_KINDS } from '../../models/load.ts';

interface PreprocessFlags {
  model?: string;
  dataset?: string[];
  val_dataset?: string[];
  output?: string;
  val_output?: string;
  template?: string;
  system?: string;
  max_length?: number;
  truncation_strategy: TruncationStrategy;
  loss_scale: LossScale;
  model_name?: string[];
  model_author?: string[];
  seed: number;
  dataset_shuffle: boolean;
  split_dataset_ratio: number;
  packing: boolean;
  skip_bad_rows: boolean;
  debug?: number | boolean;
}

const boolFlag = (v: string): boolean => {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new InvalidArgumentError('expected true or false.');
};

export function preprocessCommand(): Command {
  return new Command('preprocess')
    .description('encode SFT datasets into input_ids and labels with the model\'s chat template (JSON Lines out, summary on stderr)')
    .option('--model <path>', `the model whose tokenizer and chat template encode the rows (weights are not read): ${MODEL_KINDS}; ` +
      'or a tokenizer directory (tokenizer.json + tokenizer_config.json)')
    .option('--dataset <files...>', 'dataset files (.jsonl, .json, .csv, .txt); FILE#N samples N rows (repeating the file if N is larger)')
    .option('--val_dataset <files...>', 'validation dataset files, encoded the same way')
    .option('--output <file>', 'where to write the encoded training rows (JSON Lines)')
    .option('--val_output <file>', 'where to write validation rows (default: the output name with .val before the extension)')
    .addOption(new Option('--template <name>', 'built-in chat template instead of the model\'s own').choices(BUILTIN_NAMES))
    .option('--system <text>', 'system prompt for rows without one (replaces the template\'s default system prompt)')
    .option('--max_length <n>', 'longest encoded row, in tokens (default: no limit)', intFlag(1))
    .addOption(new Option('--truncation_strategy <s>', 'rows longer than --max_length: delete them, or cut tokens from the left or right')
      .choices(TRUNCATION_STRATEGIES).default('delete'))
    .addOption(new Option('--loss_scale <s>', 'which tokens are trained: every assistant answer (default), the last one only (last_round), or all')
      .choices(LOSS_SCALES).default('default'))
    .option('--model_name <names...>', 'self-cognition: the model\'s name, Chinese then English (fills {{NAME}} / {{name}})')
    .option('--model_author <names...>', 'self-cognition: the model\'s author, Chinese then English (fills {{AUTHOR}} / {{author}})')
    .option('--seed <n>', 'seed for shuffling and sampling', intFlag(0, 0xffffffff), 42)
    .option('--dataset_shuffle <bool>', 'shuffle the training rows', boolFlag, true)
    .option('--split_dataset_ratio <r>', 'share of the training rows held out for validation', floatFlag(0, 1), 0)
    .option('--packing', 'pack several rows into each sequence of --max_length tokens', false)
    .option('--skip_bad_rows', 'skip bad rows (counted per reason) instead of stopping at the first', false)
    .option('--debug [rows]', 'print the first rows (default 3) with their trained tokens highlighted', intFlag(1))
    .action(async (flags: PreprocessFlags) => {
      if (!flags.model) throw new UserError('preprocess: --model is required (a model or tokenizer directory)');
      if (!flags.dataset?.length) throw new UserError('preprocess: --dataset is required');
      if (!flags.output) throw new UserError('preprocess: --output is required');
      const identity = { name: bilingual('model_name', flags.model_name), author: bilingual('model_author', flags.model_author) };
      const tok = await loadChatTokenizer(flags.model);
      const debugRows = flags.debug === true ? 3 : flags.debug || 0;
      const color = !!(globalThis as { process?: NodeJS.Process }).process?.stderr?.isTTY;
      const start = performance.now();
      const res = await preprocess(tok, {
        datasets: flags.dataset, valDatasets: flags.val_dataset, output: flags.output, valOutput: flags.val_output,
        template: flags.template, system: flags.system, maxLength: flags.max_length, truncationStrategy: flags.truncation_strategy,
        lossScale: flags.loss_scale, identity, seed: flags.seed, shuffle: flags.dataset_shuffle,
        splitDatasetRatio: flags.split_dataset_ratio, packing: flags.packing, skipBadRows: flags.skip_bad_rows,
        onRow: debugRows ? (r, i) => { if (i < debugRows) writeStderr(debugRow(tok, r.ids, r.mask, `${r.origin.file}:${r.origin.line}`, color)); } : undefined,
      });
      const secs = (performance.now() - start) / 1000;
      writeStderr(`webtune: preprocess: ${tok.name}, template ${flags.template ?? (tok.chatTemplate ? "the model's chat_template" : 'default (the model has none)')}, ${secs.toFixed(1)} s\n`);
      for (const line of res.summary) writeStderr(`webtune: ${line}\n`);
    });
}
