// WGSL for the GEMM on CPU adapters without subgroups when the operands can be read as vec4 (policy.ts picks it;
// register.ts covers every other shape). Bindings, Params and epilogue: common.ts,
// dst[oOff + m·ldo + n] = beta·dst + Σ_k A(m,k)·B(k,n).
//
// Why generated: on lavapipe every storage load is emulated per invocation and costs far more than the arithmetic
// it feeds, so each invocation owns a TM×TN block of the output and loads whole vec4s; the block's accumulators are
// plain variables (fully unrolled code), which LLVM keeps in registers or spills cheaply, where WGSL arrays indexed
// by loop counters may stay in memory. Three layouts:
// - 'TN' (dW += dYᵀ·X, the cross-entropy's dhead): A(m,k) = a[k·lda + m] and B(k,n) = b[k·ldb + n] are both read
//   as vec4 along m and n, and each k adds an outer product. Needs M, N, lda, ldb, aOff, bOff multiples of 4.
// - 'NT' (the cross-entropy's logits chunk, hidden · headᵀ): both read as vec4 along k, dot products. Needs K,
//   lda, ldb, aOff, bOff multiples of 4.
// - 'NN' (dX = dY·W, the cross-entropy's dhidden): A read as vec4 along k, B as vec4 along n, four k per step.
//   Needs N, K, lda, ldb, aOff, bOff multiples of 4.
// Summation over k is sequential in k for every output (as register.ts), within vec4 dots for NT.

// mask ('TN' only): LoRA's dropout (ops/dropout.ts) on B as it is loaded, its salt from binding 4 at Params.dIndex.
import { F32, gemmHeader, rep, type GluMode } from './common.ts';

export type Vec4Layout = 'TN' | 'NT' | 'NN';

/** TM×TN per invocation, measured best on lavapipe for the training shapes (more spills than registers, still ahead). */
export const VEC4_TILES: Record<Vec4Layout, [number, number]> = { TN: [8, 8], NT: [4, 4], NN: [8, 8] };

/**
 * Invocations per workgroup along n (x) and m (y), 64 in all: x covers the column blocks (up to 8), so a narrow
 * product (LoRA's rank-8 side) does not leave most lanes of each workgroup idle.
 */
export function vec4Workgroup(N: number, TN: number): { x: number; y: number } {
  const x = Math.min(8, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(N / TN)))));
  return { x, y: 64 / x };
}

/** WGSL of the vec4 GEMM for `layout` with a TM×TN block per invocation (TN layout: both multiples of 4), workgroup wg. */
export function gemmVec4Source(layout: Vec4Layout, TM: number, TN: number, wg: { x: number; y: number }, out4: boolean, mask = false, glu?: GluMode): string {
  if (mask && layout !== 'TN') throw new Error(`webgpu: the vec4 ${layout} GEMM has no dropout mask`);
  const key = `${layout}${TM}x${TN}@${wg.x}x${wg.y}${out4 ? 'o4' : ''}${mask ? 'm' : ''}${glu ?? ''}`;
  let src = cache.get(key);
  if (!src) cache.set(key, (src = generate(layout, TM, TN, wg, out4, mask, glu)));
  return src;
}
const cache = new Map<string, string>();

function generate(layout: Vec4Layout, TM: number, TN: number, wg: { x: number; y: number }, out4: boolean, mask: boolean, glu?: GluMode): string {
  // a vec4 accumulator (row i, columns n0 + 4j..+3) goes out whole or as four f32
  const storeV = (i: number, j: number, v: string) => (out4 ? `  store(m0 + ${i}u, n0 + ${4 * j}u, ${v});`
    : rep(4, (c) => `  store(m0 + ${i}u, n0 + ${4 * j + c}u, ${v}[${c}]);`));
  const head = `${gemmHeader({ dtype: F32, aWidth: 4, bWidth: 4, out4, mask, glu })}@compute @workgroup_size(${wg.x}, ${wg.y})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m0 = gid.y * ${TM}u; let n0 = gid.x * ${TN}u;
  if (m0 >= p.M || n0 >= p.N) { return; }
${mask ? '  let salt = salts[p.dIndex];\n' : ''}`;
  if (layout === 'TN') {
    const TM4 = TM / 4, TN4 = TN / 4;
    // acc_i_j: row m0+i, columns n0+4j..+3 (vec4)
    return `${head}${rep(TM4, (i) => `  let ca${i} = (p.aOff + min(m0 + ${4 * i}u, p.M - 4u)) / 4u;`)}
${rep(TN4, (j) => `  let cb${j} = (p.bOff + min(n0 + ${4 * j}u, p.N - 4u)) / 4u;`)}
  let lda4 = p.lda / 4u; let ldb4 = p.ldb / 4u;
${rep(TM * TN4, (x) => `  var acc${x} = vec4<f32>();`)}
  for (var k = 0u; k < p.K; k++) {
${rep(TM4, (i) => `    let a${i} = a[ca${i} + k * lda4];`)}
${rep(TN4, (j) => (mask ? `    let b${j} = drop4(b[cb${j} + k * ldb4], (cb${j} + k * ldb4) * 4u, salt, p.dThreshold);` : `    let b${j} = b[cb${j} + k * ldb4];`))}
${rep(TM * TN4, (x) => { const i = Math.floor(x / TN4), j = x % TN4; return `    acc${x} += a${i >> 2}[${i & 3}] * b${j};`; })}
  }
${rep(TM * TN4, (x) => storeV(Math.floor(x / TN4), x % TN4, `acc${x}`))}
}`;
  }
  if (layout === 'NN') {
    const TN4 = TN / 4;
    // acc_i_j: row m0+i, columns n0+4j..+3; A read along k, B rows along n, four k per step (added in k order)
    return `${head}${rep(TM, (i) => `  let ra${i} = (p.aOff + min(m0 + ${i}u, p.M - 1u) * p.lda) / 4u;`)}
${rep(TN4, (j) => `  let cb${j} = (p.bOff + min(n0 + ${4 * j}u, p.N - 4u)) / 4u;`)}
  let ldb4 = p.ldb / 4u;
${rep(TM * TN4, (x) => `  var acc${x} = vec4<f32>();`)}
  for (var k4 = 0u; k4 < p.K / 4u; k4++) {
${rep(TM, (i) => `    let a${i} = a[ra${i} + k4];`)}
${rep(4, (kk) => rep(TN4, (j) => `    let b${kk}_${j} = b[cb${j} + (k4 * 4u + ${kk}u) * ldb4];`))}
${rep(TM * TN4, (x) => { const i = Math.floor(x / TN4), j = x % TN4; return rep(4, (kk) => `    acc${x} += a${i}[${kk}] * b${kk}_${j};`); })}
  }
${rep(TM * TN4, (x) => storeV(Math.floor(x / TN4), x % TN4, `acc${x}`))}
}`;
  }
  return `${head}${rep(TM, (i) => `  let ra${i} = (p.aOff + min(m0 + ${i}u, p.M - 1u) * p.lda) / 4u;`)}
${rep(TN, (j) => `  let rb${j} = (p.bOff + min(n0 + ${j}u, p.N - 1u) * p.ldb) / 4u;`)}
${rep(TM * TN, (x) => `  var acc${x} = 0.0;`)}
  for (var k4 = 0u; k4 < p.K / 4u; k4++) {
${rep(TM, (i) => `    let a${i} = a[ra${i} + k4];`)}
${rep(TN, (j) => `    let b${j} = b[rb${j} + k4];`)}
${rep(TM * TN, (x) => `    acc${x} += dot(a${Math.floor(x / TN)}, b${x % TN});`)}
  }
${out4 ? rep(TM * TN / 4, (x) => { const i = Math.floor(x / (TN / 4)), j = x % (TN / 4), c = i * TN + 4 * j;
    return storeV(i, j, `vec4(acc${c}, acc${c + 1}, acc${c + 2}, acc${c + 3})`); })
    : rep(TM * TN, (x) => `  store(m0 + ${Math.floor(x / TN)}u, n0 + ${x % TN}u, acc${x});`)}
}`;
}

/** Whether gemmVec4Source(layout) applies to these operands (vec4 reads must be aligned and in bounds). */
export function vec4Fits(layout: Vec4Layout, M: number, N: number, K: number, lda: number, ldb: number, aOff: number, bOff: number): boolean {
  const aligned = [lda, ldb, aOff, bOff].every((v) => v % 4 === 0);
  return aligned && (layout === 'TN' ? M % 4 === 0 && N % 4 === 0 : layout === 'NT' ? K % 4 === 0 : N % 4 === 0 && K % 4 === 0);
}
