// Transpose of a [rows, cols] matrix: a layout helper for the CPU adapters' GEMMs (no gradient of its own).

export const transpose = /* wgsl */ `
// dst[c·rows + r] = src[r·cols + c]: a [rows, cols] matrix transposed, one invocation per element. Lets the
// backward dX = dY·W run as the dot-product GEMM dY·(Wᵀ)ᵀ on CPU adapters (gpu/train-ops.ts matmulNN), which reads
// both operands as vec4 along k.
struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < p.rows * p.cols; i += nwg.x * 64u) {
    let c = i / p.rows; let r = i % p.rows;
    dst[i] = src[r * p.cols + c];
  }
}
`;
