// Every GEMM strategy of gpu/gemm/generate.ts run directly from its description on the device, each layout it
// has, against a float64 JS reference: strided operands (leading dimensions wider than the rows, offsets), beta 0
// and 0.5 over a prefilled dst, alpha, the dropout mask where the strategy draws it, the bias where it adds one,
// 16-bit operands where it reads them. The policy's choices are table-tested in test/gemm-policy.test.ts; the ops that
// call them (matmul, the training GEMMs) in test/webgpu-ops.test.ts and test/train-ops.test.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { releaseGPU } from '../runtime/webgpu.ts';
import { testGPU } from './gpu.ts';
import { roundToHalf, type Buf } from '../core/ops.ts';
import { dropKeep, dropThreshold } from '../core/train-ops.ts';
import { createWebGpuOps, type WebGpuOps } from '../gpu/webgpu-ops.ts';
import { gemmGrid, gemmKernelName, gemmSource, type GemmKernel } from '../gpu/gemm/generate.ts';
import type { GemmDtypes, GemmLayout } from '../gpu/gemm/common.ts';

const gpu = await testGPU();
const skip = !gpu.ok && `no WebGPU: ${gpu.ok ? '' : gpu.reason}`;
const ops = gpu.ok ? await createWebGpuOps(gpu.gpu) : null;
after(() => { ops?.destroy(); releaseGPU(); });

// WebGpuOps' pipeline cache and dispatch, used here without its policy
interface Internals {
  kernel(name: string, src: string): unknown;
  dispatch(k: unknown, params: number[], bufs: (Buf | null)[], x: number, y: number): void;
  tileLimits: { invocations: number; sharedBytes: number };
}

let seed = 1;
const randn = (n: number) => Float32Array.from({ length: n }, () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed / 2 ** 32) * 2 - 1;
});
const F32 = new Float32Array(1), U32 = new Uint32Array(F32.buffer);
const bits = (v: number) => { F32[0] = v; return U32[0]; };

interface Product { M: number; N: number; K: number; lda: number; ldb: number; ldo: number; aOff: number; bOff: number; oOff: number; beta: number; alpha: number }

/** A product with leading dimensions `pad` wider than the rows and the given offsets. */
function product(layout: GemmLayout, M: number, N: number, K: number, pad: number, off: number, beta: number, alpha = 1): Product {
  return { M, N, K, lda: (layout[0] === 'N' ? K : M) + pad, ldb: (layout[1] === 'N' ? N : K) + pad, ldo: N + pad, aOff: off, bOff: off, oOff: off, beta, alpha };
}

/** Runs kernel k on p and compares with the float64 reference over all of dst (elements outside the product kept). */
async function check(k: GemmKernel, p: Product) {
  const o = ops!, io = o as unknown as Internals, salt = 0x9e3779b9, threshold = dropThreshold(0.3);
  const aRows = k.layout[0] === 'N' ? p.M : p.K, bRows = k.layout[1] === 'N' ? p.K : p.N;
  const half = (x: Float32Array, d: GemmDtypes['a']) => (d === 'f32' ? x : roundToHalf(x, d));
  const a = half(randn(p.aOff + aRows * p.lda), k.dtype.a), b = half(randn(p.bOff + bRows * p.ldb), k.dtype.b);
  const dst0 = randn(p.oOff + p.M * p.ldo), bias = randn(p.N);
  const A = (m: number, kk: number) => { const i = p.aOff + (k.layout[0] === 'N' ? m * p.lda + kk : kk * p.lda + m); return k.mask && k.layout === 'NT' && !dropKeep(salt, i, threshold) ? 0 : a[i]; };
  const B = (kk: number, n: number) => { const i = p.bOff + (k.layout[1] === 'N' ? kk * p.ldb + n : n * p.ldb + kk); return k.mask && k.layout === 'TN' && !dropKeep(salt, i, threshold) ? 0 : b[i]; };
  const want = Float64Array.from(dst0);
  for (let m = 0; m < p.M; m++) {
    for (let n = 0; n < p.N; n++) {
      let s = 0;
      for (let kk = 0; kk < p.K; kk++) s += A(m, kk) * B(kk, n);
      const i = p.oOff + m * p.ldo + n;
      if (k.mask && k.layout === 'NN' && !dropKeep(salt, i, threshold)) s = 0;
      want[i] = (p.beta ? p.beta * dst0[i] : 0) + p.alpha * s + (k.bias ? bias[n] : 0);
    }
  }
  // glu: act = silu(gate)·r beside dst = r, or dst = silu(gate)·r in its place, inside the product only
  const gate = Float32Array.from(randn(dst0.length), (v) => 4 * v), act0 = randn(dst0.length), wantAct = Float64Array.from(act0);
  if (k.glu) {
    for (let m = 0; m < p.M; m++) {
      for (let n = 0; n < p.N; n++) {
        const i = p.oOff + m * p.ldo + n, g = gate[i], r = want[i];
        if (k.glu === 'beside') wantAct[i] = (g / (1 + Math.exp(-g))) * r; else want[i] = (g / (1 + Math.exp(-g))) * r;
      }
    }
  }
  const bufs = [o.upload(dst0), o.upload(a, undefined, k.dtype.a !== 'f32' && k.dtype.a), o.upload(b, undefined, k.dtype.b !== 'f32' && k.dtype.b),
    k.mask ? o.upload(Int32Array.of(7, salt | 0)) : null, k.bias ? o.upload(bias) : null, k.glu ? o.upload(gate) : null,
    k.glu === 'beside' ? o.upload(act0) : null];
  const params = [p.M, p.N, p.K, p.lda, p.ldb, p.ldo, p.aOff, p.bOff, p.oOff, bits(p.beta), bits(p.alpha), ...(k.mask ? [1, threshold] : [])];
  io.dispatch(io.kernel(gemmKernelName(k), gemmSource(k, io.tileLimits)), params, bufs, ...gemmGrid(k, p.M, p.N));
  const got = await o.read(bufs[0]!), gotAct = k.glu === 'beside' ? await o.read(bufs[6]!) : null;
  bufs.forEach((x) => x && o.free(x));
  const what = `${gemmKernelName(k)} ${JSON.stringify(p)}`;
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= 1e-5 * (1 + Math.abs(want[i])) + 1e-6 * p.K, `${what}: dst[${i}] = ${got[i]}, want ${want[i]}`);
    if (gotAct) assert.ok(Math.abs(gotAct[i] - wantAct[i]) <= 1e-5 * (1 + Math.abs(wantAct[i])) + 1e-6 * p.K, `${what}: act[${i}] = ${gotAct[i]}, want ${wantAct[i]}`);
  }
}

// Each case compiles its own pipeline, which costs seconds on lavapipe: the cases cover each strategy's branches
// (layouts, row reads, stores, masks, dtypes) once rather than their product.
// 16-bit operands (packed two to a u32 word, gpu/ops/half.ts) at odd offsets read both halves of a word.
const f32: GemmDtypes = { a: 'f32', b: 'f32' }, f16a: GemmDtypes = { a: 'f16', b: 'f32' }, f16b: GemmDtypes = { a: 'f32', b: 'f16' };
const bf16a: GemmDtypes = { a: 'bf16', b: 'f32' }, bf16b: GemmDtypes = { a: 'f32', b: 'bf16' };

test('matvec: aligned and gathered rows, one and several invocations per output, 16-bit operands, alpha and bias', { skip }, async () => {
  const mv = (TPR: number, rows4: boolean, dtype: GemmDtypes, bias = false): GemmKernel => ({ strategy: 'matvec', layout: 'NT', dtype, mask: false, shape: { TPR, RPW: 3 }, rows4, bias });
  await check(mv(4, true, f32, true), product('NT', 2, 21, 36, 4, 8, 0, 0.75));
  await check(mv(1, false, bf16b, true), product('NT', 1, 21, 37, 3, 5, 0.5, 2));
  await check(mv(1, true, f32), product('NT', 1, 21, 36, 4, 8, 0));
  await check(mv(4, false, f32), product('NT', 3, 21, 37, 3, 5, 0.5));
  await check(mv(4, true, f16b), product('NT', 1, 21, 36, 4, 8, 0.5));
  await check(mv(1, false, f16a), product('NT', 1, 21, 37, 3, 5, 0));
  await check(mv(4, true, bf16b), product('NT', 1, 21, 36, 4, 8, 0));
});

test('register: every layout, ragged shapes and offsets, aligned NT rows, 16-bit operands', { skip }, async () => {
  const tile = { TM: 3, TN: 2, WGX: 4, WGY: 2 };
  const reg = (layout: GemmLayout, rows4: boolean, dtype: GemmDtypes): GemmKernel => ({ strategy: 'register', layout, dtype, mask: false, tile, rows4 });
  for (const layout of ['NN', 'NT', 'TN', 'TT'] as const) await check(reg(layout, false, f32), product(layout, 29, 19, 13, 3, 5, 0.5));
  await check(reg('NT', true, f32), product('NT', 29, 19, 16, 4, 8, 0));
  await check(reg('NT', true, f16b), product('NT', 29, 19, 16, 4, 8, 0.5));
  await check(reg('NN', false, f16a), product('NN', 29, 19, 13, 3, 5, 0));
  await check(reg('NN', false, bf16b), product('NN', 29, 19, 13, 3, 5, 0.5, 0.75));
});

test('vec4: NN, NT and TN, vec4 and f32 stores, the TN mask', { skip }, async () => {
  const v4 = (layout: 'NN' | 'NT' | 'TN', TM: number, TN: number, out4: boolean, mask: boolean): GemmKernel =>
    ({ strategy: 'vec4', layout, dtype: f32, mask, tile: { TM, TN }, wg: { x: 2, y: 4 }, out4 });
  await check(v4('NN', 8, 8, true, false), product('NN', 36, 44, 24, 4, 8, 0.5));
  await check(v4('NT', 4, 4, false, false), product('NT', 36, 44, 24, 4, 4, 0));
  await check(v4('TN', 8, 8, true, true), product('TN', 36, 44, 24, 4, 8, 1));
  await check(v4('TN', 8, 8, false, false), product('TN', 36, 44, 24, 4, 4, 0.5, 0.75));
  await check(v4('NN', 8, 8, true, false), product('NN', 36, 44, 24, 4, 8, 0, 2));
});

test('subgroup: NN, NT and TN with their masks, a 16-bit B in NT and NN (adapters with fixed-size subgroups)', { skip: skip || (!ops?.subgroupSize && 'no fixed-size subgroups') }, async () => {
  const S = ops!.subgroupSize;
  const sg = (layout: 'NN' | 'NT' | 'TN', C: number, mask: boolean, dtype = f32): GemmKernel =>
    ({ strategy: 'subgroup', layout, dtype, mask, tile: { R: 2 * S, C, WY: 2 }, lanes: S, out4: C === 2 });
  for (const layout of ['NN', 'NT', 'TN'] as const) await check(sg(layout, 2, true), product(layout, 4 * S + 3, 12 * S, 20, 4, 8, 0.5));
  await check(sg('NT', 1, false), product('NT', 4 * S + 3, 12 * S, 20, 4, 8, 0, 0.75));
  await check(sg('NN', 2, true), product('NN', 4 * S + 3, 12 * S, 20, 4, 8, 0, 2));  // alpha after the product's mask
  await check(sg('NT', 2, true, bf16b), product('NT', 4 * S + 3, 12 * S, 20, 4, 8, 0.5));
  await check(sg('NN', 2, false, f16b), product('NN', 4 * S + 3, 12 * S, 20, 4, 8, 0));
  assert.throws(() => gemmSource(sg('TN', 2, false, f16b)), /f32 operands only/);
});

test('tiled: every layout, its masks, f16 operands, alpha and bias, a small tile over several workgroups', { skip }, async () => {
  const tile = { BM: 16, BN: 16, BK: 8, TM: 4, TN: 4 };
  const tl = (layout: GemmLayout, mask: boolean, dtype: GemmDtypes): GemmKernel => ({ strategy: 'tiled', layout, dtype, mask, tile });
  for (const layout of ['NN', 'NT', 'TN', 'TT'] as const) await check(tl(layout, layout !== 'TT', f32), product(layout, 37, 41, 19, 3, 5, 0.5));
  await check(tl('NT', false, f16a), product('NT', 37, 41, 19, 3, 5, 0));
  await check(tl('TN', true, f16b), product('TN', 37, 41, 19, 3, 5, 1));
  await check(tl('NN', false, bf16a), product('NN', 37, 41, 19, 3, 5, 0.5));
  await check({ ...tl('NT', true, f32), bias: true }, product('NT', 37, 41, 19, 3, 5, 0, 0.75));  // LoRA's scaled, masked product
  await check({ ...tl('NT', false, bf16b), bias: true }, product('NT', 37, 41, 19, 3, 5, 0.5));
  await check(tl('NN', true, f32), product('NN', 37, 41, 19, 3, 5, 0, 2));
  assert.throws(() => gemmSource({ strategy: 'register', layout: 'NT', dtype: f32, mask: false, tile: { TM: 2, TN: 2, WGX: 2, WGY: 2 }, rows4: false, bias: true }), /adds no bias/);
});

test('glu: the up projection\'s SwiGLU finished in the store of every strategy, beside the kept product (training) or in its place (inference)', { skip }, async () => {
  const S = ops!.subgroupSize;
  await check({ strategy: 'matvec', layout: 'NT', dtype: bf16b, mask: false, shape: { TPR: 4, RPW: 3 }, rows4: true, glu: 'replace' }, product('NT', 1, 21, 36, 4, 8, 0));
  await check({ strategy: 'register', layout: 'NT', dtype: f32, mask: false, tile: { TM: 3, TN: 2, WGX: 4, WGY: 2 }, rows4: false, glu: 'beside' },
    product('NT', 29, 19, 13, 3, 5, 1, 0.75));  // LoRA's B product: accumulates into up, then the SwiGLU on the sum
  await check({ strategy: 'vec4', layout: 'NT', dtype: f32, mask: false, tile: { TM: 4, TN: 4 }, wg: { x: 2, y: 4 }, out4: true, glu: 'beside' },
    product('NT', 36, 44, 24, 4, 8, 0));
  if (S) {
    await check({ strategy: 'subgroup', layout: 'NT', dtype: f16b, mask: false, tile: { R: 2 * S, C: 1, WY: 2 }, lanes: S, out4: false, glu: 'beside' },
      product('NT', 4 * S + 3, 12 * S, 20, 4, 8, 0));
  }
  const tile = { BM: 16, BN: 16, BK: 8, TM: 4, TN: 4 };
  await check({ strategy: 'tiled', layout: 'NT', dtype: f32, mask: false, tile, glu: 'beside' }, product('NT', 37, 41, 19, 3, 5, 1, 0.75));
  await check({ strategy: 'tiled', layout: 'NT', dtype: bf16b, mask: false, tile, bias: true, glu: 'replace' }, product('NT', 37, 41, 19, 3, 5, 0));
});
