// Batches for training and generation, built by the collate WASM module (asm/collate):
//   pad  — rows → [batch, seqLen] input_ids, labels, attention_mask, position_ids, segment_ids; right padding
//          for training, left for generation; seqLen = the longest row, rounded up to a multiple if asked.
//   pack — several rows per sequence of at most maxLength tokens (first-fit decreasing); position_ids restart
//          per row, segment_ids number the rows (0 = padding) for the attention kernel, and no label crosses rows.
// In both, a row's first label is -100: a causal LM never predicts a row's first token.
import { instantiateWasm } from '../../runtime/wasm.ts';

export const IGNORE_INDEX = -100;

export interface CollateRow {
  input_ids: ArrayLike<number>;
  /** Defaults to input_ids (every token trained). -100 = not trained. */
  labels?: ArrayLike<number>;
}

export interface Batch {
  batchSize: number;
  seqLen: number;
  /** Row-major [batchSize, seqLen]. */
  input_ids: Int32Array;
  labels: Int32Array;
  attention_mask: Int32Array;
  position_ids: Int32Array;
  /** 1, 2, ... for the rows in a sequence; 0 for padding. */
  segment_ids: Int32Array;
  /** Packing: the row indices in each sequence, in order. */
  rows?: number[][];
}

export interface PadOptions {
  padId: number;
  /** 'right' for training (default), 'left' for generation. */
  side?: 'right' | 'left';
  /** Round the length up to a multiple of this. */
  padToMultipleOf?: number;
  /** Pad to exactly this length (rows must not be longer). */
  length?: number;
}

export interface PackOptions {
  maxLength: number;
  padId: number;
  /** Sequences are padded to maxLength (default) or, with 'longest', to the longest one (rounded to padToMultipleOf). */
  padTo?: 'max_length' | 'longest';
  padToMultipleOf?: number;
}

interface Exports {
  memory: WebAssembly.Memory;
  reset(): void;
  alloc(bytes: number): number;
  pad(n: number, offsets: number, ids: number, labels: number, seqLen: number, padId: number, left: number,
    oIds: number, oLabels: number, oMask: number, oPos: number, oSeg: number): number;
  packPlan(n: number, lengths: number, maxLen: number, bins: number): number;
  packFill(n: number, offsets: number, ids: number, labels: number, bins: number, nBins: number, seqLen: number, padId: number,
    oIds: number, oLabels: number, oMask: number, oPos: number, oSeg: number): number;
}

const roundUp = (n: number, m?: number) => (m && m > 1 ? Math.ceil(n / m) * m : n);

export class Collator {
  private constructor(private readonly e: Exports) {}

  static async create(): Promise<Collator> {
    return new Collator((await instantiateWasm('collate')).exports as unknown as Exports);
  }

  private alloc(count: number): number {
    const p = this.e.alloc(Math.max(count, 1) * 4);
    if (p === 0) throw new RangeError(`collate: out of WebAssembly memory (asked for ${count} values)`);
    return p;
  }

  private i32(ptr: number, count: number): Int32Array {
    return new Int32Array(this.e.memory.buffer, ptr, count);
  }

  /** Copies rows in: offsets (n+1), ids and labels; returns their pointers. */
  private load(rows: readonly CollateRow[]): { offsets: number; ids: number; labels: number; lengths: number[] } {
    const lengths = rows.map((r, i) => {
      if (r.labels && r.labels.length !== r.input_ids.length) {
        throw new RangeError(`collate: row ${i} has ${r.input_ids.length} input_ids but ${r.labels.length} labels`);
      }
      return r.input_ids.length;
    });
    const total = lengths.reduce((a, b) => a + b, 0);
    const offsets = this.alloc(rows.length + 1);
    const ids = this.alloc(total);
    const labels = this.alloc(total);
    const o = this.i32(offsets, rows.length + 1);
    const iv = this.i32(ids, total);
    const lv = this.i32(labels, total);
    let at = 0;
    rows.forEach((r, i) => {
      o[i] = at;
      iv.set(r.input_ids, at);
      lv.set(r.labels ?? r.input_ids, at);
      at += lengths[i];
    });
    o[rows.length] = at;
    return { offsets, ids, labels, lengths };
  }

  private outputs(n: number, seqLen: number) {
    const count = n * seqLen;
    return { ids: this.alloc(count), labels: this.alloc(count), mask: this.alloc(count), pos: this.alloc(count), seg: this.alloc(count) };
  }

  private read(o: ReturnType<Collator['outputs']>, batchSize: number, seqLen: number): Batch {
    const c = batchSize * seqLen;
    return {
      batchSize, seqLen,
      input_ids: this.i32(o.ids, c).slice(), labels: this.i32(o.labels, c).slice(), attention_mask: this.i32(o.mask, c).slice(),
      position_ids: this.i32(o.pos, c).slice(), segment_ids: this.i32(o.seg, c).slice(),
    };
  }

  pad(rows: readonly CollateRow[], opts: PadOptions): Batch {
    this.e.reset();
    const { offsets, ids, labels, lengths } = this.load(rows);
    const longest = lengths.reduce((a, b) => Math.max(a, b), 0);
    const seqLen = roundUp(opts.length ?? longest, opts.padToMultipleOf);
    if (longest > seqLen) throw new RangeError(`collate: a row has ${longest} tokens, more than the padded length ${seqLen}`);
    const o = this.outputs(rows.length, seqLen);
    const rc = this.e.pad(rows.length, offsets, ids, labels, seqLen, opts.padId, opts.side === 'left' ? 1 : 0, o.ids, o.labels, o.mask, o.pos, o.seg);
    if (rc !== 0) throw new RangeError(`collate: row ${-1 - rc} does not fit in ${seqLen} tokens`);
    return this.read(o, rows.length, seqLen);
  }

  /** Which sequence each row goes to (first-fit decreasing) and how many sequences there are. */
  planPacking(lengths: readonly number[], maxLength: number): { bins: Int32Array; count: number } {
    this.e.reset();
    const lp = this.alloc(lengths.length);
    this.i32(lp, lengths.length).set(lengths);
    const bp = this.alloc(lengths.length);
    const count = this.e.packPlan(lengths.length, lp, maxLength, bp);
    if (count < 0) throw new RangeError(`packing: row ${-1 - count} has ${lengths[-1 - count]} tokens, more than max_length ${maxLength}`);
    return { bins: this.i32(bp, lengths.length).slice(), count };
  }

  pack(rows: readonly CollateRow[], opts: PackOptions): Batch {
    const { bins, count } = this.planPacking(rows.map((r) => r.input_ids.length), opts.maxLength);
    return this.fillPacked(rows, bins, count, opts);
  }

  /** Lays rows out as a plan from planPacking says (bins[i] in [0, count)). */
  fillPacked(rows: readonly CollateRow[], bins: ArrayLike<number>, count: number, opts: PackOptions): Batch {
    this.e.reset();
    const { offsets, ids, labels, lengths } = this.load(rows);
    const used = new Array<number>(count).fill(0);
    const members: number[][] = Array.from({ length: count }, () => []);
    for (let i = 0; i < rows.length; i++) {
      const b = bins[i];
      if (!(b >= 0 && b < count)) throw new RangeError(`packing: row ${i} is assigned to sequence ${b}, outside 0..${count - 1}`);
      used[b] += lengths[i];
      members[b].push(i);
    }
    const longest = used.reduce((a, b) => Math.max(a, b), 0);
    if (longest > opts.maxLength) throw new RangeError(`packing: a sequence holds ${longest} tokens, more than max_length ${opts.maxLength}`);
    const seqLen = opts.padTo === 'longest' ? Math.min(roundUp(longest, opts.padToMultipleOf), opts.maxLength) : opts.maxLength;
    const bp = this.alloc(rows.length);
    this.i32(bp, rows.length).set(bins);
    const o = this.outputs(count, seqLen);
    const rc = this.e.packFill(rows.length, offsets, ids, labels, bp, count, seqLen, opts.padId, o.ids, o.labels, o.mask, o.pos, o.seg);
    if (rc !== 0) throw new RangeError(`packing: sequence ${-1 - rc} overflows ${seqLen} tokens`);
    return { ...this.read(o, count, seqLen), rows: members };
  }
}
