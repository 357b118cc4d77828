// dst[t] = x[t] / sqrt(mean(x[t]²) + eps) * w, one workgroup per row t; the sum of squares is reduced in
// workgroup memory. Input x (binding 2) is declared by webgpu-ops.ts with load_x, which reads dst when the op runs
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
