// Which kernel computes a training GEMM, as one policy over a device profile and the product's shape, instead of
// if-chains inside each op. CPU adapters (the 'register' strategy: lavapipe, SwiftShader) take the subgroup-broadcast
// kernels where the adapter has fixed-size subgroups and the operands are aligned, else the vec4 ones, else the
// general register kernel; GPUs take the shared-memory tiled kernel (gemm-tiled.ts) with the tile chosen per layout.
// Table-tested without a GPU (test/gemm-policy.test.ts).
import type { TileConfig, TiledLayout } from './gemm-tiled.ts';
import { subgroupFits } from './train-gemm-subgroup.ts';
import { vec4Fits } from './train-gemm-vec4.ts';

/**
 * GPUs: tiles measured to beat the default for a layout (bench/gpu-check.ts sweeps TILE_CANDIDATES per layout on a
 * GPU and reports the winners). Empty until a GPU run has chosen: the H200 run of 2026-12-04 predates the sweep.
 */
export const GPU_TILE_BY_LAYOUT: Partial<Record<TiledLayout, TileConfig>> = {};

/** What the choice depends on about the device. */
export interface DeviceProfile {
  /** 'register': a CPU adapter's kernels (no workgroup memory); 'tiled': a GPU's */
  strategy: 'register' | 'tiled';
  /** lanes of every subgroup where fixed, else 0 (then no subgroup kernels) */
  subgroupSize: number;
  /** the tiled kernel's tile per layout (GPUs); layouts absent use `tile` */
  tile: TileConfig;
  tileByLayout?: Partial<Record<TiledLayout, TileConfig>>;
}

/** A product dst[m, n] = Σ_k A(m, k)·B(k, n) as gemm() receives it. */
export interface GemmShape {
  layout: TiledLayout;
  M: number; N: number; K: number;
  lda: number; ldb: number; aOff: number; bOff: number;
  /** B is an f16 weight (only the register and tiled kernels widen one) */
  halfB: boolean;
}

export type GemmPlan =
  | { kernel: 'sg' }
  | { kernel: 'vec4' }
  | { kernel: 'register' }
  | { kernel: 'tiled'; tile: TileConfig };

export function chooseGemm(p: DeviceProfile, s: GemmShape): GemmPlan {
  if (p.strategy === 'tiled') return { kernel: 'tiled', tile: p.tileByLayout?.[s.layout] ?? p.tile };
  if (s.halfB || s.layout === 'TT') return { kernel: 'register' };
  if (subgroupServes(p, s)) return { kernel: 'sg' };
  return vec4Fits(s.layout, s.M, s.N, s.K, s.lda, s.ldb, s.aOff, s.bOff) ? { kernel: 'vec4' } : { kernel: 'register' };
}

/**
 * The subgroup-broadcast kernels: fixed-size subgroups, aligned operands, and (TN) an output wide enough to keep the
 * lanes busy; the weight gradients of LoRA's rank side (8 rows or columns, long sums) stay with the vec4 kernel,
 * measured faster on lavapipe.
 */
export function subgroupServes(p: DeviceProfile, s: GemmShape): boolean {
  if (p.strategy !== 'register' || !p.subgroupSize || s.layout === 'TT') return false;
  if (!subgroupFits(s.layout, s.N, s.K, s.lda, s.ldb, s.aOff, s.bOff)) return false;
  return s.layout !== 'TN' || (s.M >= 2 * p.subgroupSize && s.N >= 4 * p.subgroupSize);
}

/** Whether the chosen kernel applies a dropout mask itself (else the caller materializes the masked operand). */
export function masksOnTheFly(plan: GemmPlan, layout: TiledLayout): boolean {
  return plan.kernel === 'sg' || plan.kernel === 'tiled' || (plan.kernel === 'vec4' && layout === 'TN');
}
