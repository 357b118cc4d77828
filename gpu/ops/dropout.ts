// LoRA dropout: the keep/drop function shared with the GEMMs (which apply the mask on the fly, gemm/common.ts), and
// the stand-alone kernel where no GEMM applies it. The backward multiplies by the same mask: the same kernel.

export const dropKeepFn = /* wgsl */ `
// LoRA's dropout mask, drawn where it is used (core/train-ops.ts DropMask/dropKeep: the same function):
// element j of the masked buffer survives iff murmur3's 32-bit finalizer of j + salt is ≥ threshold.
fn drop_keep(j: u32, salt: u32, threshold: u32) -> bool {
  var h = j + salt;
  h ^= h >> 16u; h *= 0x85ebca6bu; h ^= h >> 13u; h *= 0xc2b2ae35u; h ^= h >> 16u;
  return h >= threshold;
}

/** v (elements j .. j+3 of the masked buffer) with its dropped elements zeroed */
fn drop4(v: vec4<f32>, j: u32, salt: u32, threshold: u32) -> vec4<f32> {
  let keep = vec4<bool>(drop_keep(j, salt, threshold), drop_keep(j + 1u, salt, threshold),
    drop_keep(j + 2u, salt, threshold), drop_keep(j + 3u, salt, threshold));
  return select(vec4<f32>(), v, keep);
}
`;

export const dropout = /* wgsl */ `
// Dropout where no GEMM applies it on the fly (gpu/train-ops.ts): MODE 0, dst[j] = mask(src)[j] (a masked operand
// copied out); MODE 1, dst[j] = beta·dst[j] + mask(src)[j] (a masked product added in). Prepended: dropKeepFn.
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
`;
