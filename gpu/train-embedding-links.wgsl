// Embedding backward, pass 1 (no float atomics in WGSL, so repeated ids are summed by one invocation each):
// for each row t, link[t] = (next row u > t with the same id, or rows; 1 if t is the id's first row, else 0).
// O(rows²) integer compares in all, independent of dim. Rows with ids outside the table are never heads.
struct Params { rows: u32, vocab: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> link: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var t = gid.x; t < p.rows; t += nwg.x * 64u) {
    let id = ids[t];
    var head = select(0u, 1u, id >= 0 && u32(id) < p.vocab);
    for (var u = 0u; u < t && head == 1u; u++) { if (ids[u] == id) { head = 0u; } }
    var next = p.rows;
    for (var u = t + 1u; u < p.rows; u++) { if (ids[u] == id) { next = u; break; } }
    link[t] = vec2(next, head);
  }
}
