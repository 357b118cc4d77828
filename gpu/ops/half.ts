// 16-bit storage in WGSL, the one home of its reading and writing. Every 16-bit tensor (core/ops.ts Half: f16 or
// bf16) is packed two elements to a u32 word, element 2i in the low half: the same bytes as a little-endian
// Uint16Array, so uploads and read-backs copy bits unchanged. Packing needs no `shader-f16` (NVIDIA's Vulkan driver
// under Dawn has none, nor has Chromium's SwiftShader), and bf16, which WGSL has no type for, is a 16-bit shift.
// The arithmetic stays f32: kernels widen on load and round (to nearest even, as torch does) on store.
import type { Half } from '../../core/ops.ts';

/** How a kernel's operand is stored: f32, or 16 bits packed in u32 words. */
export type Storage = 'f32' | Half;

/** The WGSL element type of an array of `d` read `width` elements at a time (16-bit: one or two u32 words). */
export const storageElem = (d: Storage, width: 1 | 4) => (d === 'f32' ? (width === 4 ? 'vec4<f32>' : 'f32') : width === 4 ? 'vec2<u32>' : 'u32');

/**
 * Element i of array `arr` (stored as d) as f32, or the i-th vec4 as vec4<f32>. Needs halfFns(d) in the module.
 * A scalar read of a packed array picks the half of word i/2.
 */
export function loadAs(arr: string, d: Storage, width: 1 | 4, i: string): string {
  if (d === 'f32') return `${arr}[${i}]`;
  return width === 4 ? `${d}x4(${arr}[${i}])` : `${d}x1(${arr}[(${i}) >> 1u], (${i}) & 1u)`;
}

const READ: Record<Half, string> = {
  f16: `fn f16x1(w: u32, hi: u32) -> f32 { return unpack2x16float(w)[hi]; }
fn f16x4(w: vec2<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }`,
  bf16: `fn bf16x1(w: u32, hi: u32) -> f32 { return bitcast<f32>(select(w << 16u, w & 0xffff0000u, hi == 1u)); }
fn bf16x4(w: vec2<u32>) -> vec4<f32> { return bitcast<vec4<f32>>(vec4<u32>(w.x << 16u, w.x & 0xffff0000u, w.y << 16u, w.y & 0xffff0000u)); }`,
};

// f32 → 16 bits, ties to even (pack2x16float's rounding is unspecified: lavapipe truncates), so every backend's
// 16-bit copy holds the same numbers. f16: subnormals on the 2^-24 grid, overflow to Inf; bf16: NaN stays NaN.
const WRITE: Record<Half, string> = {
  f16: `fn f16bits(v: f32) -> u32 {
  let s = (bitcast<u32>(v) >> 16u) & 0x8000u; let a = abs(v);
  if (a < 6.103515625e-5) { return s | u32(round(a * 16777216.0)); }
  let b = (bitcast<u32>(a) + 0x0fffu + ((bitcast<u32>(a) >> 13u) & 1u)) & 0xffffe000u;
  let e = b >> 23u;
  if (e >= 143u) { return s | 0x7c00u; }
  return s | ((e - 112u) << 10u) | ((b >> 13u) & 0x3ffu);
}`,
  bf16: `fn bf16bits(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return (b >> 16u) | 0x40u; }
  return ((b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u) & 0xffffu;
}`,
};

/** The WGSL helpers that loadAs (and, with write, packHalf) use for the given storages; '' for f32 only. */
export function halfFns(ds: Storage[], write = false): string {
  const halves = [...new Set(ds.filter((d): d is Half => d !== 'f32'))];
  return halves.map((h) => `${READ[h]}\n${write ? `${WRITE[h]}\n` : ''}`).join('');
}

/** The u32 word holding two f32 values a (low) and b (high) rounded to h. Needs halfFns([h], true). */
export const packHalf = (h: Half, a: string, b: string) => `(${h}bits(${a}) | (${h}bits(${b}) << 16u))`;

/** A pipeline name suffix for 16-bit operands ('' for f32); dispatch lets only kernels so named bind 16-bit buffers. */
export const storageName = (d: Storage) => (d === 'f32' ? '' : `-${d}`);

/**
 * Mixed-precision training's copy of an f32 master weight: dst (16-bit, h) = src rounded, element pair by pair
 * (one u32 word per invocation, so no two write the same word). dOff is even; an odd n leaves the last word's
 * upper half 0 (the padding past a tensor's end).
 */
export function castHalfKernel(h: Half): string {
  return /* wgsl */ `${halfFns([h], true)}
struct Params { n: u32, dOff: u32, sOff: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var w = gid.x; w < (p.n + 1u) / 2u; w += nwg.x * 256u) {
    let i = 2u * w;
    let b = select(0.0, src[p.sOff + i + 1u], i + 1u < p.n);
    dst[p.dOff / 2u + w] = ${packHalf(h, 'src[p.sOff + i]', 'b')};
  }
}
`;
}
