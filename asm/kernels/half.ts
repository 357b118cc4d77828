// Weights stored in 16 bits (--torch_dtype float16/bfloat16), widened to f32 as they are loaded: the kernels that
// read weights (matmul.ts, embeddingHalf) are generic over the format W, one of
//   f32        plain floats;
//   BF16       bfloat16: the top half of an f32, widened by a 16-bit shift (exact);
//   F16        IEEE half: loaded sign-extended, shifted into f32 position and rebiased by one multiply by 2^112
//              (exact, subnormal halves and the sign included), Inf/NaN patched where the product reaches 2^16;
//   F16Finite  the same for a tensor with no Inf/NaN (WasmOps.upload checks), without the patch: the patch costs as
//              much as the rest of the widening, which makes the difference between f16 decode beating f32 or not.
// The aliases only name formats (every one but f32 is 2 bytes a weight). The choice is made at compile time, so the
// f32 kernels are what they were before 16-bit weights existed.
export type BF16 = u16;
export type F16 = i16;
export type F16Finite = i8;

/** Format codes WasmOps passes (asm entry points dispatch on them). */
export const W_F16 = 1, W_BF16 = 2, W_F16_FINITE = 3;

/** Bytes of one row of K weights. */
// @ts-ignore: decorator
@inline export function wrow<W>(K: i32): usize { return <usize>K << (sizeof<W>() == 4 ? 2 : 1); }

/** Weights k..k+3 of the row at `row`, as f32x4. */
// @ts-ignore: decorator
@inline export function wload4<W>(row: usize, k: i32): v128 {
  if (sizeof<W>() == 4) return v128.load(row + (<usize>k << 2));
  if (isSigned<W>()) return f16x4(v128.load16x4_s(row + (<usize>k << 1)), sizeof<W>() == 2);  // sign-extended to i32 lanes
  return i32x4.shl(v128.load16x4_u(row + (<usize>k << 1)), 16);
}

/** Weight k of the row at `row`, as f32. */
// @ts-ignore: decorator
@inline export function wload<W>(row: usize, k: i32): f32 {
  if (sizeof<W>() == 4) return load<f32>(row + (<usize>k << 2));
  if (isSigned<W>()) return f16(<i32>load<i16>(row + (<usize>k << 1)), sizeof<W>() == 2);
  return reinterpret<f32>(<u32>load<u16>(row + (<usize>k << 1)) << 16);
}

const POW2_112: f32 = reinterpret<f32>(0x77800000);
// A sign-extended half shifted left by 13: its sign lands on bit 31 (bits 30..28 are copies, cleared by the mask) and
// its exponent and mantissa on f32's bits 27..13, so the multiply by 2^112 gives the value (f16's bias 15, f32's 127).
const SIGN_EM = 0x8fffe000;
const INF: f32 = 65536;  // an all-ones half exponent multiplies to 2^16·(1.m): Inf/NaN get f32's all-ones exponent

/** Four IEEE half patterns (sign-extended, one per i32 lane) as f32x4; specials: Inf/NaN may occur. */
// @ts-ignore: decorator
@inline function f16x4(h: v128, specials: bool): v128 {
  const v = f32x4.mul(v128.and(i32x4.shl(h, 13), i32x4.splat(SIGN_EM)), f32x4.splat(POW2_112));
  if (!specials) return v;
  return v128.or(v, v128.and(f32x4.ge(f32x4.abs(v), f32x4.splat(INF)), i32x4.splat(0x7f800000)));
}

/** One IEEE half pattern (sign-extended) as f32. */
// @ts-ignore: decorator
@inline function f16(h: i32, specials: bool): f32 {
  const v = reinterpret<f32>((h << 13) & SIGN_EM) * POW2_112;
  return specials && abs(v) >= INF ? reinterpret<f32>(reinterpret<u32>(v) | 0x7f800000) : v;
}

/** out[t, :] = table[ids[t], :] widened to f32, for a table in format wt (W_F16, W_BF16, W_F16_FINITE). */
export function embeddingHalf(out: usize, table: usize, ids: usize, T: i32, dim: i32, wt: i32): void {
  if (wt == W_BF16) embedRows<BF16>(out, table, ids, T, dim);
  else if (wt == W_F16_FINITE) embedRows<F16Finite>(out, table, ids, T, dim);
  else embedRows<F16>(out, table, ids, T, dim);
}

function embedRows<W>(out: usize, table: usize, ids: usize, T: i32, dim: i32): void {
  for (let t = 0; t < T; t++) {
    const row = table + <usize>load<i32>(ids + (<usize>t << 2)) * wrow<W>(dim), o = out + (<usize>t * dim << 2);
    let k = 0;
    for (; k + 4 <= dim; k += 4) v128.store(o + (<usize>k << 2), wload4<W>(row, k));
    for (; k < dim; k++) store<f32>(o + (<usize>k << 2), wload<W>(row, k));
  }
}
