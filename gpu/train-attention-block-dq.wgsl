// Attention backward, dq, for CPU adapters, blocked as train-attention-block.wgsl: one invocation per (head, QB
// consecutive query rows); each key/value row loaded serves QB queries. For each allowed key:
// P = exp(q·k·scale − lse), dS = P·(dout·v − D), dq += dS·k. Same bindings as train-attention-serial-dq.wgsl,
// rows as vec4. Generated constants: HEAD_DIM, QB.
const HD4 = HEAD_DIM / 4u;
struct Params { T: u32, nHeads: u32, group: u32, kvWidth: u32, scale: f32, B: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dq: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> kc: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> vc: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> stats: array<vec2<f32>>;  // (lse, D) per (row, head)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let nb = (p.T + QB - 1u) / QB;
  let i = gid.x;  // (sequence, row block, head) index
  if (i >= p.B * nb * p.nHeads) { return; }
  let h = i % p.nHeads; let blk = i / p.nHeads; let t0 = (blk % nb) * QB; let seq = (blk / nb) * p.T;
  let kvo = (h / p.group) * HD4; let kvw = p.kvWidth / 4u; let qw = p.nHeads * HD4;
  var qv: array<vec4<f32>, QB * HD4>;
  var dov: array<vec4<f32>, QB * HD4>;
  var acc: array<vec4<f32>, QB * HD4>;
  var st: array<vec2<f32>, QB>;
  for (var j = 0u; j < QB; j++) {
    let row = seq + min(t0 + j, p.T - 1u);
    let qo = row * qw + h * HD4;
    for (var d = 0u; d < HD4; d++) { qv[j * HD4 + d] = q[qo + d] * p.scale; dov[j * HD4 + d] = dout[qo + d]; }
    st[j] = stats[row * p.nHeads + h];
  }
  let tEnd = min(t0 + QB, p.T);
  for (var s = 0u; s < tEnd; s++) {
    let ko = (seq + s) * kvw + kvo;
    var kv: array<vec4<f32>, HD4>;
    var vv: array<vec4<f32>, HD4>;
    for (var d = 0u; d < HD4; d++) { kv[d] = kc[ko + d]; vv[d] = vc[ko + d]; }
    for (var j = 0u; j < QB; j++) {
      let t = t0 + j;
      if (s > t || t >= p.T || !sameSeg(seq + s, seq + t)) { continue; }
      var sc = 0.0; var dp = 0.0;
      for (var d = 0u; d < HD4; d++) { sc += dot(qv[j * HD4 + d], kv[d]); dp += dot(dov[j * HD4 + d], vv[d]); }
      let ds = exp(sc - st[j].x) * (dp - st[j].y);
      for (var d = 0u; d < HD4; d++) { acc[j * HD4 + d] += ds * kv[d]; }
    }
  }
  for (var j = 0u; j < QB; j++) {
    let t = t0 + j;
    if (t >= p.T) { break; }
    let qo = (seq + t) * qw + h * HD4;
    for (var d = 0u; d < HD4; d++) { dq[qo + d] = acc[j * HD4 + d] * p.scale; }
  }
}
