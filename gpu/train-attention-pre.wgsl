// Attention backward, first pass: stats[row, h] = (lse, D) with D = Σ_d dout·out over the head's dims — the
// softmax-backward row term (Σ_s P·dP = dout·out). Packing lse beside it keeps the later kernels at ≤ 8 buffers.
struct Params { n: u32, headDim: u32 }  // n = rows · nHeads
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> stats: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> o: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < p.n; i += nwg.x * 64u) {
    var acc = 0.0;
    for (var d = 0u; d < p.headDim; d++) { acc += dout[i * p.headDim + d] * o[i * p.headDim + d]; }
    stats[i] = vec2(lse[i], acc);
  }
}
