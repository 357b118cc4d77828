// Every GEMM kernel from one description (GemmKernel): the layout, the operands' storage dtype, whether a dropout
// mask is drawn on the fly, and the strategy with its own shape (tile, vector width, subgroup lanes). policy.ts
// chooses the description for a device and a product; this module turns it into a pipeline name, WGSL and a grid.
// All strategies share common.ts's Params, bindings and epilogue (dst = beta·dst + alpha·A·B, mask on the product;
// a bias in those that bind one), so one dispatch serves every kernel. The strategies, each in its own file:
// - matvec   (matvec.ts)   NT with one row of A (decode): B read once, contiguously; any adapter
// - register (register.ts) any layout and shape, TM×TN blocks without workgroup memory (CPU adapters' fallback)
// - vec4     (vec4.ts)     CPU adapters, operands read as aligned vec4s, unrolled TM×TN blocks
// - subgroup (subgroup.ts) CPU adapters with fixed-size subgroups: A shared across lanes by broadcast
// - tiled    (tiled.ts)    GPUs: shared-memory tiles
import { dtypeName, gluName, type GemmDtypes, type GemmLayout, type GluMode } from './common.ts';
import { matvecGrid, matvecKernelName, matvecSource, type MatvecShape } from './matvec.ts';
import { registerGrid, registerKernelName, registerSource, type RegisterTile } from './register.ts';
import { gemmSubgroupSource, subgroupGrid, type SubgroupTile } from './subgroup.ts';
import { gemmTiledSource, tiledGrid, tiledKernelName, type TileConfig, type TileLimits } from './tiled.ts';
import { gemmVec4Source } from './vec4.ts';

export type GemmStrategy = 'matvec' | 'register' | 'vec4' | 'subgroup' | 'tiled';

interface Common {
  layout: GemmLayout;
  dtype: GemmDtypes;
  /** the layout's dropout mask (A in NT, B in TN, the product in NN) drawn in the kernel: Params gains dIndex, dThreshold */
  mask: boolean;
  /** a per-column bias added by the kernel as it stores (binding 5; only strategies that add one, see addsBias) */
  bias?: boolean;
  /** the up projection's SwiGLU finished in the store (bindings 6 and 7; every strategy: common.ts's store) */
  glu?: GluMode;
}

/** One GEMM kernel. out4: dst stored a vec4 at a time (common.ts vec4Out). */
export type GemmKernel = Common & (
  | { strategy: 'matvec'; shape: MatvecShape; rows4: boolean }
  | { strategy: 'register'; tile: RegisterTile; rows4: boolean }
  | { strategy: 'vec4'; tile: { TM: number; TN: number }; wg: { x: number; y: number }; out4: boolean }
  | { strategy: 'subgroup'; tile: SubgroupTile; lanes: number; out4: boolean }
  | { strategy: 'tiled'; tile: TileConfig }
);

type Of<S extends GemmStrategy> = Extract<GemmKernel, { strategy: S }>;

interface Strategy<K extends GemmKernel> {
  layouts: readonly GemmLayout[];
  /** the layouts whose mask it draws itself */
  masks: readonly GemmLayout[];
  /** whether it reads 16-bit operands */
  half: boolean;
  /** whether it adds a bias as it stores (the GPU forward's kernels; elsewhere the caller adds it after) */
  bias: boolean;
  name(k: K): string;
  source(k: K, limits?: TileLimits): string;
  /** workgroups (x over n, y over m) for an M×N output */
  grid(k: K, M: number, N: number): [number, number];
}

const ALL: readonly GemmLayout[] = ['NN', 'NT', 'TN', 'TT'], THREE: readonly GemmLayout[] = ['NN', 'NT', 'TN'];
const m = (k: GemmKernel) => (k.mask ? 'm' : '');

const STRATEGIES: { [S in GemmStrategy]: Strategy<Of<S>> } = {
  matvec: {
    layouts: ['NT'], masks: [], half: true, bias: true,
    name: (k) => matvecKernelName(k), source: (k) => matvecSource(k), grid: (k, M, N) => matvecGrid(k.shape, M, N),
  },
  register: {
    layouts: ALL, masks: [], half: true, bias: false,
    name: (k) => registerKernelName(k), source: (k) => registerSource(k), grid: (k, M, N) => registerGrid(k.tile, M, N),
  },
  vec4: {
    layouts: THREE, masks: ['TN'], half: false, bias: false,
    name: (k) => `gemm-vec4-${k.layout}-${k.tile.TM}x${k.tile.TN}@${k.wg.x}${k.out4 ? 'o4' : ''}${m(k)}${gluName(k.glu)}`,
    source: (k) => gemmVec4Source(k.layout as 'NN', k.tile.TM, k.tile.TN, k.wg, k.out4, k.mask, k.glu),
    grid: (k, M, N) => [Math.ceil(N / (k.tile.TN * k.wg.x)), Math.ceil(M / (k.tile.TM * k.wg.y))],
  },
  subgroup: {
    layouts: THREE, masks: THREE, half: true, bias: false,  // B only, in NT and NN (a weight's half copy); the source checks
    name: (k) => `gemm-sg-${k.layout}-${k.tile.R}x${k.tile.C}@${k.tile.WY}s${k.lanes}${k.out4 ? 'o4' : ''}${m(k)}${gluName(k.glu)}${dtypeName(k.dtype)}`,
    source: (k) => {
      if (k.dtype.a !== 'f32') throw new Error('webgpu: the subgroup GEMMs read A as f32');
      return gemmSubgroupSource(k.layout as 'NN', k.tile, k.lanes, k.out4, k.mask, k.dtype.b, k.glu);
    },
    grid: (k, M, N) => subgroupGrid(k.layout as 'NN', M, N, k.tile, k.lanes),
  },
  tiled: {
    layouts: ALL, masks: THREE, half: true, bias: true,
    name: (k) => tiledKernelName(k), source: (k, limits) => gemmTiledSource(k, limits), grid: (k, M, N) => tiledGrid(k.tile, M, N),
  },
};

const strategy = (k: GemmKernel) => STRATEGIES[k.strategy] as unknown as Strategy<GemmKernel>;

/** The pipeline name identifying k's source (naming its 16-bit operands, which dispatch checks). */
export const gemmKernelName = (k: GemmKernel) => strategy(k).name(k);

/** Whether a strategy draws the dropout mask of a layout itself (else the caller materializes the masked operand). */
export const drawsMask = (strategy: GemmStrategy, layout: GemmLayout) => STRATEGIES[strategy].masks.includes(layout);

/** Whether a strategy adds a bias as it stores (else the caller adds it in a pass of its own). */
export const addsBias = (strategy: GemmStrategy) => STRATEGIES[strategy].bias;

/** The WGSL of k for a device with `limits` (the tiled strategy checks its tile against them). */
export function gemmSource(k: GemmKernel, limits?: TileLimits): string {
  const s = strategy(k), what = `webgpu: the ${k.strategy} ${k.layout} GEMM`;
  if (!s.layouts.includes(k.layout)) throw new Error(`${what} does not exist (layouts: ${s.layouts.join(', ')})`);
  if (k.mask && !s.masks.includes(k.layout)) throw new Error(`${what} has no dropout mask`);
  if (!s.half && (k.dtype.a !== 'f32' || k.dtype.b !== 'f32')) throw new Error(`${what} reads f32 operands only`);
  if (k.bias && !s.bias) throw new Error(`${what} adds no bias`);
  return s.source(k, limits);
}

/** Workgroups (x over n, y over m) of k for an M×N output. */
export const gemmGrid = (k: GemmKernel, M: number, N: number) => strategy(k).grid(k, M, N);
