// Attention backward, dq: one workgroup per (head h, query row t, sequence b), keys WG at a time as in the forward.
// Each invocation recomputes one key's probability P = exp(q·k·scale − lse) and dS = P·(dout·v − D); then
// dq[d] = scale · Σ_s dS_s · k_s[d] over the dims each invocation owns (masked keys skipped). Prelude: sameSeg.
// Generated constants: WG, HEAD_DIM.
struct Params { T: u32, nHeads: u32, group: u32, kvWidth: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dq: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> kc: array<f32>;
@group(0) @binding(4) var<storage, read> vc: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<f32>;
@group(0) @binding(6) var<storage, read> stats: array<vec2<f32>>;  // (lse, D) per (row, head)

const DPT = (HEAD_DIM + WG - 1u) / WG;
var<workgroup> qs: array<f32, HEAD_DIM>;
var<workgroup> dos: array<f32, HEAD_DIM>;
var<workgroup> dss: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wg.x; let t = wg.y; let seq = wg.z * p.T; let row = seq + t;
  let qo = (row * p.nHeads + h) * HEAD_DIM;
  let kvo = (h / p.group) * HEAD_DIM;
  for (var d = li; d < HEAD_DIM; d += WG) { qs[d] = q[qo + d]; dos[d] = dout[qo + d]; }
  let st = stats[row * p.nHeads + h];
  var acc: array<f32, DPT>;
  workgroupBarrier();
  for (var s0 = 0u; s0 <= t; s0 += WG) {
    let s = s0 + li;
    var valid = false;
    if (s <= t) { valid = sameSeg(seq + s, row); }
    var ds = 0.0;
    if (valid) {
      let ko = (seq + s) * p.kvWidth + kvo;
      var sc = 0.0; var dp = 0.0;
      for (var d = 0u; d < HEAD_DIM; d++) { sc += qs[d] * kc[ko + d]; dp += dos[d] * vc[ko + d]; }
      ds = exp(sc * p.scale - st.x) * (dp - st.y);
    }
    dss[li] = ds;
    workgroupBarrier();
    let n = min(WG, t + 1u - s0);
    for (var i = 0u; i < n; i++) {
      let g = dss[i];
      if (g == 0.0) { continue; }
      let ko = (seq + s0 + i) * p.kvWidth + kvo;
      for (var k = 0u; k < DPT; k++) {
        let d = li + k * WG;
        if (d < HEAD_DIM) { acc[k] += g * kc[ko + d]; }
      }
    }
    workgroupBarrier();  // dss is rewritten by the next chunk
  }
  for (var k = 0u; k < DPT; k++) {
    let d = li + k * WG;
    if (d < HEAD_DIM) { dq[qo + d] = acc[k] * p.scale; }
  }
}
