// Fused cross-entropy over vocabulary chunks (the logits are never whole in memory): forward stats per chunk,
// the loss, then the gradient of each recomputed chunk, which the training GEMM multiplies into dhidden and dhead.

export const crossEntropyStats = /* wgsl */ `
// Fused cross-entropy, pass 1 per vocabulary chunk: folds the chunk's logits (scratch [rows, C], n valid columns,
// vocabulary entries c0..c0+n) into each row's running (max m, Σ exp(z − m), label logit), one workgroup per row.
// Generated constant: WG (power of two).
struct Params { C: u32, n: u32, c0: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> stats: array<vec4<f32>>;  // (m, l, label logit, unused)
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<i32>;
var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r = wg.x + wg.y * 65535u;
  if (r >= p.rows) { return; }
  let base = r * p.C;
  var mx = -3.0e38;
  for (var c = li; c < p.n; c += WG) { mx = max(mx, logits[base + c]); }
  part[li] = mx;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { part[li] = max(part[li], part[li + s]); }
    workgroupBarrier();
  }
  var st = vec4(-3.0e38, 0.0, 0.0, 0.0);
  if (p.c0 > 0u) { st = stats[r]; }
  let m = max(st.x, part[0]);
  workgroupBarrier();  // everyone has read part[0] before it is reused
  var sum = 0.0;
  for (var c = li; c < p.n; c += WG) { sum += exp(logits[base + c] - m); }
  part[li] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { part[li] += part[li + s]; }
    workgroupBarrier();
  }
  if (li == 0u) {
    let label = labels[r];
    var zl = st.z;
    if (label >= i32(p.c0) && label < i32(p.c0 + p.n)) { zl = logits[base + u32(label) - p.c0]; }
    stats[r] = vec4(m, st.y * exp(st.x - m) + part[0], zl, 0.0);
  }
}
`;

export const crossEntropyLoss = /* wgsl */ `
// Fused cross-entropy, end of pass 1: loss[r] = lse − label logit (0 for ignored labels), lse = m + log(l).
struct Params { rows: u32, vocab: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> loss: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> labels: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var r = gid.x; r < p.rows; r += nwg.x * 64u) {
    let st = stats[r]; let label = labels[r];
    loss[r] = select(0.0, st.x + log(st.y) - st.z, label >= 0 && u32(label) < p.vocab);
  }
}
`;

export const crossEntropyGrad = /* wgsl */ `
// Fused cross-entropy, pass 2 per vocabulary chunk, in place on the recomputed logits scratch [rows, C]:
// g = scale·(exp(z − lse) − [c0 + c = label]), 0 on ignored rows; gpu/train-ops.ts then multiplies g into dhidden
// and dhead with the training GEMM.
struct Params { C: u32, n: u32, c0: u32, rows: u32, vocab: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> labels: array<i32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < p.rows * p.n; i += nwg.x * 256u) {
    let r = i / p.n; let c = i % p.n;
    let label = labels[r];
    var g = 0.0;
    if (label >= 0 && u32(label) < p.vocab) {
      let st = stats[r];
      g = p.scale * (exp(logits[r * p.C + c] - st.x - log(st.y)) - select(0.0, 1.0, u32(label) == p.c0 + c));
    }
    logits[r * p.C + c] = g;
  }
}
`;
