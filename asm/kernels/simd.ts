// The f32x4 helpers every kernel shares. madd is a fused multiply-add (one rounding, one instruction on x86 FMA3 and
// Arm) when the module is built with relaxed SIMD (build/kernels-relaxed.wasm), a multiply then an add otherwise;
// the runtime loads the relaxed build where it validates (runtime/wasm.ts).

/** acc + a·b per lane */
// @ts-ignore: decorator
@inline export function madd(acc: v128, a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

/** the sum of the four lanes */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.add(s, v128.shuffle<f32>(s, s, 1, 0, 3, 2)), 0);
}
