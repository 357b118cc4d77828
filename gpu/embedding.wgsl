// dst[t, :] = table[ids[t], :]  (ids outside the table give zeros).
struct Params { dim: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read> ids: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x; let t = gid.y;
  if (j >= p.dim) { return; }
  let o = u32(ids[t]) * p.dim + j;
  dst[t * p.dim + j] = select(0.0, table[o], o < arrayLength(&table));
}
