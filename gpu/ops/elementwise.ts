// add and SwiGLU: forward (one f32 per step for GPUs, a vec4 per step for CPU adapters) and SwiGLU's backward.
// add's backward is the identity (the autograd in models/llama-train.ts passes the gradient through).

export const elementwiseForward = /* wgsl */ `
// Elementwise ops over n: swiglu (dst = silu(a) · b) and add (dst = a + b). Inputs a and b (bindings 2, 3) are
// declared by gpu/webgpu-ops.ts with load_a / load_b, which read dst instead when dst aliases that input (WebGPU
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
`;

export const elementwiseForwardVec4 = /* wgsl */ `
// add (dst = a + b) and swiglu (dst = silu(a) · b) over n = 4·n4 elements, four per invocation step, for CPU
// adapters where a storage load of a vec4 costs about two of an f32 (elementwiseForward, one f32 at a time, serves
// GPUs). Inputs come from load_a / load_b, declared by gpu/train-ops.ts: a binding, or dst itself when dst aliases the
// input. Same formulas as elementwiseForward. Generated constant: OP (0 add, 1 swiglu).
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
`;

export const swigluBackward = /* wgsl */ `
// Backward of out = silu(gate)·up over n elements, s = sigmoid(gate):
// dgate = dout·up·s·(1 + gate·(1 − s)), dup = dout·gate·s. Grid-stride loop (grid capped at the device limit).
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(2) var<storage, read_write> dup: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> gate: array<f32>;
@group(0) @binding(5) var<storage, read> up: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < p.n; i += nwg.x * 256u) {
    let g = gate[i]; let d = dout[i];
    let s = 1.0 / (1.0 + exp(-g));
    dgate[i] = d * up[i] * s * (1.0 + g * (1.0 - s));
    dup[i] = d * g * s;
  }
}
`;
