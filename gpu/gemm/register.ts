// WGSL for the register-blocked GEMM, any layout and any shape, for CPU adapters (lavapipe, SwiftShader): no
// workgroup memory and no barriers, which are costly when invocations are emulated on CPU threads. Each invocation
// owns a TM×TN block of dst and walks K, so each A value is reused TN times and each B value TM times; rows and
// columns past M, N are clamped on load and skipped on store. policy.ts picks it where the vec4 and subgroup kernels
// do not apply (16-bit operands, ragged or unaligned shapes, TT).
// - 'NT' (y = x·Wᵀ): A and B rows both run along k, so K is walked in vec4 steps and each step is a vec4 dot;
//   rows4 (K, lda, ldb, aOff, bOff multiples of 4) reads them as aligned vec4s, else four scalars are gathered and
//   the ones past K zeroed (indices clamped inside the row, so nothing reads out of bounds).
// - other layouts: one k per step, A(m,k)·B(k,n) in k order.
import { dtypeName, gemmHeader, gluName, widen, type GemmDtypes, type GemmLayout, type GluMode } from './common.ts';

/** TM×TN outputs per invocation, a WGX×WGY workgroup (webgpu-ops.ts KernelConfig.register). */
export interface RegisterTile { TM: number; TN: number; WGX: number; WGY: number }

export interface RegisterGemm {
  layout: GemmLayout; tile: RegisterTile; dtype: GemmDtypes;
  /** NT only: rows read as aligned vec4s (else gathered) */
  rows4: boolean;
  /** the SwiGLU finished in the store (common.ts) */
  glu?: GluMode;
}

export const registerKernelName = (g: RegisterGemm) =>
  `gemm-register-${g.layout}${g.layout === 'NT' ? (g.rows4 ? '-v4' : '-g4') : ''}-${g.tile.TM}x${g.tile.TN}@${g.tile.WGX}x${g.tile.WGY}${gluName(g.glu)}${dtypeName(g.dtype)}`;

export const registerGrid = (t: RegisterTile, M: number, N: number): [number, number] => [Math.ceil(N / (t.TN * t.WGX)), Math.ceil(M / (t.TM * t.WGY))];

/** The four elements from k = 4·k4 of the row starting at `base` (an expression) of arr, zero past K. */
export function gatherRow(arr: string, d: GemmDtypes['a']): string {
  const r = (i: string) => widen(arr, d, 1, i);
  return `fn load_${arr}(base: u32, k4: u32) -> vec4<f32> {
  let k = k4 * 4u; let i = base + k; let last = p.K - 1u - k;
  return vec4(${r('i')}, select(0.0, ${r('i + min(1u, last)')}, last >= 1u),
    select(0.0, ${r('i + min(2u, last)')}, last >= 2u), select(0.0, ${r('i + min(3u, last)')}, last >= 3u));
}`;
}

/** The four elements from k = 4·k4 of the aligned row starting at vec4 `base` of arr. */
export const vec4Row = (arr: string, d: GemmDtypes['a']) =>
  `fn load_${arr}(base: u32, k4: u32) -> vec4<f32> { return ${widen(arr, d, 4, 'base + k4')}; }`;

const cache = new Map<string, string>();

export function registerSource(g: RegisterGemm): string {
  const key = registerKernelName(g);
  let src = cache.get(key);
  if (!src) cache.set(key, (src = generate(g)));
  return src;
}

function generate(g: RegisterGemm): string {
  const { layout, tile: { TM, TN, WGX, WGY }, dtype } = g;
  const nt = layout === 'NT', w = nt && g.rows4 ? 4 : 1, div = w === 4 ? ' / 4u' : '';
  const loads = nt ? [g.rows4 ? vec4Row : gatherRow].flatMap((f) => [f('a', dtype.a), f('b', dtype.b)]).join('\n')
    : `fn load_a(m: u32, k: u32) -> f32 { return ${widen('a', dtype.a, 1, layout[0] === 'N' ? 'p.aOff + m * p.lda + k' : 'p.aOff + k * p.lda + m')}; }
fn load_b(k: u32, n: u32) -> f32 { return ${widen('b', dtype.b, 1, layout[1] === 'N' ? 'p.bOff + k * p.ldb + n' : 'p.bOff + n * p.ldb + k')}; }`;
  const head = `${gemmHeader({ dtype, aWidth: w, bWidth: w, glu: g.glu })}${loads}
@compute @workgroup_size(${WGX}, ${WGY})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m0 = gid.y * ${TM}u;
  let n0 = gid.x * ${TN}u;
  if (m0 >= p.M || n0 >= p.N) { return; }
  var rows: array<u32, ${TM}>;  // NT: where each row starts (in vec4s when rows4)
  var cols: array<u32, ${TN}>;
  for (var i = 0u; i < ${TM}u; i++) { rows[i] = ${nt ? `(p.aOff + min(m0 + i, p.M - 1u) * p.lda)${div}` : 'min(m0 + i, p.M - 1u)'}; }
  for (var j = 0u; j < ${TN}u; j++) { cols[j] = ${nt ? `(p.bOff + min(n0 + j, p.N - 1u) * p.ldb)${div}` : 'min(n0 + j, p.N - 1u)'}; }
  var acc: array<f32, ${TM * TN}>;
`;
  const tail = `  for (var i = 0u; i < ${TM}u; i++) {
    for (var j = 0u; j < ${TN}u; j++) { store(m0 + i, n0 + j, acc[i * ${TN}u + j]); }
  }
}
`;
  if (nt) {
    return `${head}  for (var k4 = 0u; k4 < (p.K + 3u) / 4u; k4++) {
    var av: array<vec4<f32>, ${TM}>;
    for (var i = 0u; i < ${TM}u; i++) { av[i] = load_a(rows[i], k4); }
    for (var j = 0u; j < ${TN}u; j++) {
      let bv = load_b(cols[j], k4);
      for (var i = 0u; i < ${TM}u; i++) { acc[i * ${TN}u + j] += dot(av[i], bv); }
    }
  }
${tail}`;
  }
  return `${head}  for (var k = 0u; k < p.K; k++) {
    var av: array<f32, ${TM}>;
    for (var i = 0u; i < ${TM}u; i++) { av[i] = load_a(rows[i], k); }
    for (var j = 0u; j < ${TN}u; j++) {
      let bv = load_b(k, cols[j]);
      for (var i = 0u; i < ${TM}u; i++) { acc[i * ${TN}u + j] += av[i] * bv; }
    }
  }
${tail}`;
}
