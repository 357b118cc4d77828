// Σ x² on the device in two deterministic stages. STAGE 0: G workgroups grid-stride over x [n] and each writes
// its partial sum to part[wg]; STAGE 1: one workgroup sums the G partials and adds them into out[0].
// Generated constants: STAGE, WG (power of two).
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  var acc = 0.0;
  for (var i = wg.x * WG + li; i < p.n; i += nwg.x * WG) {
    let v = src[i];
    acc += select(v * v, v, STAGE == 1u);  // stage 1 sums the partials as they are
  }
  part[li] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { part[li] += part[li + s]; }
    workgroupBarrier();
  }
  if (li == 0u) {
    if (STAGE == 0u) { dst[wg.x] = part[0]; } else { dst[0] += part[0]; }
  }
}
