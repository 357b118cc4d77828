// Dropout where no GEMM applies it on the fly (train-ops.ts): MODE 0, dst[j] = mask(src)[j] (a masked operand
// copied out); MODE 1, dst[j] = beta·dst[j] + mask(src)[j] (a masked product added in). Prepended: dropout.wgsl.
struct Params { n: u32, index: u32, threshold: u32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> salts: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let salt = salts[p.index];
  for (var j = gid.x; j < p.n; j += nwg.x * 256u) {
    let v = select(0.0, src[j], drop_keep(j, salt, p.threshold));
    if (MODE == 0u) { dst[j] = v; } else if (p.beta == 0.0) { dst[j] = v; } else { dst[j] = p.beta * dst[j] + v; }
  }
}
