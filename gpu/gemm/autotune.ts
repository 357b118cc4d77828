// GEMM tiles chosen per adapter by measuring them: for each product shape, every tiled candidate that fits the
// device is timed on the device itself and the fastest kept for that layout. GPUs differ too much (warp width,
// shared memory, register file, driver compiler) for one tile to suit them all, and none of webtune's own
// figures come from the GPU a user has. This module is the choice; WebGpuOps.tuneGemm supplies the timer. The
// timings are medians of a few repetitions after a warm-up call that also compiles the pipeline.
import type { GemmLayout } from './common.ts';
import { checkTile, tileName, type TileConfig, type TileLimits } from './tiled.ts';

/** One product to tune: its layout and shape (gemm/common.ts). */
export interface TuneShape { layout: GemmLayout; M: number; N: number; K: number; name?: string }

export interface TuneOutcome {
  shape: TuneShape;
  best: TileConfig;
  /** the best tile's rate, and the first candidate's (the default) where it was timed */
  tflops: number;
  defaultTflops: number | null;
  timed: { tile: string; tflops: number }[];
  skipped: { tile: string; why: string }[];
}

/**
 * Times `runOnce(tile)` (milliseconds of one product, the device synchronized) for each candidate that fits
 * `limits`, reps times after a warm-up, and returns the fastest by median; null where none fits.
 */
export async function tuneTile(shape: TuneShape, candidates: readonly TileConfig[], limits: TileLimits,
  runOnce: (tile: TileConfig) => Promise<number>, reps = 3): Promise<TuneOutcome | null> {
  const flops = 2 * shape.M * shape.N * shape.K, timed: { tile: TileConfig; tflops: number }[] = [], skipped: TuneOutcome['skipped'] = [];
  for (const tile of candidates) {
    try { checkTile(tile, limits); } catch (e) { skipped.push({ tile: tileName(tile), why: (e as Error).message.replace(/^.*?: /, '') }); continue; }
    await runOnce(tile);  // compiles
    const ms: number[] = [];
    for (let r = 0; r < reps; r++) ms.push(await runOnce(tile));
    ms.sort((a, b) => a - b);
    timed.push({ tile, tflops: flops / (ms[Math.floor(ms.length / 2)] * 1e9) });
  }
  if (!timed.length) return null;
  const best = timed.reduce((x, y) => (y.tflops > x.tflops ? y : x));
  const dflt = timed.find((t) => t.tile === candidates[0]);
  return { shape, best: best.tile, tflops: best.tflops, defaultTflops: dflt?.tflops ?? null,
    timed: timed.map((t) => ({ tile: tileName(t.tile), tflops: t.tflops })), skipped };
}

/** The products a training step of this size spends most of its GEMM time in: the MLP's three layouts. */
export function trainingShapes(rows: number, hidden: number, intermediate: number): TuneShape[] {
  return [
    { layout: 'NT', M: rows, N: intermediate, K: hidden, name: 'x·Wᵀ (gate/up forward)' },
    { layout: 'NN', M: rows, N: hidden, K: intermediate, name: 'dY·W (gate/up dX)' },
    { layout: 'TN', M: intermediate, N: hidden, K: rows, name: 'dYᵀ·X (gate/up dW)' },
  ];
}
