// dst[M,N] = x[M,K] · w[N,K]ᵀ, register-blocked, for CPU adapters (lavapipe, SwiftShader): no workgroup memory
// and no barriers, which are costly when invocations are emulated on CPU threads. Each invocation owns a TM×TN
// block of dst and walks K in vec4 steps, so each loaded x vector is reused TN times and each w vector TM times.
// Generated constants: TM, TN, WGX, WGY. Rows/cols past M/N are clamped on load and skipped on store.
@compute @workgroup_size(WGX, WGY)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m0 = gid.y * TM;
  let n0 = gid.x * TN;
  if (m0 >= p.M || n0 >= p.N) { return; }
  var rows: array<u32, TM>;
  var cols: array<u32, TN>;
  for (var i = 0u; i < TM; i++) { rows[i] = min(m0 + i, p.M - 1u); }
  for (var j = 0u; j < TN; j++) { cols[j] = min(n0 + j, p.N - 1u); }
  var acc: array<f32, TM * TN>;
  for (var k4 = 0u; k4 < p.KV; k4++) {
    var a: array<vec4<f32>, TM>;
    for (var i = 0u; i < TM; i++) { a[i] = loadX(rows[i], k4); }
    for (var j = 0u; j < TN; j++) {
      let b = loadW(cols[j], k4);
      for (var i = 0u; i < TM; i++) { acc[i * TN + j] += dot(a[i], b); }
    }
  }
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) {
      if (m0 + i < p.M && n0 + j < p.N) { dst[(m0 + i) * p.N + n0 + j] = acc[i * TN + j]; }
    }
  }
}
