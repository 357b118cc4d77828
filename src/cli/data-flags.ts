// The data flags, declared once for `preprocess` and `sft` (same names, help, defaults and choices as ms-swift's),
// and the --debug view both print.
import { Command, Option } from 'commander';
import { writeStderr } from '../../runtime/platform.ts';
import type { ChatTokenizer } from '../data/chat-tokenizer.ts';
import { debugRowCount, type DataArgs } from '../data/data-args.ts';
import { debugRow } from '../data/debug-view.ts';
import type { EncodedRow } from '../data/row-encoder.ts';
import { BUILTIN_NAMES } from '../data/templates/chat-format.ts';
import { LOSS_SCALES } from '../data/templates/spans.ts';
import { TRUNCATION_STRATEGIES } from '../data/truncate.ts';
import { boolFlag, floatFlag, intFlag } from './options.ts';

export function addDataFlags(cmd: Command): Command {
  return cmd
    .option('--dataset <files...>', 'dataset files (.jsonl, .json, .csv, .txt), or preprocess output (input_ids + labels); FILE#N samples N rows (repeating the file if N is larger)')
    .option('--val_dataset <files...>', 'validation dataset files, encoded the same way')
    .addOption(new Option('--template <name>', 'built-in chat template instead of the model\'s own').choices(BUILTIN_NAMES))
    .option('--system <text>', 'system prompt for rows without one (replaces the template\'s default system prompt)')
    .option('--max_length <n>', 'longest row in tokens, and the length of a packed sequence (default: the model\'s context, ' +
      'max_position_embeddings; no limit for a tokenizer-only directory)', intFlag(1))
    .option('--ignore_context_limit', 'allow --max_length over the model\'s context (positions it never saw; infer stops at the context)', false)
    .addOption(new Option('--truncation_strategy <s>', 'rows longer than --max_length: delete them, or cut tokens from the left or right')
      .choices(TRUNCATION_STRATEGIES).default('delete'))
    .addOption(new Option('--loss_scale <s>', 'which tokens are trained: every assistant answer (default), the last one only (last_round), or all')
      .choices(LOSS_SCALES).default('default'))
    .option('--model_name <names...>', 'self-cognition: the model\'s name, Chinese then English (fills {{NAME}} / {{name}})')
    .option('--model_author <names...>', 'self-cognition: the model\'s author, Chinese then English (fills {{AUTHOR}} / {{author}})')
    .option('--dataset_shuffle <bool>', 'shuffle the training rows before --split_dataset_ratio takes its share (sft also draws every epoch in a seeded random order)', boolFlag, true)
    .option('--split_dataset_ratio <r>', 'share of the training rows held out for validation', floatFlag(0, 1), 0)
    .option('--packing', 'pack several rows into each sequence of --max_length tokens', false)
    .option('--skip_bad_rows', 'skip bad rows (counted per reason) instead of stopping at the first', false)
    .option('--debug [rows]', 'print the first rows (default 3) with their trained tokens highlighted (sft then trains on)', intFlag(1));
}

/** --debug: prints the first rows kept, with their trained tokens marked (colour on a terminal). */
export function debugPrinter(a: DataArgs): ((tok: ChatTokenizer, row: EncodedRow, index: number) => void) | undefined {
  const rows = debugRowCount(a);
  if (!rows) return undefined;
  const color = !!(globalThis as { process?: NodeJS.Process }).process?.stderr?.isTTY;
  return (tok, r, i) => { if (i < rows) writeStderr(debugRow(tok, r.ids, r.mask, `${r.origin.file}:${r.origin.line}`, color)); };
}
