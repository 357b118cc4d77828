// The GEMM kernel choice (gpu/gemm/policy.ts) as a table over device profiles and product shapes, inference and
// training alike, and the generator's refusals (gpu/gemm/generate.ts): no GPU needed, so the choice that a GPU or a
// CPU adapter would make is checked on every machine. The kernels' results are checked on a device by
// test/webgpu-ops.test.ts and test/train-ops.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseGemm, nnViaTranspose, type DeviceProfile, type GemmShape } from '../gpu/gemm/policy.ts';
import { drawsMask, gemmGrid, gemmKernelName, gemmSource, type GemmKernel } from '../gpu/gemm/generate.ts';
import type { GemmLayout } from '../gpu/gemm/common.ts';
import type { TileConfig } from '../gpu/gemm/tiled.ts';

const T64: TileConfig = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 }, T128: TileConfig = { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 };
const cpu = { kind: 'cpu', tile: T64, register: { TM: 4, TN: 4, WGX: 8, WGY: 8 }, matvec: { TPR: 1, RPW: 64 } } as const;
const lavapipe: DeviceProfile = { ...cpu, subgroupSize: 8 };
const denoLavapipe: DeviceProfile = { ...cpu, subgroupSize: 0 };
const gpu: DeviceProfile = { kind: 'gpu', subgroupSize: 32, tile: T64, tileByLayout: { TN: T128 }, register: { TM: 4, TN: 4, WGX: 16, WGY: 16 }, matvec: { TPR: 64, RPW: 4 } };
// [layout, M, N, K] with packed operands (lda, ldb, ldo the contiguous widths), f32
const shape = (layout: GemmLayout, M: number, N: number, K: number, extra: Partial<GemmShape> = {}): GemmShape => ({
  layout, M, N, K, lda: layout[0] === 'T' ? M : K, ldb: layout[1] === 'T' ? K : N, ldo: N, aOff: 0, bOff: 0, oOff: 0,
  dtype: { a: 'f32', b: 'f32' }, mask: false, ...extra });
const f16b = { dtype: { a: 'f32', b: 'f16' } } as const, masked = { mask: true };

/** A kernel in a few words: strategy, its shape where the policy sets it, f16 operands, a drawn mask. */
function describe(k: GemmKernel): string {
  const what = k.strategy === 'tiled' ? `tiled ${k.tile.BM}×${k.tile.BN}×${k.tile.BK}`
    : k.strategy === 'matvec' ? `matvec ${k.shape.TPR}×${k.shape.RPW} ${k.rows4 ? 'v4' : 'gather'}`
      : k.strategy === 'register' ? `register${k.layout === 'NT' ? ` ${k.rows4 ? 'v4' : 'gather'}` : ''}`
        : k.strategy === 'subgroup' ? `sg ${k.tile.R}×${k.tile.C}` : `vec4 ${k.tile.TM}×${k.tile.TN}`;
  return `${what}${k.dtype.a === 'f16' ? ' f16a' : ''}${k.dtype.b === 'f16' ? ' f16b' : ''}${k.mask ? ' mask' : ''}`;
}

test('chooseGemm: matvec when decoding; subgroup kernels where lanes and alignment allow, vec4 next, register last; GPUs tile per layout', () => {
  const rows: [DeviceProfile, GemmShape, string][] = [
    // training GEMMs on CPU adapters
    [lavapipe, shape('NT', 256, 512, 512), 'sg 16×4'],
    [lavapipe, shape('NN', 256, 512, 512), 'sg 16×2'],
    [lavapipe, shape('TN', 512, 512, 256), 'sg 16×2'],
    [lavapipe, shape('TN', 8, 512, 256), 'vec4 8×8'],          // LoRA's rank side: too few rows for 8 lanes (M < 2S)
    [lavapipe, shape('NN', 256, 512, 512, f16b), 'sg 16×2 f16b'],  // a 16-bit weight as B: the subgroup kernels widen it
    [lavapipe, shape('NN', 256, 512, 512, { dtype: { a: 'f16', b: 'f32' } }), 'register f16a'],  // a 16-bit A: the general kernel
    [denoLavapipe, shape('NN', 256, 512, 512, f16b), 'register f16b'],
    [lavapipe, shape('NT', 5, 7, 3), 'register gather'],     // ragged: not whole vec4s
    [lavapipe, shape('TT', 64, 64, 64), 'register'],
    [denoLavapipe, shape('NT', 256, 512, 512), 'vec4 4×4'],  // no subgroups (Deno's lavapipe)
    [denoLavapipe, shape('TN', 512, 512, 256), 'vec4 8×8'],
    [lavapipe, shape('NT', 256, 512, 512, { bOff: 2 }), 'register gather'],  // an unaligned offset into lm_head
    // dropout masks: drawn by the kernels that can, else left to the caller
    [lavapipe, shape('NT', 256, 512, 512, masked), 'sg 16×4 mask'],
    [lavapipe, shape('NN', 256, 512, 512, masked), 'sg 16×2 mask'],
    [denoLavapipe, shape('TN', 8, 512, 256, masked), 'vec4 8×8 mask'],
    [denoLavapipe, shape('NT', 256, 512, 512, masked), 'vec4 4×4'],
    [lavapipe, shape('NT', 5, 7, 3, masked), 'register gather'],
    [lavapipe, shape('NT', 1, 512, 512, masked), 'sg 16×4 mask'],  // one row, masked: not the matvec kernel
    [gpu, shape('TN', 4864, 896, 4096, masked), 'tiled 128×128×8 mask'],
    [gpu, shape('TT', 64, 64, 64, masked), 'tiled 64×64×16'],
    // GPUs
    [gpu, shape('NT', 4096, 4864, 896), 'tiled 64×64×16'],
    [gpu, shape('TN', 4864, 896, 4096), 'tiled 128×128×8'],  // the per-layout tile
    [gpu, shape('NT', 5, 7, 3, f16b), 'tiled 64×64×16 f16b'],
    // inference: decoding (one row) and prefill
    [lavapipe, shape('NT', 1, 4096, 4096), 'matvec 1×64 v4'],
    [lavapipe, shape('NT', 1, 300, 1001), 'matvec 1×64 gather'],
    [lavapipe, shape('NT', 1, 4096, 4096, f16b), 'matvec 1×64 v4 f16b'],
    [gpu, shape('NT', 1, 4864, 896, f16b), 'matvec 64×4 v4 f16b'],
    [lavapipe, shape('NT', 130, 257, 96), 'sg 16×4'],
    [denoLavapipe, shape('NT', 130, 257, 96), 'vec4 4×4'],
    [lavapipe, shape('NT', 130, 257, 99), 'register gather'],
    [lavapipe, shape('NT', 130, 257, 96, f16b), 'sg 16×4 f16b'],
    [lavapipe, shape('NT', 130, 257, 99, f16b), 'register gather f16b'],
    [gpu, shape('NT', 130, 257, 99), 'tiled 64×64×16'],
  ];
  for (const [p, s, want] of rows) {
    assert.equal(describe(chooseGemm(p, s)), want, `${p.kind}/${p.subgroupSize} ${s.layout} ${s.M}×${s.N}×${s.K}${s.dtype.b === 'f16' ? ' f16' : ''}${s.mask ? ' masked' : ''}`);
  }
});

test('nnViaTranspose: CPU adapters transpose B for the vec4 NT kernel where no subgroup NN kernel serves', () => {
  assert.ok(nnViaTranspose(denoLavapipe, shape('NN', 256, 512, 512)));
  assert.ok(!nnViaTranspose(lavapipe, shape('NN', 256, 512, 512)));           // the subgroup NN kernel
  assert.ok(!nnViaTranspose(denoLavapipe, shape('NN', 1, 512, 512)));         // one row
  assert.ok(!nnViaTranspose(denoLavapipe, shape('NN', 256, 512, 511)));       // K not whole vec4s
  assert.ok(!nnViaTranspose(denoLavapipe, shape('NN', 256, 512, 512, f16b)));
  assert.ok(!nnViaTranspose(gpu, shape('NN', 256, 512, 512)));
});

test('every kernel the policy chooses generates, with a name that says what it reads', () => {
  const names = new Set<string>();
  for (const p of [lavapipe, denoLavapipe, gpu]) {
    for (const layout of ['NN', 'NT', 'TN', 'TT'] as const) {
      for (const [M, N, K] of [[1, 7, 3], [1, 64, 64], [5, 7, 3], [64, 64, 64], [8, 512, 256], [256, 512, 512]]) {
        for (const extra of [{}, f16b, { dtype: { a: 'f16', b: 'f32' } } as const, masked]) {
          const k = chooseGemm(p, shape(layout, M, N, K, extra));
          assert.equal(k.mask, Boolean(extra === masked && drawsMask(k.strategy, layout)));
          const src = gemmSource(k), name = gemmKernelName(k);
          assert.match(src, /fn main\(/);
          const half = k.dtype.a === 'f16' || k.dtype.b === 'f16';
          assert.equal(/-f16/.test(name), half, name);
          assert.equal(/unpack2x16float/.test(src), half, name);  // 16-bit operands are packed u32 words: no `enable f16`
          assert.doesNotMatch(src, /enable f16;/, name);
          assert.equal(/salts/.test(src), k.mask, name);
          const [x, y] = gemmGrid(k, M, N);
          assert.ok(x >= 1 && y >= 1, `${name}: grid ${x}×${y}`);
          names.add(name);
        }
      }
    }
  }
  assert.ok(names.size > 30, `${names.size} distinct kernels`);
});

test('the generator refuses what a strategy cannot do', () => {
  const f32 = { a: 'f32', b: 'f32' } as const;
  const vec4: GemmKernel = { strategy: 'vec4', layout: 'NT', dtype: f32, mask: false, tile: { TM: 4, TN: 4 }, wg: { x: 8, y: 8 }, out4: true };
  assert.throws(() => gemmSource({ ...vec4, mask: true }), /vec4 NT GEMM has no dropout mask/);
  assert.throws(() => gemmSource({ ...vec4, dtype: { a: 'f32', b: 'f16' } }), /reads f32 operands only/);
  assert.throws(() => gemmSource({ ...vec4, layout: 'TT' }), /vec4 TT GEMM does not exist/);
  const reg: GemmKernel = { strategy: 'register', layout: 'NN', dtype: f32, mask: true, tile: { TM: 4, TN: 4, WGX: 8, WGY: 8 }, rows4: false };
  assert.throws(() => gemmSource(reg), /register NN GEMM has no dropout mask/);
  assert.throws(() => gemmSource({ strategy: 'matvec', layout: 'NN', dtype: f32, mask: false, shape: { TPR: 1, RPW: 64 }, rows4: true }), /matvec NN GEMM does not exist/);
  assert.throws(() => gemmSource({ strategy: 'matvec', layout: 'NT', dtype: f32, mask: false, shape: { TPR: 3, RPW: 64 }, rows4: true }), /power of two/);
});
