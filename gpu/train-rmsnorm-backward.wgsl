// RMSNorm backward, dx part: one workgroup per row. With r = 1/sqrt(mean(x²) + eps),
// dx = r·w·dy − x · r³/dim · Σ_j(w_j dy_j x_j). Both row sums are reduced together in workgroup memory; r is
// saved per row for the dw kernel (train-rmsnorm-dw.wgsl). Generated constant: WG (power of two).
struct Params { dim: u32, eps: f32, rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read> w: array<f32>;
var<workgroup> part: array<vec2<f32>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wg.x + wg.y * 65535u;  // rows may exceed one grid dimension
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  var acc = vec2(0.0);  // (Σ x², Σ w·dy·x)
  for (var j = li; j < p.dim; j += WG) {
    let v = x[base + j];
    acc += vec2(v * v, w[j] * dy[base + j] * v);
  }
  part[li] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { part[li] += part[li + s]; }
    workgroupBarrier();
  }
  let r = 1.0 / sqrt(part[0].x / f32(p.dim) + p.eps);
  let c = r * r * r / f32(p.dim) * part[0].y;
  for (var j = li; j < p.dim; j += WG) { dx[base + j] = r * w[j] * dy[base + j] - x[base + j] * c; }
  if (li == 0u) { rstd[row] = r; }
}
