// Adds a per-column bias in place (Qwen2's q/k/v biases). Its backward, db = Σ_rows dy, is a GEMM with a column of
// ones (models/llama-train.ts: matmulTNAcc), so it has no kernel of its own.

export const biasForward = /* wgsl */ `
// In place x[i] += bias[i % dim] over n = rows · dim elements (Qwen2's q/k/v projection biases).
// Grid-stride loop: the grid is capped at the per-dimension workgroup limit.
struct Params { n: u32, dim: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < p.n; i += nwg.x * 256u) { x[i] += bias[i % p.dim]; }
}
`;
