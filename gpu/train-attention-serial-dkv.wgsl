// Attention backward, dk and dv, for CPU adapters: one invocation per (kv head, key row), no workgroup memory or
// barriers (see train-attention-serial.wgsl). It walks the query heads sharing the kv head and the queries t ≥ s:
// dv += P·dout_t, dk += dS·q_t. Same bindings as train-attention-dkv.wgsl. Generated constant: HEAD_DIM.
struct Params { T: u32, nHeads: u32, group: u32, kvWidth: u32, scale: f32, B: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dk: array<f32>;
@group(0) @binding(2) var<storage, read_write> dv: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<f32>;
@group(0) @binding(4) var<storage, read> kc: array<f32>;
@group(0) @binding(5) var<storage, read> vc: array<f32>;
@group(0) @binding(6) var<storage, read> dout: array<f32>;
@group(0) @binding(7) var<storage, read> stats: array<vec2<f32>>;  // (lse, D) per (row, head)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let nKv = p.nHeads / p.group;
  let i = gid.x;  // (key row, kv head) index
  if (i >= p.B * p.T * nKv) { return; }
  let g = i % nKv; let krow = i / nKv; let s = krow % p.T; let seq = krow - s;
  let ko = i * HEAD_DIM;
  var kv: array<f32, HEAD_DIM>;
  var vv: array<f32, HEAD_DIM>;
  for (var d = 0u; d < HEAD_DIM; d++) { kv[d] = kc[ko + d] * p.scale; vv[d] = vc[ko + d]; }
  var accK: array<f32, HEAD_DIM>;
  var accV: array<f32, HEAD_DIM>;
  for (var t = s; t < p.T; t++) {
    if (!sameSeg(seq + t, krow)) { continue; }
    for (var j = 0u; j < p.group; j++) {
      let qi = (seq + t) * p.nHeads + g * p.group + j;
      let qo = qi * HEAD_DIM;
      var sc = 0.0; var dp = 0.0;
      for (var d = 0u; d < HEAD_DIM; d++) { sc += q[qo + d] * kv[d]; dp += dout[qo + d] * vv[d]; }
      let st = stats[qi];
      let pr = exp(sc - st.x);
      let ds = pr * (dp - st.y);
      for (var d = 0u; d < HEAD_DIM; d++) { accV[d] += pr * dout[qo + d]; accK[d] += ds * q[qo + d]; }
    }
  }
  for (var d = 0u; d < HEAD_DIM; d++) { dk[ko + d] = accK[d] * p.scale; dv[ko + d] = accV[d]; }
}
