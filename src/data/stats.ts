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

const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)}%` : '0%');
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function summaryLines(s: PipelineStats, out: { train: OutputTotals; val?: OutputTotals; trainPath: string; valPath?: string;
  packed?: { sequences: number; seqLen: number } }, opts: { maxLength?: number; strategy: string }): string[] {
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
    lines.push(`--max_length ${opts.maxLength}: ${parts.join(', ')}`);
  }
  if (s.droppedUntrained) lines.push(`dropped ${plural(s.droppedUntrained, 'row')} with no trained token left`);
  if (s.misaligned) lines.push(`${plural(s.misaligned, 'answer boundary', 'answer boundaries')} fell inside a token (the token goes to the side it starts on)`);
  for (const n of s.notes) lines.push(`note: ${n}`);
  const desc = (t: OutputTotals) => `${plural(t.rows, 'row')}, ${t.tokens} tokens, ${t.trained} trained (${pct(t.trained, t.tokens)})`;
  lines.push(`train: ${desc(out.train)}${out.packed ? ` packed into ${plural(out.packed.sequences, 'sequence')} of ${out.packed.seqLen}` : ''} → ${out.trainPath}`);
  if (out.val && out.valPath) lines.push(`val: ${desc(out.val)} → ${out.valPath}`);
  return lines;
}
