// RMSNorm backward, dx part, for CPU adapters: one invocation per row walking its columns (no workgroup memory, no
// barriers; see train-rmsnorm-rows.wgsl). With r = 1/sqrt(mean(x²) + eps): dx = r·w·dy − x · r³/dim · Σ_j(w_j dy_j x_j);
// r is saved per row for the dw kernel (train-rmsnorm-dw.wgsl). Same bindings as train-rmsnorm-backward.wgsl.
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
