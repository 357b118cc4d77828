// Training GEMM, shared-memory tiled for GPUs (see matmul-tiled.wgsl): a workgroup computes a BM×BN tile, staging
// BK-deep slices of A and B in workgroup memory; each invocation accumulates TM×TN outputs strided by the
// workgroup size. Staging walks whichever index is contiguous in memory for the layout (TA/TB), so neighbouring
// invocations load neighbouring addresses. Generated constants: TA, TB, BM, BN, BK, TM, TN, WGX = BN/TN, WGY = BM/TM.
var<workgroup> at: array<f32, BK * BM>;  // [k][m]
var<workgroup> bt: array<f32, BK * BN>;  // [k][n]

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let mBase = wg.y * BM;
  let nBase = wg.x * BN;
  var acc: array<f32, TM * TN>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var i = li; i < BM * BK; i += WGX * WGY) {
      var kk = i % BK; var mm = i / BK;       // A row-major in m: k is contiguous
      if (TA == 1u) { mm = i % BM; kk = i / BM; }
      let m = mBase + mm; let k = k0 + kk;
      at[kk * BM + mm] = select(0.0, loadA(min(m, p.M - 1u), min(k, p.K - 1u)), m < p.M && k < p.K);
    }
    for (var i = li; i < BN * BK; i += WGX * WGY) {
      var nn = i % BN; var kk = i / BN;       // B row-major in k: n is contiguous
      if (TB == 1u) { kk = i % BK; nn = i / BK; }
      let n = nBase + nn; let k = k0 + kk;
      bt[kk * BN + nn] = select(0.0, loadB(min(k, p.K - 1u), min(n, p.N - 1u)), n < p.N && k < p.K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var av: array<f32, TM>;
      for (var i = 0u; i < TM; i++) { av[i] = at[kk * BM + lid.y + i * WGY]; }
      for (var j = 0u; j < TN; j++) {
        let bv = bt[kk * BN + lid.x + j * WGX];
        for (var i = 0u; i < TM; i++) { acc[i * TN + j] += av[i] * bv; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let m = mBase + lid.y + i * WGY;
    for (var j = 0u; j < TN; j++) {
      let n = nBase + lid.x + j * WGX;
      if (m < p.M && n < p.N) { store(m, n, acc[i * TN + j]); }
    }
  }
}
