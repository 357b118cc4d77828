// RMSNorm, forward and backward. GPUs: a workgroup per row reducing in workgroup memory (forward in place allowed);
// CPU adapters: a row per invocation, no barriers. Backward: dx per row (saving 1/rms), then dw per column.
// The host side is WebGpuOps.rmsnorm (forward) and WebGpuTrainOps.rmsnormForward/rmsnormBackward.

export const rmsnormForward = /* wgsl */ `
// dst[t] = x[t] / sqrt(mean(x[t]²) + eps) * w, one workgroup per row t; the sum of squares is reduced in
// workgroup memory. Input x (binding 2) is declared by gpu/webgpu-ops.ts with load_x, which reads dst when the op runs
// in place (safe: each element is read and then written by the same invocation). Generated constant: WG (power of 2).
struct Params { dim: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = wg.x * p.dim;
  var ss = 0.0;
  for (var j = li; j < p.dim; j += WG) { let v = load_x(base + j); ss += v * v; }
  part[li] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { part[li] += part[li + s]; }
    workgroupBarrier();
  }
  let scale = 1.0 / sqrt(part[0] / f32(p.dim) + p.eps);
  for (var j = li; j < p.dim; j += WG) { dst[base + j] = load_x(base + j) * scale * w[j]; }
}
`;

export const rmsnormForwardRows = /* wgsl */ `
// RMSNorm forward for CPU adapters: dst[row] = x[row] / sqrt(mean(x[row]²) + eps) * w, one invocation per row
// walking its columns, so no workgroup memory and no barriers (a workgroup per row with a tree reduction pays a
// barrier per level, costly when invocations are emulated on CPU threads). Not in place.
struct Params { dim: u32, eps: f32, rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var row = gid.x; row < p.rows; row += nwg.x * 64u) {
    let base = row * p.dim;
    var ss = 0.0;
    for (var j = 0u; j < p.dim; j++) { let v = x[base + j]; ss += v * v; }
    let scale = 1.0 / sqrt(ss / f32(p.dim) + p.eps);
    for (var j = 0u; j < p.dim; j++) { dst[base + j] = x[base + j] * scale * w[j]; }
  }
}
`;

export const rmsnormBackward = /* wgsl */ `
// RMSNorm backward, dx part: one workgroup per row. With r = 1/sqrt(mean(x²) + eps),
// dx = r·w·dy − x · r³/dim · Σ_j(w_j dy_j x_j). Both row sums are reduced together in workgroup memory; r is
// saved per row for the dw kernel (rmsnormBackwardWeight). Generated constant: WG (power of two).
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
`;

export const rmsnormBackwardRows = /* wgsl */ `
// RMSNorm backward, dx part, for CPU adapters: one invocation per row walking its columns (no workgroup memory, no
// barriers; see rmsnormForwardRows). With r = 1/sqrt(mean(x²) + eps): dx = r·w·dy − x · r³/dim · Σ_j(w_j dy_j x_j);
// r is saved per row for the dw kernel (rmsnormBackwardWeight). Same bindings as rmsnormBackward.
struct Params { dim: u32, eps: f32, rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read> w: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var row = gid.x; row < p.rows; row += nwg.x * 64u) {
    let base = row * p.dim;
    var ss = 0.0; var dot = 0.0;
    for (var j = 0u; j < p.dim; j++) { let v = x[base + j]; ss += v * v; dot += w[j] * dy[base + j] * v; }
    let r = 1.0 / sqrt(ss / f32(p.dim) + p.eps);
    let c = r * r * r / f32(p.dim) * dot;
    for (var j = 0u; j < p.dim; j++) { dx[base + j] = r * w[j] * dy[base + j] - x[base + j] * c; }
    rstd[row] = r;
  }
}
`;

export const rmsnormBackwardWeight = /* wgsl */ `
// RMSNorm backward, weight part: dwAcc[j] += Σ_rows dy[row, j] · x[row, j] · rstd[row], one invocation per column
// (neighbours read neighbouring columns; a fixed summation order, so results are deterministic).
struct Params { dim: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dw: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= p.dim) { return; }
  var acc = 0.0;
  for (var r = 0u; r < p.rows; r++) { acc += dy[r * p.dim + j] * x[r * p.dim + j] * rstd[r]; }
  dw[j] += acc;
}
`;
