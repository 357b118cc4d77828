// `webtune preprocess` as a library call: datasets → encoded rows (input_ids, labels) written as JSON Lines,
// with mixing (path#N), seeded shuffling, a validation split, truncation, packing and a summary.
import { UserError } from '../../core/errors.ts';
import type { ChatTokenizer } from './chat-tokenizer.ts';
import { Collator, type Batch } from './collate.ts';
import { encodeFiles } from './encode-files.ts';
import { SeededRandom, shuffle, splitRows } from './mix.ts';
import { RowEncoder, type EncodedRow, type EncodeOptions } from './row-encoder.ts';
import { countRow, dataWarnings, noRowsKept, PipelineStats, summaryLines, type LengthLimit, type OutputTotals } from './stats.ts';
import { joinInts, LazyWriter, labelsOf, rowLine, type AtomicWriter } from './write-jsonl.ts';

export interface PreprocessOptions extends EncodeOptions {
  datasets: string[];
  valDatasets?: string[];
  output: string;
  /** Default: the output name with ".val" before its extension. */
  valOutput?: string;
  seed?: number;
  /** Shuffle the training rows (default true). */
  shuffle?: boolean;
  splitDatasetRatio?: number;
  packing?: boolean;
  /** Called for the first rows kept, in reading order (--debug). */
  onRow?: (row: EncodedRow, index: number) => void;
  /** For the summary: where a default maxLength came from, and the model's context. */
  lengthLimit?: Pick<LengthLimit, 'defaultFrom' | 'context'>;
}

export interface PreprocessResult {
  stats: PipelineStats;
  train: OutputTotals;
  val?: OutputTotals;
  valPath?: string;
  summary: string[];
  /** e.g. more than a few percent of the rows dropped by maxLength */
  warnings: string[];
}

export function defaultValOutput(output: string): string {
  const m = /^(.*?)(\.[^./\\]*)?$/.exec(output)!;
  return `${m[1]}.val${m[2] ?? '.jsonl'}`;
}

export async function preprocess(tok: ChatTokenizer, opts: PreprocessOptions): Promise<PreprocessResult> {
  if (!opts.datasets.length) throw new UserError('preprocess: give at least one --dataset');
  if (opts.packing && opts.maxLength === undefined) throw new UserError('preprocess: --packing needs --max_length (the length of a packed sequence)');
  const stats = new PipelineStats();
  const enc = new RowEncoder(tok, opts, stats);
  for (const n of enc.format.notes) stats.notes.add(n);
  const rng = new SeededRandom(opts.seed ?? 42);
  const shuffleRows = opts.shuffle ?? true;
  const ratio = opts.splitDatasetRatio ?? 0;
  let seen = 0;
  const onKept = (r: EncodedRow) => { if (opts.onRow) opts.onRow(r, seen); seen++; };

  const train = new LazyWriter(opts.output);
  const valPath = opts.valOutput ?? defaultValOutput(opts.output);
  const val = new LazyWriter(valPath);
  const totals = { train: { rows: 0, tokens: 0, trained: 0 }, val: { rows: 0, tokens: 0, trained: 0 } };
  let packed: { sequences: number; seqLen: number } | undefined;
  try {
    const streaming = !shuffleRows && ratio === 0 && !opts.packing;
    let trainRows: EncodedRow[] = [];
    await encodeFiles(opts.datasets, enc, rng, async (r) => {
      onKept(r);
      if (streaming) await writeRow(await train.get(), r, totals.train);
      else trainRows.push(r);
    });
    if (stats.files.every((f) => f.kept === 0)) {
      throw new UserError(noRowsKept('preprocess', opts.datasets, stats, opts.maxLength));
    }
    let valRows: EncodedRow[] = [];
    if (opts.valDatasets?.length) await encodeFiles(opts.valDatasets, enc, rng, (r) => { valRows.push(r); });
    if (!streaming) {
      if (shuffleRows) shuffle(trainRows, rng);
      const split = splitRows(trainRows, ratio);
      trainRows = split.train;
      valRows = [...split.val, ...valRows];
      if (opts.packing) {
        const collator = await Collator.create();
        packed = await writePacked(collator, trainRows, opts.maxLength!, tok, await train.get(), totals.train);
        if (valRows.length) await writePacked(collator, valRows, opts.maxLength!, tok, await val.get(), totals.val);
      } else {
        const w = await train.get();
        for (const r of trainRows) await writeRow(w, r, totals.train);
        if (valRows.length) { const v = await val.get(); for (const r of valRows) await writeRow(v, r, totals.val); }
      }
    } else if (valRows.length) {
      const v = await val.get();
      for (const r of valRows) await writeRow(v, r, totals.val);
    }
    await train.get(); // an output file even when every row went to validation
    await train.commit();
    await val.commit();
  } catch (e) {
    await train.abort();
    await val.abort();
    throw e;
  }
  const hasVal = totals.val.rows > 0;
  const limit: LengthLimit = { maxLength: opts.maxLength, strategy: opts.truncationStrategy ?? 'delete', ...opts.lengthLimit };
  const summary = summaryLines(stats, { train: totals.train, val: hasVal ? totals.val : undefined, trainPath: opts.output,
    valPath: hasVal ? valPath : undefined, packed }, limit);
  return { stats, train: totals.train, val: hasVal ? totals.val : undefined, valPath: hasVal ? valPath : undefined, summary,
    warnings: dataWarnings(stats, limit) };
}

async function writeRow(w: AtomicWriter, r: EncodedRow, t: OutputTotals): Promise<void> {
  countRow(t, r.mask);
  await w.write(rowLine(r.ids, labelsOf(r.ids, r.mask)));
}

/** Packed sequences: one line each with input_ids, labels, position_ids and the rows' lengths (no padding). */
async function writePacked(c: Collator, rows: EncodedRow[], maxLength: number, tok: ChatTokenizer, w: AtomicWriter, t: OutputTotals) {
  const padId = tok.pad?.id ?? tok.eos?.id ?? 0;
  const { bins, count: nSeq } = c.planPacking(rows.map((r) => r.ids.length), maxLength);
  const members: number[][] = Array.from({ length: nSeq }, () => []);
  bins.forEach((b, i) => members[b].push(i));
  const CHUNK = 256;
  for (let s0 = 0; s0 < nSeq; s0 += CHUNK) {
    const seqs = members.slice(s0, s0 + CHUNK);
    const chunkRows = seqs.flat();
    const localBins = seqs.flatMap((m, k) => m.map(() => k));
    const b: Batch = c.fillPacked(chunkRows.map((i) => ({ input_ids: rows[i].ids, labels: labelsOf(rows[i].ids, rows[i].mask) })),
      localBins, seqs.length, { maxLength, padId, padTo: 'longest' });
    for (let s = 0; s < b.batchSize; s++) {
      const lengths = seqs[s].map((i) => rows[i].ids.length);
      const n = lengths.reduce((x, y) => x + y, 0);
      const at = s * b.seqLen;
      const ids = b.input_ids.subarray(at, at + n), labels = b.labels.subarray(at, at + n), pos = b.position_ids.subarray(at, at + n);
      t.rows += lengths.length;
      t.tokens += n;
      for (const l of labels) if (l !== -100) t.trained++;
      await w.write(`{"input_ids":[${joinInts(ids)}],"labels":[${joinInts(labels)}],"position_ids":[${joinInts(pos)}],"lengths":[${lengths.join(',')}]}\n`);
    }
  }
  return { sequences: nSeq, seqLen: maxLength };
}
