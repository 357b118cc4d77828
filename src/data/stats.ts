// Counters for a preprocessing run and the summary printed to stderr: nothing is dropped without a count.
export class FileStats {
  read = 0;
  kept = 0;
  formats = new Map<string, number>();
  identityFilled = 0;
  /** Rows taken with path#N (undefined: every kept row once). */
  sampled?: number;
  constructor(readonly file: string) {}
}

export class PipelineStats {
  readonly files: FileStats[] = [];
  /** Bad rows skipped with --skip_bad_rows, per reason. */
  readonly skipped = new Map<string, number>();
  /** The first skipped row of each reason, for the summary. */
  readonly firstSkipped = new Map<string, string>();
  droppedTooLong = 0;
  droppedUntrained = 0;
  truncated = 0;
  misaligned = 0;
  /** The longest row before truncation, in tokens (for the --max_length warning). */
  longest = 0;
  /** Rows read already tokenized (input_ids + labels): no template was applied to them here. */
  tokenizedRows = 0;
  notes = new Set<string>();

  file(path: string): FileStats {
    const f = new FileStats(path);
    this.files.push(f);
    return f;
  }

  skip(reason: string, message: string): void {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1);
    if (!this.firstSkipped.has(reason)) this.firstSkipped.set(reason, message);
  }

  get skippedTotal(): number {
    let n = 0;
    for (const v of this.skipped.values()) n += v;
    return n;
  }
}

export interface OutputTotals {
  rows: number;
  tokens: number;
  trained: number;
}

/** Adds one row (its trained mask) to the totals. */
export function countRow(t: OutputTotals, mask: ArrayLike<number>): void {
  t.rows++;
  t.tokens += mask.length;
  for (let i = 0; i < mask.length; i++) t.trained += mask[i];
}

/** How --max_length was chosen, for the summary and the warning. */
export interface LengthLimit {
  maxLength?: number;
  strategy: string;
  /** Where the value came from when the user did not give it (e.g. "the model's context"). */
  defaultFrom?: string;
  /** The model's context, when known: advice to raise --max_length stops there. */
  context?: number;
}

const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)}%` : '0%');
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The summary both `preprocess` and `sft` print: rows per file and format, bad rows, length cuts, totals. */
export function summaryLines(s: PipelineStats, out: { train: OutputTotals; val?: OutputTotals; trainPath?: string; valPath?: string;
  packed?: { sequences: number; seqLen: number } }, opts: LengthLimit): string[] {
  const lines: string[] = [];
  for (const f of s.files) {
    const formats = [...f.formats].map(([k, v]) => (f.formats.size > 1 ? `${k} ${v}` : k)).join(', ');
    lines.push(`${f.file}: ${plural(f.read, 'row')} read (${formats || 'no rows'}), ${f.kept} kept` +
      (f.sampled !== undefined ? `, ${f.sampled} sampled (#${f.sampled})` : '') +
      (f.identityFilled ? `, ${f.identityFilled} with the model's name/author filled in` : ''));
  }
  if (s.skipped.size) {
    lines.push(`skipped ${plural(s.skippedTotal, 'bad row')}: ${[...s.skipped].map(([r, n]) => `${n} ${r}`).join(', ')}`);
    for (const m of s.firstSkipped.values()) lines.push(`  e.g. ${m}`);
  }
  if (opts.maxLength !== undefined) {
    const parts = [`${s.truncated} truncated (${opts.strategy})`];
    if (opts.strategy === 'delete' || s.droppedTooLong) parts.push(`${s.droppedTooLong} dropped for being longer than ${opts.maxLength} tokens`);
    lines.push(`--max_length ${opts.maxLength}${opts.defaultFrom ? ` (default: ${opts.defaultFrom})` : ''}: ${parts.join(', ')}`);
  }
  if (s.droppedUntrained) lines.push(`dropped ${plural(s.droppedUntrained, 'row')} with no trained token left`);
  if (s.misaligned) lines.push(`${plural(s.misaligned, 'answer boundary', 'answer boundaries')} fell inside a token (the token goes to the side it starts on)`);
  if (s.tokenizedRows) {
    s.notes.add(`${plural(s.tokenizedRows, 'pre-tokenized row')} used as encoded: --template, --system, --loss_scale and --model_name/--model_author do not apply to them`);
  }
  for (const n of s.notes) lines.push(`note: ${n}`);
  const desc = (t: OutputTotals) => `${plural(t.rows, 'row')}, ${t.tokens} tokens, ${t.trained} trained (${pct(t.trained, t.tokens)})`;
  const to = (path?: string) => (path ? ` → ${path}` : '');
  lines.push(`train: ${desc(out.train)}${out.packed ? ` packed into ${plural(out.packed.sequences, 'sequence')} of ${out.packed.seqLen}` : ''}${to(out.trainPath)}`);
  if (out.val) lines.push(`val: ${desc(out.val)}${to(out.valPath)}`);
  return lines;
}

/** Share of the rows --max_length may drop before a run says so loudly. */
export const DROP_WARNING_SHARE = 0.05;

/** Warnings for the data summary: more than a few percent of the rows lost to --max_length. */
export function dataWarnings(s: PipelineStats, opts: LengthLimit): string[] {
  const read = s.files.reduce((n, f) => n + f.read, 0), dropped = s.droppedTooLong + s.droppedUntrained;
  if (opts.maxLength === undefined || !read || dropped / read <= DROP_WARNING_SHARE) return [];
  const why = [
    s.droppedTooLong && `${s.droppedTooLong} longer than --max_length ${opts.maxLength} tokens (--truncation_strategy ${opts.strategy})`,
    s.droppedUntrained && `${s.droppedUntrained} cut by --truncation_strategy ${opts.strategy} down to no trained token`,
  ].filter(Boolean).join(', ');
  const raise = opts.context === undefined || opts.maxLength < opts.context
    ? `raise --max_length${opts.context === undefined ? '' : ` (the model's context is ${opts.context})`}` : '';
  const cut = opts.strategy === 'delete' ? 'keep them cut with --truncation_strategy left or right'
    : opts.strategy === 'right' ? 'keep their ends (where the answers are) with --truncation_strategy left' : '';
  return [`${dropped} of ${read} rows (${pct(dropped, read)}) dropped: ${why}; the longest row has ${s.longest} tokens. ` +
    `To train on them, ${[raise, cut].filter(Boolean).join(' or ') || 'shorten them'}`];
}

/** The error when every row was skipped or dropped, with the counts that say which flag to change. */
export function noRowsKept(command: string, datasets: string[], s: PipelineStats, maxLength?: number): string {
  const fix = s.droppedTooLong || s.droppedUntrained ? ': raise --max_length or change --truncation_strategy' : '';
  return `${command}: no rows kept from ${datasets.join(', ')} (${s.skippedTotal} skipped, ${s.droppedTooLong} longer than ` +
    `--max_length ${maxLength ?? '(none)'}, ${s.droppedUntrained} with no trained token left)${fix}`;
}
