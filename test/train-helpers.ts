// Shared by test/train-ops.test.ts: seeded data, the PyTorch autograd oracle (test/oracle/train_ops.py), running
// one op on a backend, and the error measure whose worst values the tests report.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Buf } from '../core/ops.ts';
import type { TrainOps } from '../core/train-ops.ts';
import { PYTHON, ROOT } from './helpers.ts';

export function rng(seed: number) {  // mulberry32
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
let seedCounter = 1;
/** uniform in [−scale, scale) (+ offset), from a fresh seed each call */
export function randn(n: number, scale = 1, offset = 0) {
  const r = rng(seedCounter++), a = new Float32Array(n);
  for (let j = 0; j < n; j++) a[j] = (r() * 2 - 1) * scale + offset;
  return a;
}
export function randint(n: number, lo: number, hi: number) {
  const r = rng(seedCounter++), a = new Int32Array(n);
  for (let j = 0; j < n; j++) a[j] = lo + Math.floor(r() * (hi - lo));
  return a;
}

/** Packed sequences: per sequence, segment lengths → segment ids 1, 2, … (0 for `pad` rows) and restarting positions. */
export function packing(lengths: number[][], T: number) {
  const seg = new Int32Array(lengths.length * T), pos = new Int32Array(lengths.length * T);
  lengths.forEach((ls, b) => {
    let row = b * T;
    ls.forEach((len, s) => { for (let p = 0; p < len; p++, row++) { seg[row] = s + 1; pos[row] = p; } });
    assert.ok(row <= (b + 1) * T, 'segments longer than T');  // the rest is padding: segment 0, position 0
  });
  return { seg, pos };
}

export type Case = Record<string, unknown> & { op: string };
export type Result = Record<string, number[]>;

/** Runs every case through the PyTorch oracle in one process (torch starts once). */
export function oracle(cases: Case[]): Result[] {
  const dir = mkdtempSync(join(tmpdir(), 'webtune-train-ops-'));
  const file = join(dir, 'cases.json');
  writeFileSync(file, JSON.stringify({ cases }, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v)));
  const r = spawnSync(PYTHON, [resolve(ROOT, 'test/oracle/train_ops.py'), file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout).results;
}

/** Uploads inputs to a backend, runs fn, reads back the named outputs (f32) and frees everything. */
export async function run(ops: TrainOps, inputs: Record<string, Float32Array | Int32Array>, fn: (b: Record<string, Buf>) => void,
  outs: string[]): Promise<Record<string, Float32Array>> {
  const bufs = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, ops.upload(v)]));
  fn(bufs);
  const res: Record<string, Float32Array> = {};
  for (const k of outs) res[k] = await ops.read(bufs[k]);
  for (const b of Object.values(bufs)) ops.free(b);
  return res;
}

/** Worst error per op and backend, printed at the end (the numbers the report quotes). */
export const worst = new Map<string, number>();

/**
 * Error of each element relative to its own size plus the tensor's RMS: |a − e| / (|e| + rms(e)). Relative for the
 * large entries, and for entries near zero (cancellation) measured against the tensor's typical size.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string, key: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let ss = 0;
  for (let j = 0; j < expected.length; j++) ss += expected[j] ** 2;
  const rms = Math.sqrt(ss / Math.max(1, expected.length)) || 1e-30;
  let err = 0, at = 0;
  for (let j = 0; j < actual.length; j++) {
    const e = Math.abs(actual[j] - expected[j]) / (Math.abs(expected[j]) + rms);
    if (!(e <= err)) { err = Number.isNaN(e) ? Infinity : e; at = j; }
  }
  worst.set(key, Math.max(worst.get(key) ?? 0, err));
  assert.ok(err <= tol, `${what}: element ${at}: got ${actual[at]}, expected ${expected[at]} (error ${err.toExponential(2)} > ${tol})`);
}

export const add = (a: ArrayLike<number>, b: ArrayLike<number>, s = 1) => Float64Array.from(a, (x, j) => x + s * b[j]);
