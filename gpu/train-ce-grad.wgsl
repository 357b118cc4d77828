// Fused cross-entropy, pass 2 per vocabulary chunk, in place on the recomputed logits scratch [rows, C]:
// g = scale·(exp(z − lse) − [c0 + c = label]), 0 on ignored rows; train-ops.ts then multiplies g into dhidden
// and dhead with the training GEMM.
struct Params { C: u32, n: u32, c0: u32, rows: u32, vocab: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> labels: array<i32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < p.rows * p.n; i += nwg.x * 256u) {
    let r = i / p.n; let c = i % p.n;
    let label = labels[r];
    var g = 0.0;
    if (label >= 0 && u32(label) < p.vocab) {
      let st = stats[r];
      g = p.scale * (exp(logits[r * p.C + c] - st.x - log(st.y)) - select(0.0, 1.0, u32(label) == p.c0 + c));
    }
    logits[r * p.C + c] = g;
  }
}
