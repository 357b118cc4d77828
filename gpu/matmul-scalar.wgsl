// Matmul operand access for any K: rows are not 16-byte aligned, so gather 4 scalars and zero the ones past K
// (indices are clamped inside the row so nothing reads out of bounds). Same interface as matmul-vec4.wgsl.
struct Params { M: u32, N: u32, K: u32, KV: u32 }  // KV = ceil(K / 4)
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;

fn loadX(row: u32, k4: u32) -> vec4<f32> {
  let k = k4 * 4u; let b = row * p.K + k; let last = p.K - 1u - k;
  return vec4(x[b], select(0.0, x[b + min(1u, last)], last >= 1u),
    select(0.0, x[b + min(2u, last)], last >= 2u), select(0.0, x[b + min(3u, last)], last >= 3u));
}
fn loadW(row: u32, k4: u32) -> vec4<f32> {
  let k = k4 * 4u; let b = row * p.K + k; let last = p.K - 1u - k;
  return vec4(w[b], select(0.0, w[b + min(1u, last)], last >= 1u),
    select(0.0, w[b + min(2u, last)], last >= 2u), select(0.0, w[b + min(3u, last)], last >= 3u));
}
