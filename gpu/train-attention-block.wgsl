// attentionTrain for CPU adapters, blocked: one invocation per (head, QB consecutive query rows) walks the keys
// once and folds each into QB online softmaxes, so every key/value row loaded serves QB queries (on lavapipe a
// storage load costs far more than the arithmetic it feeds). No workgroup memory, no barriers. Rows are read as
// vec4 (HEAD_DIM % 4 == 0). Same bindings and outputs as train-attention-serial.wgsl; the per-query summation
// order is that of the serial kernel. Generated constants: HEAD_DIM, QB.
const HD4 = HEAD_DIM / 4u;
struct Params { T: u32, nHeads: u32, group: u32, kvWidth: u32, scale: f32, B: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> kc: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> vc: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let nb = (p.T + QB - 1u) / QB;
  let i = gid.x;  // (sequence, row block, head) index
  if (i >= p.B * nb * p.nHeads) { return; }
  let h = i % p.nHeads; let blk = i / p.nHeads; let t0 = (blk % nb) * QB; let seq = (blk / nb) * p.T;
  let kvo = (h / p.group) * HD4; let kvw = p.kvWidth / 4u; let qw = p.nHeads * HD4;
  var qv: array<vec4<f32>, QB * HD4>;
  var acc: array<vec4<f32>, QB * HD4>;
  var m: array<f32, QB>;
  var l: array<f32, QB>;
  for (var j = 0u; j < QB; j++) {
    let qo = (seq + min(t0 + j, p.T - 1u)) * qw + h * HD4;
    for (var d = 0u; d < HD4; d++) { qv[j * HD4 + d] = q[qo + d] * p.scale; }
    m[j] = -3.0e38;
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
      var sc = 0.0;
      for (var d = 0u; d < HD4; d++) { sc += dot(qv[j * HD4 + d], kv[d]); }
      if (sc > m[j]) {  // new max: rescale what was accumulated
        let corr = exp(m[j] - sc);
        l[j] *= corr;
        for (var d = 0u; d < HD4; d++) { acc[j * HD4 + d] *= corr; }
        m[j] = sc;
      }
      let pr = exp(sc - m[j]);
      l[j] += pr;
      for (var d = 0u; d < HD4; d++) { acc[j * HD4 + d] += pr * vv[d]; }
    }
  }
  for (var j = 0u; j < QB; j++) {
    let t = t0 + j;
    if (t >= p.T) { break; }
    let row = seq + t;
    let qo = row * qw + h * HD4;
    for (var d = 0u; d < HD4; d++) { dst[qo + d] = acc[j * HD4 + d] / l[j]; }
    lse[row * p.nHeads + h] = m[j] + log(l[j]);
  }
}
