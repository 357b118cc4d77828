// Matmul operand access when K % 4 == 0: rows of x [M,K] and w [N,K] read as vec4 (one 16-byte load).
// Prepended to matmul-register.wgsl / matvec.wgsl; callers keep k4 < KV.
struct Params { M: u32, N: u32, K: u32, KV: u32 }  // KV = ceil(K / 4)
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w: array<vec4<f32>>;

fn loadX(row: u32, k4: u32) -> vec4<f32> { return x[row * p.KV + k4]; }
fn loadW(row: u32, k4: u32) -> vec4<f32> { return w[row * p.KV + k4]; }
