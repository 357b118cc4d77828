// Fused cross-entropy, end of pass 1: loss[r] = lse − label logit (0 for ignored labels), lse = m + log(l).
struct Params { rows: u32, vocab: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> loss: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> labels: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var r = gid.x; r < p.rows; r += nwg.x * 64u) {
    let st = stats[r]; let label = labels[r];
    loss[r] = select(0.0, st.x + log(st.y) - st.z, label >= 0 && u32(label) < p.vocab);
  }
}
