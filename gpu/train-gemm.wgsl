// Operand access for the training GEMMs (prepended to train-gemm-register.wgsl; gemm-tiled.ts generates the same):
// dst[oOff + m·ldo + n] = beta·dst[…] + Σ_k A(m,k)·B(k,n), with layouts fixed per pipeline by generated constants
// TA (0: A(m,k) = a[aOff + m·lda + k], 1: a[aOff + k·lda + m]) and TB (0: B(k,n) = b[bOff + k·ldb + n],
// 1: b[bOff + n·ldb + k]). One kernel so covers dX = dY·W, dW += dYᵀ·X and the vocabulary chunks of the fused
// cross-entropy (offsets into lm_head, whose chunks are not 256-byte aligned as binding offsets would need).
struct Params { M: u32, N: u32, K: u32, lda: u32, ldb: u32, ldo: u32, aOff: u32, bOff: u32, oOff: u32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

fn loadA(m: u32, k: u32) -> f32 {
  if (TA == 0u) { return a[p.aOff + m * p.lda + k]; }
  return a[p.aOff + k * p.lda + m];
}
fn loadB(k: u32, n: u32) -> f32 {
  if (TB == 0u) { return b[p.bOff + k * p.ldb + n]; }
  return b[p.bOff + n * p.ldb + k];
}
// beta = 0 overwrites without reading dst (its old contents may be anything, NaN included).
fn store(m: u32, n: u32, v: f32) {
  let i = p.oOff + m * p.ldo + n;
  if (p.beta == 0.0) { dst[i] = v; } else { dst[i] = p.beta * dst[i] + v; }
}
