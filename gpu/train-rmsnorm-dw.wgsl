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
