// Elementwise ops over n: swiglu (dst = silu(a) · b) and add (dst = a + b). Inputs a and b (bindings 2, 3) are
// declared by webgpu-ops.ts with load_a / load_b, which read dst instead when dst aliases that input (WebGPU
// forbids one buffer in a writable and another binding of the same dispatch). Grid-stride loop: the grid is capped
// at the per-dimension workgroup limit. Generated constant: OP (0 add, 1 swiglu).
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < p.n; i += nwg.x * 256u) {
    let u = load_a(i); let v = load_b(i);
    if (OP == 1u) { dst[i] = u / (1.0 + exp(-u)) * v; } else { dst[i] = u + v; }
  }
}
