// WGSL for an NT product with one row of A (decode: one token, y = x·Wᵀ), any adapter. Memory-bound on B, so the
// point is reading B once, contiguously: TPR invocations share each dst column and stride along k in vec4 steps
// (neighbours read neighbouring memory), then reduce their partial sums in workgroup memory (TPR = 1 on CPU
// adapters: no reduction, no barriers). A workgroup covers RPW columns; workgroup_id.y = m, so M > 1 also works.
// Rows are read as aligned vec4s where rows4 (register.ts's NT rule), else gathered.
import { biasName, dtypeName, gemmHeader, gluName, type GemmDtypes, type GluMode } from './common.ts';
import { gatherRow, vec4Row } from './register.ts';

/** TPR invocations per output (a power of two), RPW outputs per workgroup (webgpu-ops.ts KernelConfig.matvec). */
export interface MatvecShape { TPR: number; RPW: number }

export interface MatvecGemm { shape: MatvecShape; dtype: GemmDtypes; rows4: boolean; bias?: boolean; glu?: GluMode }

export const matvecKernelName = (g: MatvecGemm) => `gemm-matvec${g.rows4 ? '-v4' : '-g4'}-${g.shape.TPR}x${g.shape.RPW}${biasName(g.bias)}${gluName(g.glu)}${dtypeName(g.dtype)}`;

export const matvecGrid = (s: MatvecShape, M: number, N: number): [number, number] => [Math.ceil(N / s.RPW), M];

const cache = new Map<string, string>();

export function matvecSource(g: MatvecGemm): string {
  const { shape: { TPR, RPW }, dtype, rows4 } = g;
  if (!(TPR > 0 && (TPR & (TPR - 1)) === 0)) throw new Error(`webgpu: matvec TPR must be a power of two, got ${TPR} (WebGpuOpsOptions.config.matvec)`);
  const key = matvecKernelName(g);
  let src = cache.get(key);
  if (src) return src;
  const load = rows4 ? vec4Row : gatherRow, div = rows4 ? ' / 4u' : '';
  const reduce = TPR === 1 ? '' : `  let slot = lid.y * ${TPR}u;
  part[slot + lid.x] = acc;
  workgroupBarrier();
  for (var s = ${TPR / 2}u; s > 0u; s >>= 1u) {
    if (lid.x < s) { part[slot + lid.x] += part[slot + lid.x + s]; }
    workgroupBarrier();
  }
  acc = part[slot];
`;
  src = `${gemmHeader({ dtype, aWidth: rows4 ? 4 : 1, bWidth: rows4 ? 4 : 1, bias: g.bias, glu: g.glu })}${load('a', dtype.a)}
${load('b', dtype.b)}
${TPR > 1 ? `var<workgroup> part: array<f32, ${TPR * RPW}>;\n` : ''}
@compute @workgroup_size(${TPR}, ${RPW})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m = wg.y;
  let n = wg.x * ${RPW}u + lid.y;
  // clamped rather than returning early: every invocation must reach the barriers (store skips n ≥ N)
  let ra = (p.aOff + m * p.lda)${div};
  let rb = (p.bOff + min(n, p.N - 1u) * p.ldb)${div};
  var acc = 0.0;
  for (var k4 = lid.x; k4 < (p.K + 3u) / 4u; k4 += ${TPR}u) { acc += dot(load_a(ra, k4), load_b(rb, k4)); }
${reduce}  if (lid.x == 0u) { store(m, n, acc); }
}
`;
  cache.set(key, src);
  return src;
}
