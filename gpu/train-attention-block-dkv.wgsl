// Attention backward, dk and dv, for CPU adapters, blocked: one invocation per (kv head, QB consecutive key rows)
// walks the query heads sharing the kv head and the queries t ≥ its first key, so each query/dout row loaded
// serves QB keys: dv += P·dout_t, dk += dS·q_t. Same bindings as train-attention-serial-dkv.wgsl, rows as vec4;
// the per-key summation order is the serial kernel's. Generated constants: HEAD_DIM, QB.
const HD4 = HEAD_DIM / 4u;
struct Params { T: u32, nHeads: u32, group: u32, kvWidth: u32, scale: f32, B: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dk: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dv: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> kc: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> vc: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> stats: array<vec2<f32>>;  // (lse, D) per (row, head)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let nKv = p.nHeads / p.group;
  let nb = (p.T + QB - 1u) / QB;
  let i = gid.x;  // (sequence, key block, kv head) index
  if (i >= p.B * nb * nKv) { return; }
  let g = i % nKv; let blk = i / nKv; let s0 = (blk % nb) * QB; let seq = (blk / nb) * p.T;
  let kvw = p.kvWidth / 4u; let qw = p.nHeads * HD4;
  var kv: array<vec4<f32>, QB * HD4>;
  var vv: array<vec4<f32>, QB * HD4>;
  var accK: array<vec4<f32>, QB * HD4>;
  var accV: array<vec4<f32>, QB * HD4>;
  for (var j = 0u; j < QB; j++) {
    let ko = (seq + min(s0 + j, p.T - 1u)) * kvw + g * HD4;
    for (var d = 0u; d < HD4; d++) { kv[j * HD4 + d] = kc[ko + d] * p.scale; vv[j * HD4 + d] = vc[ko + d]; }
  }
  for (var t = s0; t < p.T; t++) {
    for (var hh = 0u; hh < p.group; hh++) {
      let qi = (seq + t) * p.nHeads + g * p.group + hh;
      let qo = qi * HD4;
      var qv: array<vec4<f32>, HD4>;
      var dov: array<vec4<f32>, HD4>;
      for (var d = 0u; d < HD4; d++) { qv[d] = q[qo + d]; dov[d] = dout[qo + d]; }
      let st = stats[qi];
      for (var j = 0u; j < QB; j++) {
        let s = s0 + j;
        if (s > t || s >= p.T || !sameSeg(seq + t, seq + s)) { continue; }
        var sc = 0.0; var dp = 0.0;
        for (var d = 0u; d < HD4; d++) { sc += dot(qv[d], kv[j * HD4 + d]); dp += dot(dov[d], vv[j * HD4 + d]); }
        let pr = exp(sc - st.x);
        let ds = pr * (dp - st.y);
        for (var d = 0u; d < HD4; d++) { accV[j * HD4 + d] += pr * dov[d]; accK[j * HD4 + d] += ds * qv[d]; }
      }
    }
  }
  for (var j = 0u; j < QB; j++) {
    let s = s0 + j;
    if (s >= p.T) { break; }
    let ko = (seq + s) * kvw + g * HD4;
    for (var d = 0u; d < HD4; d++) { dk[ko + d] = accK[j * HD4 + d] * p.scale; dv[ko + d] = accV[j * HD4 + d]; }
  }
}
