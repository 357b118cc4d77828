// Training GEMM, register-blocked for CPU adapters (no workgroup memory, no barriers; see matmul-register.wgsl):
// each invocation owns a TM×TN block and walks K, reusing each A value TN times and each B value TM times.
// Generated constants: TA, TB (train-gemm.wgsl), TM, TN, WGX, WGY. Rows/cols past M/N are clamped on load.
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
  for (var k = 0u; k < p.K; k++) {
    var av: array<f32, TM>;
    for (var i = 0u; i < TM; i++) { av[i] = loadA(rows[i], k); }
    for (var j = 0u; j < TN; j++) {
      let bv = loadB(k, cols[j]);
      for (var i = 0u; i < TM; i++) { acc[i * TN + j] += av[i] * bv; }
    }
  }
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) {
      if (m0 + i < p.M && n0 + j < p.N) { store(m0 + i, n0 + j, acc[i * TN + j]); }
    }
  }
}
