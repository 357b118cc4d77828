// attentionTrain for CPU adapters (lavapipe, SwiftShader): one invocation per (head, row) walks its keys one by
// one with the online softmax in registers — no workgroup memory and no barriers, which are costly when
// invocations are emulated on CPU threads; neighbouring invocations are neighbouring heads of one row.
// Same bindings and outputs as train-attention.wgsl. Generated constants: HEAD_DIM.
struct Params { T: u32, nHeads: u32, group: u32, kvWidth: u32, scale: f32, B: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<f32>;
@group(0) @binding(4) var<storage, read> kc: array<f32>;
@group(0) @binding(5) var<storage, read> vc: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;  // (row, head) index
  if (i >= p.B * p.T * p.nHeads) { return; }
  let h = i % p.nHeads; let row = i / p.nHeads; let t = row % p.T; let seq = row - t;
  let qo = i * HEAD_DIM;
  let kvo = (h / p.group) * HEAD_DIM;
  var qv: array<f32, HEAD_DIM>;
  for (var d = 0u; d < HEAD_DIM; d++) { qv[d] = q[qo + d] * p.scale; }
  var m = -3.0e38; var l = 0.0;
  var acc: array<f32, HEAD_DIM>;
  for (var s = 0u; s <= t; s++) {
    if (!sameSeg(seq + s, row)) { continue; }
    let ko = (seq + s) * p.kvWidth + kvo;
    var sc = 0.0;
    for (var d = 0u; d < HEAD_DIM; d++) { sc += qv[d] * kc[ko + d]; }
    if (sc > m) {  // new max: rescale what was accumulated
      let corr = exp(m - sc);
      l *= corr;
      for (var d = 0u; d < HEAD_DIM; d++) { acc[d] *= corr; }
      m = sc;
    }
    let pr = exp(sc - m);
    l += pr;
    for (var d = 0u; d < HEAD_DIM; d++) { acc[d] += pr * vc[ko + d]; }
  }
  for (var d = 0u; d < HEAD_DIM; d++) { dst[qo + d] = acc[d] / l; }
  lse[i] = m + log(l);
}
