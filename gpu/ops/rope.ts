// RoPE, forward and backward: one kernel. The backward is the rotation by −θ, which the host gets by negating the
// fixed-point frequency table (WebGpuOps.ropeTable(…, inverse)), so both directions share the exact phase math.

export const rope = /* wgsl */ `
// In-place rotate-half RoPE: for i < half, (a, b) = (x[i], x[i + half]) → (a cosθ − b sinθ, b cosθ + a sinθ),
// θ = pos · invFreq[i] (theta^(−2i/headDim), or a scaled table such as llama3's rope_scaling). Accuracy matters (greedy decoding must match the reference token for token), and
// θ in f32 loses ~pos·6e-8 radians while GPU sin/cos are only specified on [−π, π]. So the host supplies each
// frequency in turns (θ/2π per position) as a 0.64 fixed-point fraction; pos · freq mod 1 is exact integer math,
// the phase is reduced to the nearest quarter turn, and sin/cos of the small remainder use Taylor polynomials.
struct Params { nHeads: u32, half: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<i32>;
@group(0) @binding(3) var<storage, read> freq: array<vec2<u32>>;  // (high, low) 32 bits of the fraction

// High 32 bits of the 64-bit product a·b, from 16-bit halves (WGSL has no mulhi).
fn mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let t = a1 * b0 + ((a0 * b0) >> 16u);
  let u = a0 * b1 + (t & 0xffffu);
  return a1 * b1 + (t >> 16u) + (u >> 16u);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x; let t = gid.y;
  if (i >= p.nHeads * p.half) { return; }
  let h = i / p.half; let j = i % p.half;
  let ps = u32(pos[t]); let f = freq[j];
  let phase = ps * f.x + mulhi(ps, f.y);      // turns · 2^32, mod one turn (wrapping u32 arithmetic)
  let q = (phase + 0x20000000u) >> 30u;        // nearest quarter turn, 0..3
  let r = f32(bitcast<i32>(phase - (q << 30u))) * 1.4629180792671596e-9;  // remainder in radians, |r| ≤ π/4
  let z = r * r;
  let sr = r + r * z * (-1.0 / 6.0 + z * (1.0 / 120.0 + z * (-1.0 / 5040.0 + z * (1.0 / 362880.0))));
  let cr = 1.0 - 0.5 * z + z * z * (1.0 / 24.0 + z * (-1.0 / 720.0 + z * (1.0 / 40320.0 + z * (-1.0 / 3628800.0))));
  var s = sr; var c = cr;  // rotate by q quarter turns
  if (q == 1u) { s = cr; c = -sr; } else if (q == 2u) { s = -sr; c = -cr; } else if (q == 3u) { s = -cr; c = sr; }
  let base = (t * p.nHeads + h) * 2u * p.half + j;
  let a = x[base]; let b = x[base + p.half];
  x[base] = a * c - b * s;
  x[base + p.half] = b * c + a * s;
}
`;
