// Which kernel computes a GEMM, inference and training alike, as one policy over a device profile and the product's
// shape, instead of if-chains inside each op. It returns the kernel's full description (generate.ts GemmKernel).
// - One row of A in an NT product (decoding one token): the matvec kernel, on every adapter.
// - GPUs: the shared-memory tiled kernel (tiled.ts) with the tile chosen per layout.
// - CPU adapters (lavapipe, SwiftShader): the subgroup-broadcast kernels where the adapter has fixed-size subgroups
//   and the operands are aligned, else the vec4 ones, else the general register kernel (16-bit operands, ragged shapes).
// Table-tested without a GPU (test/gemm-policy.test.ts).
import { rowsVec4, vec4Out, type GemmDtypes, type GemmLayout, type GluMode } from './common.ts';
import { addsBias, drawsMask, type GemmKernel } from './generate.ts';
import type { MatvecShape } from './matvec.ts';
import type { RegisterTile } from './register.ts';
import { subgroupFits, subgroupTile } from './subgroup.ts';
import type { TileConfig } from './tiled.ts';
import { VEC4_TILES, vec4Fits, vec4Workgroup } from './vec4.ts';

/**
 * GPUs: tiles measured to beat the default for a layout (bench/gpu-check.ts sweeps TILE_CANDIDATES per layout on a
 * GPU and reports the winners). Empty until a GPU run has chosen: the H200 run of 2026-12-04 predates the sweep.
 */
export const GPU_TILE_BY_LAYOUT: Partial<Record<GemmLayout, TileConfig>> = {};

/** What the choice depends on about the device. */
export interface DeviceProfile {
  /**
   * The kernel family the adapter runs well: 'cpu' for CPU adapters (invocations emulated on CPU threads:
   * workgroup memory and barriers are dear, loads dearer than arithmetic), 'gpu' for shared-memory tiles.
   */
  kind: 'cpu' | 'gpu';
  /** lanes of every subgroup where fixed, else 0 (then no subgroup kernels) */
  subgroupSize: number;
  /** the tiled kernel's tile (GPUs); layouts in tileByLayout use theirs */
  tile: TileConfig;
  tileByLayout?: Partial<Record<GemmLayout, TileConfig>>;
  /** the register kernel's block and workgroup, the matvec kernel's shape */
  register: RegisterTile;
  matvec: MatvecShape;
}

/** A product dst[oOff + m·ldo + n] = beta·dst + Σ_k A(m,k)·B(k,n) (common.ts). */
export interface GemmShape {
  layout: GemmLayout;
  M: number; N: number; K: number;
  lda: number; ldb: number; ldo: number; aOff: number; bOff: number; oOff: number;
  /** the operands' storage; a 16-bit operand (a weight's half copy) is widened by the kernels that read 16 bits */
  dtype: GemmDtypes;
  /** the layout's dropout mask is wanted (only kernels that draw it get it; see drawsMask) */
  mask: boolean;
  /** a per-column bias is wanted (only kernels that add one get it; see addsBias) */
  bias?: boolean;
  /** the up projection's SwiGLU finished in the store (every kernel does it) */
  glu?: GluMode;
}

export function chooseGemm(p: DeviceProfile, s: GemmShape): GemmKernel {
  const k = kernelFor(p, s), bias = Boolean(s.bias && addsBias(k.strategy));
  return bias || s.glu ? { ...k, ...(bias ? { bias } : {}), ...(s.glu ? { glu: s.glu } : {}) } : k;
}

function kernelFor(p: DeviceProfile, s: GemmShape): GemmKernel {
  const { layout, dtype } = s, rows4 = rowsVec4(s.K, s.lda, s.ldb, s.aOff, s.bOff);
  const maskIf = (strategy: GemmKernel['strategy']) => s.mask && drawsMask(strategy, layout);
  if (s.M === 1 && layout === 'NT' && !s.mask) return { strategy: 'matvec', layout, dtype, mask: false, shape: p.matvec, rows4 };
  if (p.kind === 'gpu') return { strategy: 'tiled', layout, dtype, mask: maskIf('tiled'), tile: p.tileByLayout?.[layout] ?? p.tile };
  const f32 = dtype.a === 'f32' && dtype.b === 'f32', out4 = vec4Out(s.N, s.ldo, s.oOff);
  // a 16-bit B (a weight's half copy: forward NT, dX NN) keeps the subgroup kernels; anything else 16-bit does not
  const halfB = dtype.a === 'f32' && dtype.b !== 'f32' && (layout === 'NT' || layout === 'NN');
  if ((f32 || halfB) && layout !== 'TT' && subgroupServes(p, s)) {
    return { strategy: 'subgroup', layout, dtype, mask: maskIf('subgroup'), tile: subgroupTile(layout, s.N, p.subgroupSize), lanes: p.subgroupSize, out4 };
  }
  if (f32 && layout !== 'TT' && vec4Fits(layout, s.M, s.N, s.K, s.lda, s.ldb, s.aOff, s.bOff)) {
    const [TM, TN] = VEC4_TILES[layout];
    return { strategy: 'vec4', layout, dtype, mask: maskIf('vec4'), tile: { TM, TN }, wg: vec4Workgroup(s.N, TN), out4 };
  }
  return { strategy: 'register', layout, dtype, mask: false, tile: p.register, rows4 };
}

/**
 * The subgroup-broadcast kernels: fixed-size subgroups, aligned operands, and (TN) an output wide enough to keep the
 * lanes busy; the weight gradients of LoRA's rank side (8 rows or columns, long sums) stay with the vec4 kernel,
 * measured faster on lavapipe.
 */
export function subgroupServes(p: DeviceProfile, s: GemmShape): boolean {
  if (p.kind !== 'cpu' || !p.subgroupSize || s.layout === 'TT') return false;
  if (!subgroupFits(s.layout, s.N, s.K, s.lda, s.ldb, s.aOff, s.bOff)) return false;
  return s.layout !== 'TN' || (s.M >= 2 * p.subgroupSize && s.N >= 4 * p.subgroupSize);
}

/**
 * An NN product on a CPU adapter without a subgroup kernel for it: Bᵀ into a scratch, then the vec4 NT dot-product
 * kernel (measured faster on lavapipe than any NN blocking). Packed f32 operands, more than one row.
 */
export function nnViaTranspose(p: DeviceProfile, s: GemmShape): boolean {
  if (p.kind !== 'cpu' || s.layout !== 'NN' || s.M <= 1 || s.dtype.b !== 'f32' || s.dtype.a !== 'f32') return false;
  return chooseGemm(p, s).strategy !== 'subgroup' && vec4Fits('NT', s.M, s.N, s.K, s.K, s.K, 0, 0);
}
