// Training data through the issue-4 pipeline (readers → RowEncoder → shuffle/split → optional packing) into
// fixed-shape micro-batches [B, T] for the trainer, with labels shifted to next-token targets. The order of an
// epoch is a pure function of (seed, epoch), so a resumed run sees exactly the batches it would have seen.
// The summary is preprocess's (src/data/stats.ts): nothing is dropped without a count.
import type { TrainBatch } from '../../models/llama-train.ts';
import type { ChatTokenizer } from '../data/chat-tokenizer.ts';
import { Collator } from '../data/collate.ts';
import { encodeFiles } from '../data/encode-files.ts';
import { SeededRandom, shuffle, splitRows } from '../data/mix.ts';
import { RowEncoder, type EncodedRow, type EncodeOptions } from '../data/row-encoder.ts';
import { countRow, dataWarnings, noRowsKept, PipelineStats, summaryLines, type LengthLimit, type OutputTotals } from '../data/stats.ts';
import { labelsOf } from '../data/write-jsonl.ts';
import { UserError } from '../../core/errors.ts';

/** One sequence as the model sees it: HF-style labels (unshifted, −100 = not trained), positions, segment ids. */
export interface Example { ids: Int32Array; labels: Int32Array; positions: Int32Array; segments: Int32Array }

export interface DataOptions extends EncodeOptions {
  datasets: string[];
  valDatasets?: string[];
  splitDatasetRatio: number;
  packing: boolean;
  seed: number;
  /** Shuffle the rows before the validation split (default true); epochs are drawn in a seeded order regardless. */
  shuffle?: boolean;
  /** Called for every row kept, in reading order (--debug prints the first ones). */
  onRow?: (row: EncodedRow, index: number) => void;
  /** For the summary: where a default maxLength came from, and the model's context. */
  lengthLimit?: Pick<LengthLimit, 'defaultFrom' | 'context'>;
}

export interface TrainData {
  train: Example[]; val: Example[]; T: number; padId: number; packed: boolean; stats: PipelineStats;
  /** preprocess's summary lines (rows per file and format, bad rows, length cuts, tokens, trained share) */
  summary: string[];
  warnings: string[];
  /** With keepText: the rows behind train and val, in their order (before packing), for the WASI data stage. */
  rows?: { train: EncodedRow[]; val: EncodedRow[] };
}

function examples(c: Collator, rows: EncodedRow[], o: DataOptions, padId: number): Example[] {
  const plain = rows.map((r) => ({ input_ids: r.ids, labels: labelsOf(r.ids, r.mask) }));
  if (!o.packing) {
    return plain.map((r) => ({ ids: Int32Array.from(r.input_ids), labels: Int32Array.from(r.labels), positions: Int32Array.from(r.input_ids, (_x, i) => i),
      segments: new Int32Array(r.input_ids.length).fill(1) }));
  }
  if (!plain.length) return [];
  const b = c.pack(plain, { maxLength: o.maxLength!, padId, padTo: 'longest' });
  return Array.from({ length: b.batchSize }, (_x, s) => {
    const at = s * b.seqLen, seg = b.segment_ids.subarray(at, at + b.seqLen);
    let n = seg.length;
    while (n > 0 && seg[n - 1] === 0) n--;
    const cut = (a: Int32Array) => a.slice(at, at + n);
    return { ids: cut(b.input_ids), labels: cut(b.labels), positions: cut(b.position_ids), segments: cut(b.segment_ids) };
  });
}

function totalsOf(rows: EncodedRow[]): OutputTotals {
  const t = { rows: 0, tokens: 0, trained: 0 };
  for (const r of rows) countRow(t, r.mask);
  return t;
}

export async function loadTrainData(tok: ChatTokenizer, o: DataOptions): Promise<TrainData> {
  if (!o.datasets.length) throw new UserError('sft: --dataset is required');
  if (o.packing && o.maxLength === undefined) throw new UserError('sft: --packing needs --max_length (the length of a packed sequence)');
  const stats = new PipelineStats(), enc = new RowEncoder(tok, o, stats), rng = new SeededRandom(o.seed);
  for (const n of enc.format.notes) stats.notes.add(n);
  let train: EncodedRow[] = [];
  await encodeFiles(o.datasets, enc, rng, (r) => { o.onRow?.(r, train.length); train.push(r); });
  if (!train.length) throw new UserError(noRowsKept('sft', o.datasets, stats, o.maxLength));
  if (o.shuffle ?? true) shuffle(train, rng);
  const split = splitRows(train, o.splitDatasetRatio);
  train = split.train;
  const val = split.val;
  if (o.valDatasets?.length) await encodeFiles(o.valDatasets, enc, rng, (r) => { val.push(r); });
  const padId = tok.pad?.id ?? tok.eos?.id ?? 0, c = await Collator.create();
  const ex = { train: examples(c, train, o, padId), val: examples(c, val, o, padId) };
  const longest = Math.max(...ex.train.map((e) => e.ids.length), ...ex.val.map((e) => e.ids.length));
  const limit: LengthLimit = { maxLength: o.maxLength, strategy: o.truncationStrategy ?? 'delete', ...o.lengthLimit };
  const summary = summaryLines(stats, { train: totalsOf(train), val: val.length ? totalsOf(val) : undefined,
    packed: o.packing ? { sequences: ex.train.length, seqLen: o.maxLength! } : undefined }, limit);
  return { ...ex, T: Math.ceil(longest / 8) * 8, padId, packed: o.packing, stats, summary, warnings: dataWarnings(stats, limit),
    ...(o.keepText ? { rows: { train, val } } : {}) };
}

/** The order of epoch `epoch`'s examples (HF: a RandomSampler seeded per epoch). */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  return shuffle(Array.from({ length: n }, (_x, i) => i), new SeededRandom((seed * 1000003 + epoch) >>> 0));
}

/** B examples (fewer at the end: empty rows) as one [B, T] micro-batch with next-token targets. */
export function makeBatch(exs: Example[], B: number, T: number, padId: number, packed: boolean): TrainBatch & { tokens: number } {
  const ids = new Int32Array(B * T).fill(padId), labels = new Int32Array(B * T).fill(-100), positions = new Int32Array(B * T);
  const segments = packed ? new Int32Array(B * T) : null;
  let tokens = 0;
  exs.forEach((e, b) => {
    const at = b * T, n = e.ids.length;
    ids.set(e.ids, at);
    positions.set(e.positions, at);
    segments?.set(e.segments, at);
    labels.set(e.labels.subarray(1), at);  // target of token t is label t+1 (a document's first label is −100)
    tokens += n;
  });
  return { ids, labels, positions, segments, tokens };
}

export const trainedTokens = (b: TrainBatch) => { let n = 0; for (const l of b.labels) if (l >= 0) n++; return n; };
