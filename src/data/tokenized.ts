// Pre-tokenized rows — what `preprocess` writes — read back: {"input_ids", "labels"} (Hugging Face labels:
// unshifted, -100 where untrained), optionally "position_ids" and "lengths" of a packed sequence. Tokenize once,
// train many times (LLaMA-Factory's tokenized_path, ms-swift's cached datasets). A packed sequence is split back
// into its rows, so truncation and packing follow the flags of the run that reads them, as for text rows.
import { IGNORE_INDEX } from './collate.ts';
import type { Encoded } from './encode-spans.ts';
import { preview, RowError, type RowOrigin } from './types.ts';

type Obj = Record<string, unknown>;

export const isTokenizedRow = (v: unknown): v is Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && 'input_ids' in v;

/** The rows of one pre-tokenized line; ids are checked against the vocabulary when its size is known. */
export function parseTokenizedRow(v: Obj, origin: RowOrigin, vocabSize?: number): Encoded[] {
  const bad = (reason: string, detail: string): never => { throw new RowError(reason, origin, detail); };
  const ints = (key: string, ok: (x: number) => boolean, expect: string): Int32Array => {
    const a = v[key];
    if (!Array.isArray(a)) return bad('bad field', `"${key}" must be a list of integers, got ${preview(a)}`);
    const out = new Int32Array(a.length);
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      if (typeof x !== 'number' || !Number.isInteger(x) || !ok(x)) {
        return bad(key === 'input_ids' ? 'bad token id' : 'bad field', `${key}[${i}] = ${preview(x)}: expected ${expect}`);
      }
      out[i] = x;
    }
    return out;
  };
  const inVocab = vocabSize === undefined ? 'an integer ≥ 0' : `a token id of the model's vocabulary (0..${vocabSize - 1})`;
  const ids = ints('input_ids', (x) => x >= 0 && (vocabSize === undefined || x < vocabSize), inVocab);
  if (ids.length === 0) bad('bad field', '"input_ids" is empty');
  if (v.labels === undefined) bad('no labels', 'a row with "input_ids" needs "labels" (the ids, -100 where untrained; copy input_ids to train every token)');
  const labels = ints('labels', (x) => x === IGNORE_INDEX || x >= 0, '-100 or a token id');
  if (labels.length !== ids.length) bad('bad labels', `"labels" has ${labels.length} entries and "input_ids" ${ids.length}: they must be the same length`);
  const mask = new Uint8Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    if (labels[i] === IGNORE_INDEX) continue;
    // HF's convention, and preprocess's output: a trained label is its own token (the model shifts them)
    if (labels[i] !== ids[i]) bad('bad labels', `labels[${i}] = ${labels[i]} is neither -100 nor input_ids[${i}] (${ids[i]}): labels are unshifted`);
    mask[i] = 1;
  }
  const lengths = rowLengths(v, ids.length, ints, bad);
  const rows: Encoded[] = [];
  let at = 0;
  for (const n of lengths) { rows.push({ ids: ids.slice(at, at + n), mask: mask.slice(at, at + n) }); at += n; }
  return rows;
}

type Ints = (key: string, ok: (x: number) => boolean, expect: string) => Int32Array;
type Bad = (reason: string, detail: string) => never;

/** The lengths of the rows a line holds: "lengths", else where "position_ids" restart at 0, else one row. */
function rowLengths(v: Obj, n: number, ints: Ints, bad: Bad): number[] {
  let lengths: number[] | undefined;
  if (v.lengths !== undefined) {
    lengths = Array.from(ints('lengths', (x) => x > 0, 'a row length ≥ 1'));
    const sum = lengths.reduce((s, x) => s + x, 0);
    if (sum !== n) bad('bad field', `"lengths" add up to ${sum} tokens but "input_ids" has ${n}`);
  }
  if (v.position_ids === undefined) return lengths ?? [n];
  const pos = ints('position_ids', (x) => x >= 0, 'a position ≥ 0');
  if (pos.length !== n) bad('bad field', `"position_ids" has ${pos.length} entries and "input_ids" ${n}`);
  const starts: number[] = [];
  for (let i = 0; i < n; i++) {
    if (pos[i] === 0) starts.push(i);
    else if (i === 0 || pos[i] !== pos[i - 1] + 1) bad('bad field', `position_ids[${i}] = ${pos[i]}: positions count up from 0 in each packed row`);
  }
  const fromPos = starts.map((s, k) => (starts[k + 1] ?? n) - s);
  if (lengths && fromPos.join() !== lengths.join()) bad('bad field', `"lengths" [${lengths.join(',')}] disagree with where "position_ids" restart at 0`);
  return fromPos;
}
