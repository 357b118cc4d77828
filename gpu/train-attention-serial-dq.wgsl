// Attention backward, dq, for CPU adapters: one invocation per (head, row), no workgroup memory or barriers (see
// train-attention-serial.wgsl). For each allowed key: P = exp(q·k·scale − lse), dS = P·(dout·v − D), dq += dS·k.
// Same bindings as train-attention-dq.wgsl. Generated constant: HEAD_DIM.
struct Params { T: u32, nHeads: u32, group: u32, kvWidth: u32, scale: f32, B: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dq: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> kc: array<f32>;
@group(0) @binding(4) var<storage, read> vc: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<f32>;
@group(0) @binding(6) var<storage, read> stats: array<vec2<f32>>;  // (lse, D) per (row, head)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;  // (row, head) index
  if (i >= p.B * p.T * p.nHeads) { return; }
  let h = i % p.nHeads; let row = i / p.nHeads; let t = row % p.T; let seq = row - t;
  let qo = i * HEAD_DIM;
  let kvo = (h / p.group) * HEAD_DIM;
  let st = stats[i];
  var qv: array<f32, HEAD_DIM>;
  var dov: array<f32, HEAD_DIM>;
  for (var d = 0u; d < HEAD_DIM; d++) { qv[d] = q[qo + d] * p.scale; dov[d] = dout[qo + d]; }
  var acc: array<f32, HEAD_DIM>;
  for (var s = 0u; s <= t; s++) {
    if (!sameSeg(seq + s, row)) { continue; }
    let ko = (seq + s) * p.kvWidth + kvo;
    var sc = 0.0; var dp = 0.0;
    for (var d = 0u; d < HEAD_DIM; d++) { sc += qv[d] * kc[ko + d]; dp += dov[d] * vc[ko + d]; }
    let ds = exp(sc - st.x) * (dp - st.y);
    for (var d = 0u; d < HEAD_DIM; d++) { acc[d] += ds * kc[ko + d]; }
  }
  for (var d = 0u; d < HEAD_DIM; d++) { dq[qo + d] = acc[d] * p.scale; }
}
