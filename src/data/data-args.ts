// The data flags `preprocess` and `sft` share, as their parsed values (ms-swift's names), and what they mean to
// the pipeline. src/cli/data-flags.ts declares them on the command line, once for both commands.
import type { EncodeOptions } from './row-encoder.ts';
import { bilingual } from './self-cognition.ts';
import type { LossScale } from './templates/spans.ts';
import type { TruncationStrategy } from './truncate.ts';

export interface DataArgs {
  dataset?: string[];
  val_dataset?: string[];
  template?: string;
  system?: string;
  /** default: the model's context when it has one */
  max_length?: number;
  /** allow --max_length over the model's context (src/data/context-limit.ts) */
  ignore_context_limit?: boolean;
  truncation_strategy?: TruncationStrategy;
  loss_scale?: LossScale;
  model_name?: string[];
  model_author?: string[];
  dataset_shuffle?: boolean;
  split_dataset_ratio?: number;
  packing?: boolean;
  skip_bad_rows?: boolean;
  /** print the first rows (true: 3) with their trained tokens marked */
  debug?: number | boolean;
}

/** How a row is encoded, from the flags (maxLength as given: resolve it against the model first). */
export function encodeOptionsOf(a: DataArgs): EncodeOptions {
  return {
    template: a.template, system: a.system, maxLength: a.max_length, truncationStrategy: a.truncation_strategy ?? 'delete',
    lossScale: a.loss_scale ?? 'default', skipBadRows: !!a.skip_bad_rows,
    identity: { name: bilingual('model_name', a.model_name), author: bilingual('model_author', a.model_author) },
  };
}

/** Rows --debug prints: --debug alone means 3. */
export const debugRowCount = (a: DataArgs): number => (a.debug === true ? 3 : a.debug || 0);
