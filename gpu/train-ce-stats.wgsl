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
