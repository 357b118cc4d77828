// WGSL for the shared-memory tiled GEMM on GPUs, every layout: the training GEMMs (dX = dY·W, dW += dYᵀ·X, the
// cross-entropy's chunks) and the forward linear layer y = x·wᵀ (the NT layout with beta 0), as policy.ts chooses.
// Bindings, Params and epilogue: common.ts:
//   dst[oOff + m·ldo + n] = beta·dst + Σ_k A(m,k)·B(k,n), A(m,k) = a[aOff + m·lda + k] (N) or a[aOff + k·lda + m] (T),
//   B(k,n) = b[bOff + k·ldb + n] (N) or b[bOff + n·ldb + k] (T).
//
// The kernel, for a tile description { BM, BN, BK, TM, TN }: a workgroup of (BN/TN)×(BM/TM) invocations computes a
// BM×BN block of dst; K is walked in BK-deep slices staged in workgroup memory as As[k][m] and Bs[k][n]; each
// invocation accumulates TM×TN outputs in registers (unrolled variables). What follows is common GPU SGEMM practice:
// - Staging walks the index that is contiguous in the operand's memory layout (k for a row-major A, m for a
//   transposed one; n or k for B), so the invocations of a warp load neighbouring addresses (coalesced loads).
// - Register prefetch: the next slice's global loads are issued before the current slice is multiplied, so their
//   latency hides behind the arithmetic (one slice in registers, one in workgroup memory).
// - Where TM (TN) is a multiple of 4, an invocation's rows (columns) are groups of 4 consecutive ones, read from
//   workgroup memory as one vec4, and its groups are strided by 4·(BM/TM) (half the tile for TM = 8): a warp then
//   reads consecutive vec4s (no bank conflicts) and stores 4 consecutive columns. Else groups of one, strided by
//   the workgroup size (the previous kernel's layout).
// - Padding: an operand staged from a k-contiguous layout is written transposed (neighbouring invocations write
//   rows BM apart, the same bank for BM a multiple of 32); its rows are padded by 4 floats (kept a vec4 multiple),
//   which spreads those writes over the banks. Dropped when the padded tile would exceed the device's workgroup
//   storage.
// Every product of an output sums over k in order (as the previous kernel), so the default config computes what it
// computed. Rows, columns and k past M, N, K load as zero (indices clamped in bounds) and are never stored.
// mask: LoRA's dropout (ops/dropout.ts, as subgroup.ts) drawn on the fly: on A as it is loaded (NT), on B
// (TN), on the product as it is stored (NN); the salt from binding 4 at Params.dIndex. dtype: an operand stored
// in 16 bits (Ops.upload's half, ops/half.ts) is widened as it is staged; the arithmetic stays f32.
import { F32, biasName, dtypeName, gemmHeader, gluName, rep, widen, type GemmDtypes, type GemmLayout, type GluMode } from './common.ts';


/** BM×BN outputs per workgroup, K in BK slices, TM×TN outputs per invocation (webgpu-ops.ts KernelConfig.tiled). */
export interface TileConfig {
  BM: number; BN: number; BK: number; TM: number; TN: number;
  /** issue the next slice's loads before multiplying the current one (default true) */
  prefetch?: boolean;
  /** pad transposed-staged operands against bank conflicts (default true; dropped where it does not fit) */
  pad?: boolean;
}

/**
 * The tile configs the GPU check times (bench/gpu-check.ts, every layout), so that a run on a GPU picks the
 * defaults; WebGpuOpsOptions.config.tiled selects one. All are 256 invocations. The first is the default
 * (GPU_CONFIG.tiled), kept until a GPU run shows a better one: 64×64 tiles give many workgroups (occupancy on
 * mid-sized products); 128×128 with 8×8 per invocation halves the workgroup-memory traffic per FMA (the classic
 * SGEMM shape for large products) at 64 accumulators per invocation; the 128×64/64×128 ones sit between, for
 * outputs narrower one way (the weight gradients: 896 columns).
 */
export const TILE_CANDIDATES: readonly TileConfig[] = [
  { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 },
  { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 },
  { BM: 128, BN: 64, BK: 16, TM: 8, TN: 4 },
  { BM: 64, BN: 128, BK: 16, TM: 4, TN: 8 },
  { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 },
];

export const tileName = (t: TileConfig) => `${t.BM}x${t.BN}x${t.BK}/${t.TM}x${t.TN}${t.prefetch === false ? '-np' : ''}${t.pad === false ? '-nopad' : ''}`;

export interface TiledGemm {
  layout: GemmLayout;
  tile: TileConfig;
  /** the operands' storage (16-bit widened on load); default f32 */
  dtype?: GemmDtypes;
  /** the layout's dropout mask drawn on the fly (Params gains dIndex, dThreshold; binding 4: salts) */
  mask?: boolean;
  /** a per-column bias added as dst is stored (binding 5) */
  bias?: boolean;
  /** the SwiGLU finished in the store (common.ts) */
  glu?: GluMode;
}

/** Workgroups for an M×N output: x over n, y over m. */
export const tiledGrid = (t: TileConfig, M: number, N: number): [number, number] => [Math.ceil(N / t.BN), Math.ceil(M / t.BM)];

/** A pipeline name identifying the generated source (dtypeName marks kernels that may bind a 16-bit buffer, see dispatch). */
export function tiledKernelName(g: TiledGemm): string {
  return `gemm-tiled-${g.layout}-${tileName(g.tile)}${g.mask ? '-m' : ''}${biasName(g.bias)}${gluName(g.glu)}${dtypeName(g.dtype ?? F32)}`;
}

/** Device limits a tile must fit: invocations per workgroup, bytes of workgroup storage. */
export interface TileLimits { invocations: number; sharedBytes: number }
const MIN_LIMITS: TileLimits = { invocations: 256, sharedBytes: 16384 };  // WebGPU's guaranteed minimums

const sharedBytes = (t: TileConfig, padA: number, padB: number) => 4 * t.BK * (t.BM + padA + t.BN + padB);

/** Throws, saying which field to change, where a tile cannot be generated or would not run on a device with `limits`. */
export function checkTile(t: TileConfig, limits: TileLimits = MIN_LIMITS): void {
  const where = `webgpu: tiled GEMM config ${JSON.stringify(t)} (WebGpuOpsOptions.config.tiled)`;
  for (const k of ['BM', 'BN', 'BK', 'TM', 'TN'] as const) {
    if (!(Number.isInteger(t[k]) && t[k] > 0)) throw new Error(`${where}: ${k} must be a positive integer`);
  }
  if (t.BM % t.TM || t.BN % t.TN) throw new Error(`${where}: BM must be a multiple of TM and BN of TN`);
  if (t.BM % 4 || t.BN % 4) throw new Error(`${where}: BM and BN must be multiples of 4 (vec4 rows of workgroup memory)`);
  const n = (t.BM / t.TM) * (t.BN / t.TN);
  if (n > limits.invocations) throw new Error(`${where}: ${n} invocations per workgroup, over this device's ${limits.invocations}; raise TM or TN`);
  if (sharedBytes(t, 0, 0) > limits.sharedBytes) {
    throw new Error(`${where}: needs ${sharedBytes(t, 0, 0)} bytes of workgroup storage, over this device's ${limits.sharedBytes}; lower BK`);
  }
}

const cache = new Map<string, string>();

/** The WGSL of g for a device with `limits` (WebGPU's minimums by default). */
export function gemmTiledSource(g: TiledGemm, limits: TileLimits = MIN_LIMITS): string {
  checkTile(g.tile, limits);
  const key = `${tiledKernelName(g)}@${limits.sharedBytes}`;
  let src = cache.get(key);
  if (!src) cache.set(key, (src = generate(g, limits)));
  return src;
}

const LANE = ['x', 'y', 'z', 'w'];

function generate(g: TiledGemm, limits: TileLimits): string {
  const { layout, tile: { BM, BN, BK, TM, TN, prefetch = true }, dtype = F32, mask = false } = g;
  const WGX = BN / TN, WGY = BM / TM, NI = WGX * WGY;
  // which index of each operand is contiguous in memory: k for A in NN/NT, m in TN/TT; k for B in NT/TT, n in NN/TN
  const aK = layout[0] === 'N', bK = layout[1] === 'T';
  let padA = g.tile.pad !== false && aK ? 4 : 0, padB = g.tile.pad !== false && bK ? 4 : 0;
  if (sharedBytes(g.tile, padA, padB) > limits.sharedBytes) padA = padB = 0;
  const SA = BM + padA, SB = BN + padB;  // row strides (floats) of As[k][m] and Bs[k][n]
  // vec4 groups of 4 rows (columns) per invocation where TM (TN) allows, else single rows strided by the workgroup
  const WA = TM % 4 ? 1 : 4, WB = TN % 4 ? 1 : 4;
  const maskA = mask && layout === 'NT', maskB = mask && layout === 'TN', maskOut = mask && layout === 'NN';
  if (mask && !(maskA || maskB || maskOut)) throw new Error(`webgpu: the tiled ${layout} GEMM has no dropout mask`);
  const LA = Math.ceil((BM * BK) / NI), LB = Math.ceil((BN * BK) / NI);  // staged elements per invocation

  const addrA = (m: string, k: string) => (aK ? `p.aOff + ${m} * p.lda + ${k}` : `p.aOff + ${k} * p.lda + ${m}`);
  const addrB = (k: string, n: string) => (bK ? `p.bOff + ${n} * p.ldb + ${k}` : `p.bOff + ${k} * p.ldb + ${n}`);
  const loadA = (i: string) => widen('a', dtype.a, 1, i), loadB = (i: string) => widen('b', dtype.b, 1, i);
  // Element r of this invocation's share of a slice: e = li + r·NI, split with the contiguous index fastest.
  const fetch = (k0: string) => [
    ...Array.from({ length: LA }, (_, r) => {
      const [outer, inner] = aK ? ['mm', 'kk'] : ['kk', 'mm'], fast = aK ? BK : BM;
      const guard = (BM * BK) % NI && r === LA - 1 ? `li + ${r * NI}u < ${BM * BK}u && ` : '';
      return `    { let e = li + ${r * NI}u; let ${inner} = e % ${fast}u; let ${outer} = e / ${fast}u;
      let m = mBase + mm; let k = ${k0} + kk; let i = ${addrA('min(m, p.M - 1u)', 'min(k, p.K - 1u)')};
      ra${r} = select(0.0, ${loadA('i')}, ${guard}m < p.M && k < p.K${maskA ? ' && drop_keep(i, salt, p.dThreshold)' : ''}); }`;
    }),
    ...Array.from({ length: LB }, (_, r) => {
      const [outer, inner] = bK ? ['nn', 'kk'] : ['kk', 'nn'], fast = bK ? BK : BN;
      const guard = (BN * BK) % NI && r === LB - 1 ? `li + ${r * NI}u < ${BN * BK}u && ` : '';
      return `    { let e = li + ${r * NI}u; let ${inner} = e % ${fast}u; let ${outer} = e / ${fast}u;
      let n = nBase + nn; let k = ${k0} + kk; let i = ${addrB('min(k, p.K - 1u)', 'min(n, p.N - 1u)')};
      rb${r} = select(0.0, ${loadB('i')}, ${guard}n < p.N && k < p.K${maskB ? ' && drop_keep(i, salt, p.dThreshold)' : ''}); }`;
    }),
  ].join('\n');
  // the same split, writing the registers into workgroup memory (an element past the slice, if any, is skipped)
  const smemWrite = (arr: string, W: number, S: number, row: string, col: string, v: string) => (W === 4 && S % 4 === 0
    ? `${arr}[${row} * ${S / 4}u + ${col} / 4u][${col} % 4u] = ${v};` : `${arr}[${row} * ${S}u + ${col}] = ${v};`);
  const stash = [
    ...Array.from({ length: LA }, (_, r) => {
      const [outer, inner] = aK ? ['mm', 'kk'] : ['kk', 'mm'], fast = aK ? BK : BM;
      const body = `{ let e = li + ${r * NI}u; let ${inner} = e % ${fast}u; let ${outer} = e / ${fast}u; ${smemWrite('As', WA, SA, 'kk', 'mm', `ra${r}`)} }`;
      return `    ${(BM * BK) % NI && r === LA - 1 ? `if (li + ${r * NI}u < ${BM * BK}u) ` : ''}${body}`;
    }),
    ...Array.from({ length: LB }, (_, r) => {
      const [outer, inner] = bK ? ['nn', 'kk'] : ['kk', 'nn'], fast = bK ? BK : BN;
      const body = `{ let e = li + ${r * NI}u; let ${inner} = e % ${fast}u; let ${outer} = e / ${fast}u; ${smemWrite('Bs', WB, SB, 'kk', 'nn', `rb${r}`)} }`;
      return `    ${(BN * BK) % NI && r === LB - 1 ? `if (li + ${r * NI}u < ${BN * BK}u) ` : ''}${body}`;
    }),
  ].join('\n');

  // this invocation's rows: group gi of WA consecutive rows at gi·WA·WGY + ty·WA (vec4 reads when WA = 4)
  const GA = TM / WA, GB = TN / WB;
  const readA = rep(GA, (gi) => (WA === 4 ? `      let a${gi} = As[kk * ${SA / 4}u + ${gi * WGY}u + ty];`
    : `      let a${gi} = As[kk * ${SA}u + ${gi * WGY}u + ty];`));
  const readBs = rep(GB, (gj) => (WB === 4 ? `      let b${gj} = Bs[kk * ${SB / 4}u + ${gj * WGX}u + tx];`
    : `      let b${gj} = Bs[kk * ${SB}u + ${gj * WGX}u + tx];`));
  const rowExpr = (i: number) => (WA === 4 ? `a${Math.floor(i / 4)}.${LANE[i % 4]}` : `a${i}`);
  const rowOff = (i: number) => (WA === 4 ? `${Math.floor(i / 4) * 4 * WGY + (i % 4)}u + ty * 4u` : `${i * WGY}u + ty`);
  const colOff = (gj: number, c: number) => (WB === 4 ? `${gj * 4 * WGX + c}u + tx * 4u` : `${gj * WGX}u + tx`);
  const accs = rep(TM * GB, (x) => `  var acc${x} = ${WB === 4 ? 'vec4<f32>()' : '0.0'};`);
  const fmas = rep(TM * GB, (x) => `      acc${x} += ${rowExpr(Math.floor(x / GB))} * b${x % GB};`);
  const stores = rep(TM * GB, (x) => {
    const i = Math.floor(x / GB), gj = x % GB;
    return rep(WB, (c) => `  store(mBase + ${rowOff(i)}, nBase + ${colOff(gj, c)}, acc${x}${WB === 4 ? `.${LANE[c]}` : ''}${maskOut ? ', salt' : ''});`);
  });
  const smemType = (W: number, S: number) => (W === 4 && S % 4 === 0 ? `array<vec4<f32>, ${(BK * S) / 4}>` : `array<f32, ${BK * S}>`);
  // group widths of 4 need vec4 rows in workgroup memory (S is a multiple of 4: BM, BN and the padding are)
  const load = prefetch ? '' : `${fetch('k0')}\n`;
  return `// generated by gpu/gemm/tiled.ts: ${tiledKernelName(g)}
${gemmHeader({ dtype, aWidth: 1, bWidth: 1, mask, maskOut, bias: g.bias, glu: g.glu })}
var<workgroup> As: ${smemType(WA, SA)};  // [k][m], rows of ${SA}
var<workgroup> Bs: ${smemType(WB, SB)};  // [k][n], rows of ${SB}

@compute @workgroup_size(${WGX}, ${WGY})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let mBase = wg.y * ${BM}u; let nBase = wg.x * ${BN}u;
  let tx = lid.x; let ty = lid.y;
${mask ? '  let salt = salts[p.dIndex];\n' : ''}${rep(LA, (r) => `  var ra${r} = 0.0;`)}
${rep(LB, (r) => `  var rb${r} = 0.0;`)}
${accs}
  let slices = (p.K + ${BK - 1}u) / ${BK}u;
${prefetch ? `  if (slices > 0u) {\n    let k0 = 0u;\n${fetch('k0')}\n  }\n` : ''}  for (var s = 0u; s < slices; s++) {
    let k0 = s * ${BK}u;
${load}    workgroupBarrier();  // every invocation is done with the previous slice
${stash}
    workgroupBarrier();
${prefetch ? `    if (s + 1u < slices) {\n      let k0 = (s + 1u) * ${BK}u;\n${fetch('k0').replace(/^/gm, '  ')}\n    }\n` : ''}    for (var kk = 0u; kk < ${BK}u; kk++) {
${readA}
${readBs}
${fmas}
    }
  }
${stores}
}
`;
}
