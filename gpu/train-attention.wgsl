// Causal GQA self-attention for training (attentionTrain), flash-style: one workgroup per (head h, row t,
// sequence b); keys are taken WG at a time, each invocation scores one key, the chunk max rescales a running
// softmax and each invocation accumulates the output dims it owns. Saves lse = max + log(sum) per (row, head)
// for the backward. Packing: sameSeg(a, b) comes from a prelude train-ops.ts generates; masked keys get
// probability 0 (also when a whole chunk is masked) and their values are never read.
// Generated constants: WG, HEAD_DIM.
struct Params { T: u32, nHeads: u32, group: u32, kvWidth: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<f32>;
@group(0) @binding(4) var<storage, read> kc: array<f32>;
@group(0) @binding(5) var<storage, read> vc: array<f32>;

const DPT = (HEAD_DIM + WG - 1u) / WG;  // output dims per invocation: d = li + k·WG
const MASKED = -3.0e38;
var<workgroup> qs: array<f32, HEAD_DIM>;
var<workgroup> scores: array<f32, WG>;
var<workgroup> probs: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wg.x; let t = wg.y; let seq = wg.z * p.T; let row = seq + t;
  let qo = (row * p.nHeads + h) * HEAD_DIM;
  let kvo = (h / p.group) * HEAD_DIM;
  for (var d = li; d < HEAD_DIM; d += WG) { qs[d] = q[qo + d]; }
  var m = MASKED;  // running max
  var l = 0.0;     // running sum of exp(score − m)
  var acc: array<f32, DPT>;
  workgroupBarrier();
  for (var s0 = 0u; s0 <= t; s0 += WG) {
    let s = s0 + li;
    var score = MASKED;
    var valid = false;
    if (s <= t) { valid = sameSeg(seq + s, row); }
    if (valid) {
      var dotp = 0.0;
      let ko = (seq + s) * p.kvWidth + kvo;
      for (var d = 0u; d < HEAD_DIM; d++) { dotp += qs[d] * kc[ko + d]; }
      score = dotp * p.scale;
    }
    scores[li] = score;
    workgroupBarrier();
    var mNew = m;
    for (var i = 0u; i < WG; i++) { mNew = max(mNew, scores[i]); }
    probs[li] = select(0.0, exp(score - mNew), valid);
    let corr = exp(m - mNew);
    m = mNew;
    l *= corr;
    for (var k = 0u; k < DPT; k++) { acc[k] *= corr; }
    workgroupBarrier();
    let n = min(WG, t + 1u - s0);
    for (var i = 0u; i < n; i++) {
      let pr = probs[i];
      if (pr == 0.0) { continue; }  // masked (same branch in every invocation: no divergence)
      l += pr;
      let vo = (seq + s0 + i) * p.kvWidth + kvo;
      for (var k = 0u; k < DPT; k++) {
        let d = li + k * WG;
        if (d < HEAD_DIM) { acc[k] += pr * vc[vo + d]; }
      }
    }
  }
  for (var k = 0u; k < DPT; k++) {
    let d = li + k * WG;
    if (d < HEAD_DIM) { dst[qo + d] = acc[k] / l; }
  }
  if (li == 0u) { lse[row * p.nHeads + h] = m + log(l); }
}
