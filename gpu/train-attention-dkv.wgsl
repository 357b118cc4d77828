// Attention backward, dk and dv: one workgroup per (kv head g, key row s, sequence b), so each output is written
// by one workgroup (no float atomics in WGSL). It loops over the query heads sharing g and over queries t ≥ s,
// WG at a time: each invocation recomputes one query's P and dS, then dv[d] += P·dout_t[d], dk[d] += dS·q_t[d]
// over the dims each invocation owns (masked queries skipped). Prelude: sameSeg. Generated constants: WG, HEAD_DIM.
struct Params { T: u32, nHeads: u32, group: u32, kvWidth: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dk: array<f32>;
@group(0) @binding(2) var<storage, read_write> dv: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<f32>;
@group(0) @binding(4) var<storage, read> kc: array<f32>;
@group(0) @binding(5) var<storage, read> vc: array<f32>;
@group(0) @binding(6) var<storage, read> dout: array<f32>;
@group(0) @binding(7) var<storage, read> stats: array<vec2<f32>>;  // (lse, D) per (row, head)

const DPT = (HEAD_DIM + WG - 1u) / WG;
var<workgroup> ks: array<f32, HEAD_DIM>;
var<workgroup> vs: array<f32, HEAD_DIM>;
var<workgroup> ps: array<f32, WG>;
var<workgroup> dss: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = wg.x; let s = wg.y; let seq = wg.z * p.T; let krow = seq + s;
  let ko = krow * p.kvWidth + g * HEAD_DIM;
  for (var d = li; d < HEAD_DIM; d += WG) { ks[d] = kc[ko + d]; vs[d] = vc[ko + d]; }
  var accK: array<f32, DPT>;
  var accV: array<f32, DPT>;
  workgroupBarrier();
  for (var j = 0u; j < p.group; j++) {
    let h = g * p.group + j;
    for (var t0 = s; t0 < p.T; t0 += WG) {
      let t = t0 + li;
      var valid = false;
      if (t < p.T) { valid = sameSeg(seq + t, krow); }
      var pr = 0.0; var ds = 0.0;
      if (valid) {
        let qo = ((seq + t) * p.nHeads + h) * HEAD_DIM;
        var sc = 0.0; var dp = 0.0;
        for (var d = 0u; d < HEAD_DIM; d++) { sc += q[qo + d] * ks[d]; dp += dout[qo + d] * vs[d]; }
        let st = stats[(seq + t) * p.nHeads + h];
        pr = exp(sc * p.scale - st.x);
        ds = pr * (dp - st.y);
      }
      ps[li] = pr; dss[li] = ds;
      workgroupBarrier();
      let n = min(WG, p.T - t0);
      for (var i = 0u; i < n; i++) {
        let qo = ((seq + t0 + i) * p.nHeads + h) * HEAD_DIM;
        let a = ps[i]; let b = dss[i];
        if (a == 0.0 && b == 0.0) { continue; }
        for (var k = 0u; k < DPT; k++) {
          let d = li + k * WG;
          if (d < HEAD_DIM) { accV[k] += a * dout[qo + d]; accK[k] += b * q[qo + d]; }
        }
      }
      workgroupBarrier();
    }
  }
  for (var k = 0u; k < DPT; k++) {
    let d = li + k * WG;
    if (d < HEAD_DIM) { dk[ko + d] = accK[k] * p.scale; dv[ko + d] = accV[k]; }
  }
}
