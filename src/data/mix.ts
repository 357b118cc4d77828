// Mixing and splitting: "path#N" samples N rows from a file (repeating the file when N exceeds it), rows are
// shuffled with a seeded generator, and --split_dataset_ratio holds out a share for validation.
import { UserError } from '../../core/errors.ts';

export interface DatasetSpec {
  path: string;
  /** Rows to sample (path#N); undefined = every row once. */
  sample?: number;
}

export function parseDatasetSpec(spec: string): DatasetSpec {
  const m = /^(.*)#(\d+)$/.exec(spec);
  if (!m) return { path: spec };
  const n = Number(m[2]);
  if (!Number.isSafeInteger(n) || n < 1) throw new UserError(`--dataset ${spec}: the row count after "#" must be at least 1`);
  return { path: m[1], sample: n };
}

/** A small seeded generator (32-bit state mixing, as in SplitMix32); next() is uniform in [0, 1). */
export class SeededRandom {
  private s: number;
  constructor(seed: number) { this.s = (seed >>> 0) ^ 0x9e3779b9; }
  next(): number {
    this.s = (this.s + 0x9e3779b9) >>> 0;
    let z = this.s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [0, n). */
  below(n: number): number { return Math.floor(this.next() * n); }
}

/** Fisher–Yates, in place. */
export function shuffle<T>(items: T[], rng: SeededRandom): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** N rows: a random subset when N ≤ rows, else every row ⌊N/rows⌋ times plus a random subset of the rest. */
export function sampleRows<T>(rows: T[], n: number, rng: SeededRandom): T[] {
  if (rows.length === 0) return [];
  const out: T[] = [];
  while (out.length + rows.length <= n) out.push(...rows);
  const rest = n - out.length;
  if (rest > 0) out.push(...shuffle(rows.slice(), rng).slice(0, rest));
  return out;
}

/** Splits off round(ratio·n) rows (at least 1 when ratio > 0 and there are 2 rows or more) for validation. */
export function splitRows<T>(rows: T[], ratio: number): { train: T[]; val: T[] } {
  if (!(ratio > 0) || rows.length < 2) return { train: rows, val: [] };
  const nVal = Math.min(rows.length - 1, Math.max(1, Math.round(rows.length * ratio)));
  return { train: rows.slice(0, rows.length - nVal), val: rows.slice(rows.length - nVal) };
}
