// The Train form's schema and its validation, both read off `webtune sft`'s own commander options (one source of
// truth: names, help, defaults, choices and parsers): a flag added to sft appears in the form, and a value the CLI
// refuses is refused here with the CLI's message. JSON flags become argv (`--name=value`, lists as several words)
// and go through a fresh sft command's parser; the child process then gets exactly that argv.
import { Command, CommanderError, type Option } from 'commander';
import { sftCommand } from '../cli/sft.ts';
import { WebUiError } from './errors.ts';

export type FlagKind = 'switch' | 'choice' | 'int' | 'float' | 'bool' | 'text' | 'list' | 'optional-int';

export interface FlagSchema {
  name: string;
  /** the CLI spelling, e.g. --lora_rank <r> */
  flags: string;
  help: string;
  kind: FlagKind;
  default?: unknown;
  choices?: string[];
  group: string;
}

/**
 * ms-swift's web-ui groups (basic / LoRA / optimizer / data / hardware / saving). A flag sft gains later, not listed here, goes to
 * "other" and still shows.
 */
const GROUPS: Record<string, string[]> = {
  basic: ['model', 'dataset', 'train_type', 'template', 'system', 'num_train_epochs', 'max_steps', 'per_device_train_batch_size',
    'gradient_accumulation_steps', 'learning_rate', 'seed', 'torch_dtype', 'gradient_checkpointing'],
  lora: ['lora_rank', 'lora_alpha', 'lora_dropout', 'target_modules'],
  optimizer: ['optim', 'lr_scheduler_type', 'warmup_ratio', 'warmup_steps', 'adam_beta1', 'adam_beta2', 'adam_epsilon',
    'weight_decay', 'max_grad_norm'],
  data: ['val_dataset', 'max_length', 'ignore_context_limit', 'truncation_strategy', 'loss_scale', 'model_name',
    'model_author', 'dataset_shuffle', 'split_dataset_ratio', 'packing', 'skip_bad_rows', 'debug'],
  hardware: ['device', 'threads', 'deepspeed'],
  saving: ['output_dir', 'save_steps', 'save_total_limit', 'logging_steps', 'eval_steps', 'report_to', 'resume_from_checkpoint'],
};
export const GROUP_ORDER = [...Object.keys(GROUPS), 'other'];
const groupOf = (name: string) => Object.entries(GROUPS).find(([, names]) => names.includes(name))?.[0] ?? 'other';

/** sft's command with its action replaced: parsing only, errors thrown rather than printed. */
function parserCommand(): Command {
  return sftCommand().action(() => {}).exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
}

/** What input a flag needs, from its commander shape and its parser (probed: an int parser refuses 0.5). */
function kindOf(o: Option): FlagKind {
  if (!o.required && !o.optional) return 'switch';
  if (o.variadic) return 'list';
  if (o.argChoices) return 'choice';
  if (!o.parseArg) return 'text';
  const accepts = (v: string) => { try { return o.parseArg!(v, undefined); } catch { return undefined; } };
  if (typeof accepts('true') === 'boolean') return 'bool';
  if (typeof accepts('0.5') === 'number') return 'float';  // probed below 1: some fractions stop short of it (dropout)
  if (typeof accepts('1') === 'number') return o.optional ? 'optional-int' : 'int';
  return 'text';
}

export function sftSchema(): FlagSchema[] {
  return parserCommand().options.filter((o) => o.long && !o.hidden && o.long !== '--help').map((o) => ({
    name: o.attributeName(), flags: o.flags, help: o.description, kind: kindOf(o),
    ...(o.defaultValue !== undefined ? { default: o.defaultValue } : {}), ...(o.argChoices ? { choices: o.argChoices } : {}),
    group: groupOf(o.attributeName()),
  }));
}

/** JSON flags (CLI names; lists as arrays; switches as true/false) → sft argv. */
export function flagsToArgv(body: Record<string, unknown>): string[] {
  const options = new Map(parserCommand().options.map((o) => [o.attributeName(), o]));
  const argv: string[] = [];
  for (const [name, v] of Object.entries(body)) {
    const o = options.get(name);
    if (!o || !o.long) throw new WebUiError(400, `unknown flag --${name} (webtune sft --help lists them)`, name);
    if (v === null || v === undefined || v === '') continue;
    const scalar = (x: unknown) => {
      if (typeof x === 'object') throw new WebUiError(400, `${o.long}: expected ${o.variadic ? 'a list of values' : 'one value'}, got ${JSON.stringify(x)}`, name);
      return String(x);
    };
    if (!o.required && !o.optional) {
      if (typeof v !== 'boolean') throw new WebUiError(400, `${o.long}: a switch takes true or false, got ${JSON.stringify(v)}`, name);
      if (v) argv.push(o.long);
    } else if (o.optional && v === true) {
      argv.push(o.long);
    } else if (o.variadic) {
      const list = (Array.isArray(v) ? v : [v]).map(scalar);
      // a value that looks like a flag would end the list: commander then reads it as an option
      const bad = list.find((x) => x.startsWith('-') && !/^-\d/.test(x));
      if (bad) throw new WebUiError(400, `${o.long}: value ${JSON.stringify(bad)} starts with "-"`, name);
      if (list.length) argv.push(o.long, ...list);
    } else {
      argv.push(`${o.long}=${scalar(v)}`);
    }
  }
  return argv;
}

/** The parsed flags (defaults filled in, values converted) or a 400 naming the flag, as the CLI would refuse it. */
export async function validateSft(argv: string[]): Promise<Record<string, unknown>> {
  const cmd = parserCommand();
  try {
    await cmd.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    const flag = /option '(--[a-z_]+)/.exec(e.message)?.[1] ?? /unknown option '(--[a-z_]+)/.exec(e.message)?.[1];
    throw new WebUiError(400, e.message.replace(/^error: /, ''), flag?.slice(2) ?? null);
  }
  const flags = cmd.opts();
  // sft's action checks these two before training
  if (!flags.model) throw new WebUiError(400, 'sft: --model is required', 'model');
  if (!(flags.dataset as string[] | undefined)?.length) throw new WebUiError(400, 'sft: --dataset is required', 'dataset');
  return flags;
}

/** The command line a user would type, quoted for a POSIX shell. */
export function commandLine(argv: string[]): string {
  const q = (s: string) => (/^[\p{L}\p{N}_@%+=:,./#-]+$/u.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  // --flag=value (how the argv keeps a value that starts with "-") is shown as --flag value where that reads the same
  return ['webtune', 'sft', ...argv.flatMap((a) => {
    const m = /^(--\w+)=(.*)$/s.exec(a);
    return (m && !m[2].startsWith('-') ? [m[1], m[2]] : [a]).map(q);
  })].join(' ');
}
