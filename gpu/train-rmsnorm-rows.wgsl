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
