// dst[M,N] = x[M,K] · w[N,K]ᵀ for M = 1 (decode: one token). Memory-bound on w, so the point is reading w once,
// contiguously: TPR invocations share each dst row and stride along K in vec4 steps (neighbours read neighbouring
// memory), then reduce their partial sums in workgroup memory. A workgroup covers RPW rows; workgroup_id.y = m.
// Generated constants: TPR (power of two; 1 on CPU adapters: no reduction, no barriers), RPW.
var<workgroup> part: array<f32, TPR * RPW>;

@compute @workgroup_size(TPR, RPW)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m = wg.y;
  let row = wg.x * RPW + lid.y;
  let n = min(row, p.N - 1u);  // clamped rather than returning early: every invocation must reach the barriers
  var acc = 0.0;
  for (var k4 = lid.x; k4 < p.KV; k4 += TPR) { acc += dot(loadX(m, k4), loadW(n, k4)); }
  if (TPR > 1u) {
    let slot = lid.y * TPR;
    part[slot + lid.x] = acc;
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s >>= 1u) {
      if (lid.x < s) { part[slot + lid.x] += part[slot + lid.x + s]; }
      workgroupBarrier();
    }
    acc = part[slot];
  }
  if (lid.x == 0u && row < p.N) { dst[m * p.N + row] = acc; }
}
