// sft on a GPU configuration measures the GEMM tiles at its own shapes before training and says which it keeps
// (gpu/gemm/autotune.ts; the choice itself is tested in train-ops.test.ts); WEBTUNE_GEMM_TUNE=0 skips it, and CPU
// configurations have nothing to tune. Runs on lavapipe with the GPU kernels forced (matmul 'tiled').
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSft } from '../src/train/sft.ts';
import { createWebGpuTrainOps } from '../gpu/train-ops.ts';
import { releaseGPU } from '../runtime/webgpu.ts';
import { testGPU } from './gpu.ts';
import { sftArgs } from './helpers.ts';

const gpu = await testGPU();
after(() => releaseGPU());
const skip = gpu.ok ? false : 'no WebGPU';

test('sft on GPU kernels: the GEMM tiles measured once before training and logged; WEBTUNE_GEMM_TUNE=0 and CPU kernels skip it', { skip }, async () => {
  if (!gpu.ok) return;
  const sft = async (matmul: 'tiled' | 'register', env?: string) => {
    const notes: string[] = [], ops = await createWebGpuTrainOps(gpu.gpu, { matmul });
    if (env !== undefined) process.env.WEBTUNE_GEMM_TUNE = env;
    try {
      const r = await runSft(sftArgs({ output_dir: mkdtempSync(join(tmpdir(), 'webtune-tune-')), max_steps: 1 }), { ops, note: (s) => notes.push(s) });
      assert.ok(r.logs.some((l) => Number.isFinite(l.loss as number)), 'it trained');
      return { notes: notes.filter((n) => n.startsWith('gemm tiles')), tiles: { ...ops.tileByLayout } };
    } finally { delete process.env.WEBTUNE_GEMM_TUNE; ops.destroy(); }
  };
  const tuned = await sft('tiled');
  assert.equal(tuned.notes.length, 1);
  // stories260K: hidden 64, intermediate 172; one micro-batch of 48 rows
  assert.match(tuned.notes[0], /^gemm tiles measured on this GPU in [\d.]+ s: NT 48×172×64: \S+ [\d.e+-]+ TFLOP\/s.*; NN 48×64×172: .*; TN 172×64×48: /);
  assert.deepEqual(Object.keys(tuned.tiles).sort(), ['NN', 'NT', 'TN']);
  assert.deepEqual((await sft('tiled', '0')).notes, []);
  assert.deepEqual((await sft('register')).notes, []);
});
