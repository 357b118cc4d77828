// WGSL for the training GEMM on CPU adapters with subgroups (lavapipe: 8 lanes, the width of one SIMD vector).
// Bindings, Params and epilogue: common.ts (dst[oOff + m·ldo + n] = beta·dst + Σ_k A(m,k)·B(k,n)).
//
// Why: on lavapipe a storage load is emulated lane by lane and costs far more than the arithmetic it feeds, while
// subgroupBroadcast with a constant lane is one vector shuffle. So the lanes of a subgroup own neighbouring output
// columns and load only their own B values; the A values, which every lane needs, are loaded once across the lanes
// (lane l loads row m0 + l) and handed round by broadcast, as a CPU GEMM micro-kernel broadcasts A into vector
// registers. Per loaded float this does 3–5× the multiply-adds of vec4.ts's per-invocation blocks.
// Each invocation owns R rows × C column groups; accumulators are plain variables (fully unrolled code).
// - 'NT' (x·Wᵀ, logits): A(m,k) = a[m·lda + k], B(k,n) = b[n·ldb + k]. Lane l owns columns n0 + l + S·c; A rows
//   and B rows are read as vec4 along k, products are vec4 dots. Needs K, lda, ldb, aOff, bOff multiples of 4.
// - 'NN' (dX = dY·W): A(m,k) = a[m·lda + k] read as vec4 along k, B(k,n) = b[k·ldb + n] as vec4 along n; lane l
//   owns columns n0 + 4(l + S·c) .. +3. Needs N, K, lda, ldb, aOff, bOff multiples of 4.
// - 'TN' (dW += dYᵀ·X): A(m,k) = a[k·lda + m] read one f32 per lane, B(k,n) = b[k·ldb + n] as vec4 along n;
//   lane l owns columns n0 + 4(l + S·c) .. +3. Needs N, ldb, bOff multiples of 4.
// Summation over k is sequential in k for every output (within vec4 dots for NT), as in register.ts.
// mask: LoRA's dropout (ops/dropout.ts) applied on the fly, to A as it is loaded (NT), to B as it is loaded (TN) or
// to the product as it is stored (NN); the mask's salt comes from binding 4 at Params.dIndex.
// The subgroup of an invocation is taken to be its run of S consecutive local invocation indices (lavapipe's
// packing, checked by the tests); policy.ts picks these kernels only where min = max subgroup size = S.
// bType: B stored in 16 bits (a weight's half copy in NT and NN: packed vec4s, widened as loaded); A is f32.

import { dtypeName, gemmHeader, rep, widen, type GemmDtype, type GluMode } from './common.ts';

export type SubgroupLayout = 'TN' | 'NT' | 'NN';

export interface SubgroupTile { R: number; C: number; WY: number }

/**
 * Rows (a multiple of S) × column groups per invocation, and subgroups per workgroup, measured on lavapipe for
 * the training shapes: narrow products (LoRA's rank side) keep one column group so that no lane idles.
 */
export function subgroupTile(layout: SubgroupLayout, N: number, S: number): SubgroupTile {
  const lanesCols = layout === 'NT' ? S : 4 * S;  // columns one column group covers across the lanes
  const C = N <= lanesCols ? 1 : N <= 2 * lanesCols ? 2 : layout === 'NT' ? 4 : 2;
  return { R: 2 * S, C, WY: 2 };
}

/** Columns and rows one workgroup covers. */
export function subgroupGrid(layout: SubgroupLayout, M: number, N: number, t: SubgroupTile, S: number): [number, number] {
  const cols = (layout === 'NT' ? S : 4 * S) * t.C;
  return [Math.ceil(N / cols), Math.ceil(M / (t.R * t.WY))];
}

/** Whether the layout applies to these operands (its vec4 reads must be aligned). */
export function subgroupFits(layout: SubgroupLayout, N: number, K: number, lda: number, ldb: number, aOff: number, bOff: number): boolean {
  const four = (...v: number[]) => v.every((x) => x % 4 === 0);
  return layout === 'NT' ? four(K, lda, ldb, aOff, bOff) : layout === 'NN' ? four(N, K, lda, ldb, aOff, bOff) : four(N, ldb, bOff);
}

/**
 * WGSL of the layout's kernel for tile t and subgroup size S; out4: dst aligned for vec4 stores (N, ldo, oOff % 4
 * = 0); mask: with the dropout mask of the layout's masked tensor.
 */
export function gemmSubgroupSource(layout: SubgroupLayout, t: SubgroupTile, S: number, out4: boolean, mask = false, bType: GemmDtype = 'f32', glu?: GluMode): string {
  if (bType !== 'f32' && layout === 'TN') throw new Error('webgpu: the subgroup TN GEMM reads f32 operands only');
  const key = `${layout}${t.R}x${t.C}@${t.WY}s${S}${out4 ? 'o4' : ''}${mask ? 'm' : ''}${glu ?? ''}${dtypeName({ a: 'f32', b: bType })}`;
  let src = cache.get(key);
  if (!src) cache.set(key, (src = generate(layout, t, S, out4, mask, bType, glu)));
  return src;
}
const cache = new Map<string, string>();

function generate(layout: SubgroupLayout, { R, C, WY }: SubgroupTile, S: number, out4: boolean, mask: boolean, bType: GemmDtype, glu?: GluMode): string {
  const Q = R / S, vecCols = layout !== 'NT';  // NN/TN: each lane owns vec4 column groups
  const o4 = out4 && vecCols;
  // the masked load of element index i (vec4 index for vec4 arrays) of a or b
  const load = (arr: 'a' | 'b', i: string) => (mask && (arr === 'a') === (layout === 'NT')
    ? `drop4(${arr}[${i}], (${i}) * 4u, salt, p.dThreshold)` : `${arr}[${i}]`);
  const outMask = mask && layout === 'NN';
  const head = `enable subgroups;
${gemmHeader({ dtype: { a: 'f32', b: bType }, aWidth: layout === 'TN' ? 1 : 4, bWidth: 4, out4: o4, mask, maskOut: outMask, glu })}@compute @workgroup_size(${S * WY})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  // no early return: every lane of the subgroup must reach each broadcast (out-of-range rows/columns are clamped
  // on load and skipped on store)
  let m0 = (wid.y * ${WY}u + li / ${S}u) * ${R}u;
${mask ? '  let salt = salts[p.dIndex];\n' : ''}`;
  // column index of lane's group c (first of four for vec4 groups)
  const col = (c: number) => (vecCols ? `n0 + 4u * (lane + ${S * c}u)` : `n0 + lane + ${S * c}u`);
  const cols = `  let n0 = wid.x * ${(vecCols ? 4 * S : S) * C}u;\n`;
  const acc = (r: number, c: number) => `acc${r}_${c}`;
  const decl = rep(R * C, (x) => `  var ${acc(Math.floor(x / C), x % C)} = ${vecCols ? 'vec4<f32>()' : '0.0'};`);
  const sa = outMask ? ', salt' : '';
  const stores = vecCols
    ? rep(R * C, (x) => { const r = Math.floor(x / C), c = x % C, v = acc(r, c);
      return o4 ? `  store(m0 + ${r}u, ${col(c)}, ${v}${sa});` : rep(4, (e) => `  store(m0 + ${r}u, ${col(c)} + ${e}u, ${v}[${e}]${sa});`); })
    : rep(R * C, (x) => { const r = Math.floor(x / C), c = x % C; return `  store(m0 + ${r}u, ${col(c)}, ${acc(r, c)}${sa});`; });
  if (layout === 'NT') {
    return `${head}${cols}  let lda4 = p.lda / 4u; let ldb4 = p.ldb / 4u;
${rep(Q, (q) => `  let ra${q} = p.aOff / 4u + min(m0 + ${S * q}u + lane, p.M - 1u) * lda4;`)}
${rep(C, (c) => `  let rb${c} = p.bOff / 4u + min(${col(c)}, p.N - 1u) * ldb4;`)}
${decl}
  for (var k4 = 0u; k4 < p.K / 4u; k4++) {
${rep(Q, (q) => `    let av${q} = ${load('a', `ra${q} + k4`)};`)}
${rep(C, (c) => `    let bv${c} = ${widen('b', bType, 4, `rb${c} + k4`)};`)}
${rep(R, (r) => `    let x${r} = subgroupBroadcast(av${Math.floor(r / S)}, ${r % S}u);\n${rep(C, (c) => `    ${acc(r, c)} += dot(x${r}, bv${c});`)}`)}
  }
${stores}
}`;
  }
  // NN and TN: B as vec4 along n, columns clamped to the last whole vec4 (N % 4 = 0)
  const bCols = `${rep(C, (c) => `  let cb${c} = p.bOff / 4u + min(${col(c)}, p.N - 4u) / 4u;`)}
  let ldb4 = p.ldb / 4u;`;
  if (layout === 'NN') {
    return `${head}${cols}  let lda4 = p.lda / 4u;
${rep(Q, (q) => `  let ra${q} = p.aOff / 4u + min(m0 + ${S * q}u + lane, p.M - 1u) * lda4;`)}
${bCols}
${decl}
  for (var k4 = 0u; k4 < p.K / 4u; k4++) {
${rep(Q, (q) => `    let av${q} = a[ra${q} + k4];`)}
${rep(4, (kk) => rep(C, (c) => `    let bv${kk}_${c} = ${widen('b', bType, 4, `cb${c} + (k4 * 4u + ${kk}u) * ldb4`)};`))}
${rep(R, (r) => `    let x${r} = subgroupBroadcast(av${Math.floor(r / S)}, ${r % S}u);\n${rep(C, (c) => rep(4, (kk) => `    ${acc(r, c)} += x${r}[${kk}] * bv${kk}_${c};`))}`)}
  }
${stores}
}`;
  }
  return `${head}${cols}${rep(Q, (q) => `  let ca${q} = p.aOff + min(m0 + ${S * q}u + lane, p.M - 1u);`)}
${bCols}
${decl}
  for (var k = 0u; k < p.K; k++) {
${rep(Q, (q) => `    let av${q} = a[ca${q} + k * p.lda];`)}
${rep(C, (c) => `    let bv${c} = ${load('b', `cb${c} + k * ldb4`)};`)}
${rep(R, (r) => `    let x${r} = subgroupBroadcast(av${Math.floor(r / S)}, ${r % S}u);\n${rep(C, (c) => `    ${acc(r, c)} += x${r} * bv${c};`)}`)}
  }
${stores}
}`;
}
