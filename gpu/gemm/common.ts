// What every GEMM kernel shares, whatever its strategy: one Params struct, one binding layout and one epilogue.
//   dst[oOff + m·ldo + n] = beta·dst[…] + alpha·Σ_k A(m,k)·B(k,n) (+ bias[n])
// where the layout's first letter says how A is read (N: a[aOff + m·lda + k], T: a[aOff + k·lda + m]) and its
// second how B is (N: b[bOff + k·ldb + n], T: b[bOff + n·ldb + k]). One description so covers y = x·Wᵀ, dX = dY·W,
// dW += dYᵀ·X and the vocabulary chunks of the fused cross-entropy (offsets into lm_head, whose chunks are not
// 256-byte aligned as binding offsets would need). Bindings: 0 Params, 1 dst, 2 a, 3 b, 4 the dropout salts, 5 the bias.
// Operands may be stored in 16 bits (Ops.upload's half: f16 or bf16, packed in u32 words, ops/half.ts) and are
// widened as they are read: the arithmetic stays f32.
// The epilogue: beta = 0 overwrites without reading dst (its old contents may be anything, NaN included); a
// dropout mask on the product (LoRA's, ops/dropout.ts) is applied as it is stored, then alpha (LoRA's scale) and a
// per-column bias (Qwen2's q/k/v biases) in the kernels that bind one: no pass of their own over dst. glu (the up
// projection's SwiGLU, core/ops.ts GluStore): 'beside' stores the result r in dst and silu(gate)·r in act
// (training keeps up for the backward), 'replace' stores silu(gate)·r in dst (inference); gate and act are laid
// out as dst, at bindings 6 and 7, and the formula is the elementwise swiglu's (ops/elementwise.ts).
import { dropKeepFn } from '../ops/dropout.ts';
import { halfFns, loadAs, storageElem, storageName, type Storage } from '../ops/half.ts';

export type GemmLayout = 'NN' | 'NT' | 'TN' | 'TT';
export type GemmDtype = Storage;
/** The storage type of each operand (dst is f32). */
export interface GemmDtypes { a: GemmDtype; b: GemmDtype }
export const F32: GemmDtypes = { a: 'f32', b: 'f32' };

/** The Params words of a GEMM: gemmParams(...) in this order (beta as its f32 bits), the mask's two at the end. */
export const PARAMS = 'M: u32, N: u32, K: u32, lda: u32, ldb: u32, ldo: u32, aOff: u32, bOff: u32, oOff: u32, beta: f32, alpha: f32';

export const rep = (n: number, f: (i: number) => string, sep = '\n') => Array.from({ length: n }, (_, i) => f(i)).join(sep);

/** The WGSL element type of an operand read `width` at a time. */
export const elem = storageElem;

/** Reading element i of array `arr` as f32 (or vec4<f32>): 16-bit storage is widened. */
export const widen = loadAs;

/** A suffix naming a kernel's 16-bit operands (webgpu-ops.ts dispatch lets only kernels so named bind them). */
export const dtypeName = (d: GemmDtypes) => `${d.a === 'f32' ? '' : `${storageName(d.a)}a`}${storageName(d.b)}`;

export interface HeaderSpec {
  dtype: GemmDtypes;
  /** how many elements of a and b one array element holds */
  aWidth: 1 | 4; bWidth: 1 | 4;
  /** dst written a vec4 (four columns) at a time: N, ldo and oOff multiples of 4 */
  out4?: boolean;
  /** a dropout mask: the salts binding and ops/dropout.ts (Params gains dIndex, dThreshold) */
  mask?: boolean;
  /** the mask applies to the product as it is stored (store() then takes the salt) */
  maskOut?: boolean;
  /** a per-column bias added as dst is stored (binding 5) */
  bias?: boolean;
  /** the SwiGLU finished in the store (bindings 6 gate, 7 act) */
  glu?: GluMode;
}

/** How a GEMM's store finishes an up projection's SwiGLU: act beside the kept product, or in its place. */
export type GluMode = 'beside' | 'replace';

/** A suffix naming a kernel that adds a bias (its binding 5). */
export const biasName = (bias: boolean | undefined) => (bias ? '-bias' : '');

/** A suffix naming a kernel that finishes a SwiGLU (glu). */
export const gluName = (glu: GluMode | undefined) => (glu ? `-glu${glu === 'beside' ? '2' : '1'}` : '');

/** The enable lines, Params, bindings and store(m, n, v) of a kernel. */
export function gemmHeader(h: HeaderSpec): string {
  const o = h.out4 ? 'vec4<f32>' : 'f32';
  const masked = !h.maskOut ? 'v0' : h.out4 ? 'drop4(v0, i * 4u, salt, p.dThreshold)' : 'select(0.0, v0, drop_keep(i, salt, p.dThreshold))';
  return `${halfFns([h.dtype.a, h.dtype.b])}struct Params { ${PARAMS}${h.mask ? ', dIndex: u32, dThreshold: u32' : ''} }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<${o}>;
@group(0) @binding(2) var<storage, read> a: array<${elem(h.dtype.a, h.aWidth)}>;
@group(0) @binding(3) var<storage, read> b: array<${elem(h.dtype.b, h.bWidth)}>;
${h.mask ? `@group(0) @binding(4) var<storage, read> salts: array<u32>;\n${dropKeepFn}` : ''}${h.bias ? '@group(0) @binding(5) var<storage, read> bias: array<f32>;\n' : ''}${
  h.glu ? `@group(0) @binding(6) var<storage, read> gate: array<${o}>;\n` : ''}${h.glu === 'beside' ? `@group(0) @binding(7) var<storage, read_write> act: array<${o}>;\n` : ''}
// beta = 0 overwrites without reading dst (its old contents may be anything, NaN included).
fn store(m: u32, n: u32, v0: ${o}${h.maskOut ? ', salt: u32' : ''}) {
  if (m >= p.M || n >= p.N) { return; }
  let i = (p.oOff + m * p.ldo + n)${h.out4 ? ' / 4u' : ''};
  let v = p.alpha * ${masked}${!h.bias ? '' : h.out4 ? ' + vec4(bias[n], bias[n + 1u], bias[n + 2u], bias[n + 3u])' : ' + bias[n]'};
${h.glu ? gluStore(h.glu) : '  if (p.beta == 0.0) { dst[i] = v; } else { dst[i] = p.beta * dst[i] + v; }\n'}}
`;
}

/** store()'s last lines with a SwiGLU: r, the value dst would receive, then silu(gate)·r to act or dst. */
function gluStore(glu: GluMode): string {
  return `  var r = v;
  if (p.beta != 0.0) { r = p.beta * dst[i] + v; }
  let g = gate[i];
  ${glu === 'beside' ? 'dst[i] = r;\n  act[i]' : 'dst[i]'} = g / (1.0 + exp(-g)) * r;
`;
}

/** Whether the output can be stored a vec4 at a time (whole aligned groups of four columns). */
export function vec4Out(N: number, ldo: number, oOff: number): boolean { return N % 4 === 0 && ldo % 4 === 0 && oOff % 4 === 0; }

/** Whether an NT product's rows (A's and B's, both along k) can be read as aligned vec4s. */
export function rowsVec4(K: number, lda: number, ldb: number, aOff: number, bOff: number): boolean {
  return [K, lda, ldb, aOff, bOff].every((v) => v % 4 === 0);
}
