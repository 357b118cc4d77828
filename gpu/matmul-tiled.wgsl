// dst[M,N] = x[M,K] · w[N,K]ᵀ, shared-memory tiled, for GPUs. A workgroup computes a BM×BN tile of dst; for each
// BK slice of K it stages x[BM,BK] and w[BN,BK] in workgroup memory (each element read from global memory once
// per workgroup), then every invocation accumulates a TM×TN register block. An invocation's rows and columns are
// strided by the workgroup size, so neighbouring invocations store neighbouring dst elements.
// Generated constants: BM, BN, BK (multiple of 4), TM, TN, WGX = BN / TN, WGY = BM / TM.
const BK4 = BK / 4u;
const STRIDE = BK4 + 1u;  // one vec4 of padding per staged row: rows start in different banks
var<workgroup> xs: array<vec4<f32>, BM * STRIDE>;
var<workgroup> ws: array<vec4<f32>, BN * STRIDE>;

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let mBase = wg.y * BM;
  let nBase = wg.x * BN;
  var acc: array<f32, TM * TN>;
  for (var k0 = 0u; k0 < p.KV; k0 += BK4) {
    // Stage the slice; vec4s past K are zero, rows past M/N are clamped (their results are never stored).
    for (var i = li; i < BM * BK4; i += WGX * WGY) {
      let r = i / BK4; let c = i % BK4;
      var v = vec4(0.0);
      if (k0 + c < p.KV) { v = loadX(min(mBase + r, p.M - 1u), k0 + c); }
      xs[r * STRIDE + c] = v;
    }
    for (var i = li; i < BN * BK4; i += WGX * WGY) {
      let r = i / BK4; let c = i % BK4;
      var v = vec4(0.0);
      if (k0 + c < p.KV) { v = loadW(min(nBase + r, p.N - 1u), k0 + c); }
      ws[r * STRIDE + c] = v;
    }
    workgroupBarrier();
    for (var c = 0u; c < BK4; c++) {
      var a: array<vec4<f32>, TM>;
      for (var i = 0u; i < TM; i++) { a[i] = xs[(lid.y + i * WGY) * STRIDE + c]; }
      for (var j = 0u; j < TN; j++) {
        let b = ws[(lid.x + j * WGX) * STRIDE + c];
        for (var i = 0u; i < TM; i++) { acc[i * TN + j] += dot(a[i], b); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let m = mBase + lid.y + i * WGY;
    for (var j = 0u; j < TN; j++) {
      let n = nBase + lid.x + j * WGX;
      if (m < p.M && n < p.N) { dst[m * p.N + n] = acc[i * TN + j]; }
    }
  }
}
