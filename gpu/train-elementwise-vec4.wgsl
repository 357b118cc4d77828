// add (dst = a + b) and swiglu (dst = silu(a) · b) over n = 4·n4 elements, four per invocation step, for CPU
// adapters where a storage load of a vec4 costs about two of an f32 (elementwise.wgsl, one f32 at a time, serves
// GPUs). Inputs come from load_a / load_b, declared by train-ops.ts: a binding, or dst itself when dst aliases the
// input. Same formulas as elementwise.wgsl. Generated constant: OP (0 add, 1 swiglu).
struct Params { n4: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < p.n4; i += nwg.x * 64u) {
    let u = load_a(i); let v = load_b(i);
    if (OP == 1u) { dst[i] = u / (1.0 + exp(-u)) * v; } else { dst[i] = u + v; }
  }
}
