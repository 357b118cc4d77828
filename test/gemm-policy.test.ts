// The GEMM kernel choice (gpu/gemm-policy.ts) as a table over device profiles and product shapes: no GPU needed, so
// the choice that a GPU or a CPU adapter would make is checked on every machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseGemm, masksOnTheFly, type DeviceProfile, type GemmShape } from '../gpu/gemm-policy.ts';
import type { TileConfig, TiledLayout } from '../gpu/gemm-tiled.ts';

const T64: TileConfig = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 }, T128: TileConfig = { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 };
const lavapipe: DeviceProfile = { strategy: 'register', subgroupSize: 8, tile: T64 };
const denoLavapipe: DeviceProfile = { strategy: 'register', subgroupSize: 0, tile: T64 };
const gpu: DeviceProfile = { strategy: 'tiled', subgroupSize: 32, tile: T64, tileByLayout: { TN: T128 } };
// [layout, M, N, K] with packed operands (lda, ldb the contiguous widths), f32 B
const shape = (layout: TiledLayout, M: number, N: number, K: number, extra: Partial<GemmShape> = {}): GemmShape => ({
  layout, M, N, K, lda: layout[0] === 'T' ? M : K, ldb: layout[1] === 'T' ? K : N, aOff: 0, bOff: 0, halfB: false, ...extra });

test('chooseGemm: subgroup kernels where lanes and alignment allow, vec4 next, the register kernel last; GPUs tile per layout', () => {
  const rows: [DeviceProfile, GemmShape, string][] = [
    [lavapipe, shape('NT', 256, 512, 512), 'sg'],
    [lavapipe, shape('NN', 256, 512, 512), 'sg'],
    [lavapipe, shape('TN', 512, 512, 256), 'sg'],
    [lavapipe, shape('TN', 8, 512, 256), 'vec4'],          // LoRA's rank side: too few rows for 8 lanes (M < 2S)
    [lavapipe, shape('NT', 256, 512, 512, { halfB: true }), 'register'],  // an f16 base: only the widening kernels
    [lavapipe, shape('NT', 5, 7, 3), 'register'],          // ragged: not whole vec4s
    [lavapipe, shape('TT', 64, 64, 64), 'register'],
    [denoLavapipe, shape('NT', 256, 512, 512), 'vec4'],    // no subgroups (Deno's lavapipe)
    [denoLavapipe, shape('TN', 512, 512, 256), 'vec4'],
    [gpu, shape('NT', 4096, 4864, 896), 'tiled 64×64×16'],
    [gpu, shape('TN', 4864, 896, 4096), 'tiled 128×128×8'],  // the per-layout tile
    [gpu, shape('NT', 5, 7, 3, { halfB: true }), 'tiled 64×64×16'],
  ];
  for (const [p, s, want] of rows) {
    const plan = chooseGemm(p, s);
    const got = plan.kernel === 'tiled' ? `tiled ${plan.tile.BM}×${plan.tile.BN}×${plan.tile.BK}` : plan.kernel;
    assert.equal(got, want, `${p.strategy}/${p.subgroupSize} ${s.layout} ${s.M}×${s.N}×${s.K}${s.halfB ? ' f16' : ''}`);
  }
});

test('masksOnTheFly: the subgroup and tiled kernels drop in every layout, vec4 only in TN, the register kernel never', () => {
  assert.ok(masksOnTheFly({ kernel: 'sg' }, 'NN'));
  assert.ok(masksOnTheFly({ kernel: 'tiled', tile: T64 }, 'NT'));
  assert.ok(masksOnTheFly({ kernel: 'vec4' }, 'TN'));
  assert.ok(!masksOnTheFly({ kernel: 'vec4' }, 'NT'));
  assert.ok(!masksOnTheFly({ kernel: 'register' }, 'TN'));
});
