// cache[pos[t], :] = src[t, :]  (writes past the end of the cache are dropped).
struct Params { width: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> cache: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> pos: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x; let t = gid.y;
  let o = u32(pos[t]) * p.width + j;
  if (j < p.width && o < arrayLength(&cache)) { cache[o] = src[t * p.width + j]; }
}
