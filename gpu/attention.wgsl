// Causal grouped-query attention against the KV cache, one workgroup per (head h, query t). Keys 0..pos[t] are
// taken in chunks of WG: each invocation scores one key, the chunk max rescales a running ("online") softmax, and
// each invocation accumulates the output dims it owns over the chunk's values. So no per-sequence score buffer is
// needed and any cache length works; two barriers per chunk. Input q (binding 2) is declared by webgpu-ops.ts
// with load_q, which reads dst when q and dst are one buffer (safe: a workgroup stages its q slice before it
// writes the same slice of dst).
// Generated constants: WG, HEAD_DIM.
struct Params { nHeads: u32, group: u32, kvWidth: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> kc: array<f32>;
@group(0) @binding(4) var<storage, read> vc: array<f32>;
@group(0) @binding(5) var<storage, read> pos: array<i32>;

const DPT = (HEAD_DIM + WG - 1u) / WG;  // output dims per invocation: d = li + k·WG
const MASKED = -3.0e38;                 // score of keys past pos[t]: exp(MASKED − max) = 0
var<workgroup> qs: array<f32, HEAD_DIM>;
var<workgroup> scores: array<f32, WG>;
var<workgroup> probs: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wg.x; let t = wg.y;
  let qo = (t * p.nHeads + h) * HEAD_DIM;
  let kvo = (h / p.group) * HEAD_DIM;
  for (var d = li; d < HEAD_DIM; d += WG) { qs[d] = load_q(qo + d); }
  let len = u32(pos[t]) + 1u;
  var m = MASKED;  // running max
  var l = 0.0;     // running sum of exp(score − m)
  var acc: array<f32, DPT>;
  workgroupBarrier();
  for (var s0 = 0u; s0 < len; s0 += WG) {
    let s = s0 + li;
    var score = MASKED;
    if (s < len) {
      var dotp = 0.0;
      let ko = s * p.kvWidth + kvo;
      for (var d = 0u; d < HEAD_DIM; d++) { dotp += qs[d] * kc[ko + d]; }
      score = dotp * p.scale;
    }
    scores[li] = score;
    workgroupBarrier();
    var mNew = m;
    for (var i = 0u; i < WG; i++) { mNew = max(mNew, scores[i]); }
    probs[li] = exp(score - mNew);
    let corr = exp(m - mNew);  // rescales what was accumulated under the old max (0 on the first chunk)
    m = mNew;
    l *= corr;
    for (var k = 0u; k < DPT; k++) { acc[k] *= corr; }
    workgroupBarrier();
    let n = min(WG, len - s0);
    for (var i = 0u; i < n; i++) {
      let pr = probs[i];
      l += pr;
      let vo = (s0 + i) * p.kvWidth + kvo;
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
}
