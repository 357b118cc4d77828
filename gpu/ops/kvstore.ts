// The KV cache store (inference only): cache[pos[t], :] = src[t, :]; writes past the end of the cache are dropped.

/**
 * An f32 cache, or an f16 one (shader-f16: the store converts). With ROUND = 1 an f32 cache holds values rounded to
 * f16, as on a device without shader-f16, so every backend's f16 cache holds the same numbers.
 */
export function kvStore(cache: 'f32' | 'f16'): string {
  return /* wgsl */ `${cache === 'f16' ? 'enable f16;\n' : ''}
struct Params { width: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> cache: array<${cache}>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> pos: array<i32>;

// f32 → nearest f16 value, ties to even, as the other backends round (pack2x16float's rounding is not specified:
// lavapipe truncates). Normal range by the mantissa bits, subnormals on the 2^-24 grid; overflow is not expected here.
fn roundF16(v: f32) -> f32 {
  if (abs(v) < 6.103515625e-5) { return round(v * 16777216.0) / 16777216.0; }
  let b = bitcast<u32>(v);
  return bitcast<f32>((b + 0x0fffu + ((b >> 13u) & 1u)) & 0xffffe000u);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x; let t = gid.y;
  let o = u32(pos[t]) * p.width + j;
  if (j < p.width && o < arrayLength(&cache)) {
    var v = src[t * p.width + j];
    if (ROUND == 1u) { v = roundF16(v); }
    cache[o] = ${cache}(v);
  }
}
`;
}
