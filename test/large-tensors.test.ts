// Tensors larger than one device binding (webgpu-ops.ts create: split along rows into pieces). The binding limit is
// lowered to a few KB (WebGpuOpsOptions.maxBindingBytes), so that on small models every weight, gradient and the
// embedding / lm_head are split into many pieces, and everything must come out as on the unsplit path: inference
// logits (prefill and decode), training loss, every gradient and the weights after an optimizer step.
import '../runtime/wasm-embedded.ts';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { releaseGPU } from '../runtime/webgpu.ts';
import { testGPU } from './gpu.ts';
import { createWebGpuOps } from '../gpu/webgpu-ops.ts';
import { createWebGpuTrainOps, type WebGpuTrainOps } from '../gpu/train-ops.ts';
import { LlamaRunner, type LlamaConfig, type LlamaModel } from '../models/llama.ts';
import { LlamaTrainer, type TrainBatch } from '../models/llama-train.ts';
import { loadModel } from '../models/load.ts';
import { parseTargetModules } from '../models/lora.ts';
import { STORIES } from './helpers.ts';
import { packing, randint, randn } from './train-helpers.ts';

const gpu = await testGPU();
const skip = gpu.ok ? false : 'no WebGPU adapter';
after(() => releaseGPU());
const CAP = 4096;  // bytes: stories260K's 512 × 64 embedding becomes 32 pieces, its 172-wide down_proj 13

const stories = (await loadModel(STORIES)).model;
const qwen3Config: LlamaConfig = { hiddenSize: 64, intermediateSize: 96, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, vocabSize: 131,
  maxPositionEmbeddings: 128, rmsNormEps: 1e-6, ropeTheta: 1e6, tieWordEmbeddings: false, modelType: 'qwen3', attentionBias: true, qkNorm: true };
const D = 64, F = 96, q = 64, kv = 32;
const qwen3: LlamaModel = { config: qwen3Config, weights: {
  embedTokens: randn(131 * D), norm: randn(D, 0.1, 1), lmHead: randn(131 * D, 0.2),
  layers: Array.from({ length: 2 }, () => ({ inputNorm: randn(D, 0.1, 1), postNorm: randn(D, 0.1, 1),
    q: randn(q * D, 0.2), k: randn(kv * D, 0.2), v: randn(kv * D, 0.2), o: randn(D * q, 0.2), gate: randn(F * D, 0.2),
    up: randn(F * D, 0.2), down: randn(D * F, 0.2), qBias: randn(q, 0.3), kBias: randn(kv, 0.3), vBias: randn(kv, 0.3),
    qNorm: randn(16, 0.2, 1), kNorm: randn(16, 0.2, 1) })) } };

/** Largest |a − b| relative to b's largest magnitude. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0, m = 1e-30;
  for (let j = 0; j < a.length; j++) { d = Math.max(d, Math.abs(a[j] - b[j])); m = Math.max(m, Math.abs(b[j])); }
  return d / m;
}

test('inference: logits with every weight split across bindings are bitwise those of the unsplit path (prefill and decode, both matmul strategies)', { skip }, async () => {
  if (!gpu.ok) return;
  for (const matmul of ['register', 'tiled'] as const) for (const model of [stories, qwen3]) {
    const ids = Array.from(randint(9, 1, model.config.vocabSize)), positions = ids.map((_x, i) => i);
    const out = [];
    for (const maxBindingBytes of [undefined, CAP]) {
      const ops = await createWebGpuOps(gpu.gpu, { maxBindingBytes, matmul });
      const runner = new LlamaRunner(ops, model, { maxTokens: ids.length, maxSeq: 32 });
      const prefill = await runner.forward(ids.slice(0, 6), positions.slice(0, 6));
      const decode = [await runner.forward([ids[6]], [6]), await runner.forward([ids[7]], [7])];
      out.push({ prefill, decode, buffers: ops.stats().buffers });
      ops.destroy();
    }
    const [plain, split] = out;
    assert.ok(split.buffers > plain.buffers + 50, `weights were split (${plain.buffers} → ${split.buffers} buffers)`);
    assert.deepEqual(split.prefill, plain.prefill, `${matmul} ${model.config.modelType} prefill logits`);
    assert.deepEqual(split.decode, plain.decode, `${matmul} ${model.config.modelType} decode logits`);
    assert.ok(plain.prefill.some((v) => v !== 0));
  }
});

function batch(vocab: number, T: number): TrainBatch {
  const { seg, pos } = packing([[T], [T - 4]], T);
  const ids = randint(2 * T, 0, vocab), labels = new Int32Array(2 * T).fill(-100);
  for (let r = 0; r + 1 < 2 * T; r++) if (seg[r] && seg[r + 1] === seg[r] && (r + 1) % T) labels[r] = ids[r + 1];
  ids[3] = ids[5] = ids[T + 2];  // repeated ids: the embedding gradient sums rows within a piece
  return { ids, labels, positions: pos, segments: null };
}

test('training: loss, every gradient and the weights after AdamW / SGD match the unsplit path (full, LoRA, tied and untied head)', { skip }, async () => {
  if (!gpu.ok) return;
  const runs = [
    { what: 'stories260K full (tied head) AdamW', model: stories, lora: undefined, optim: 'adamw' as const },
    { what: 'qwen3-style full (untied head) SGD', model: qwen3, lora: undefined, optim: 'sgd' as const },
    { what: 'qwen3-style LoRA (split frozen base)', model: qwen3, lora: { rank: 4, alpha: 8, dropout: 0, targets: parseTargetModules('all-linear'), seed: 1 }, optim: 'adamw' as const },
    { what: 'qwen3-style full, tiled GEMMs (the GPU strategy)', model: qwen3, lora: undefined, optim: 'adamw' as const, matmul: 'tiled' as const },
  ];
  for (const r of runs) {
    const T = 12, b = batch(r.model.config.vocabSize, T), trained = b.labels.filter((l) => l >= 0).length;
    const res = [];
    for (const maxBindingBytes of [undefined, CAP]) {
      const ops: WebGpuTrainOps = await createWebGpuTrainOps(gpu.gpu, { maxBindingBytes, matmul: 'matmul' in r ? r.matmul : undefined });
      const trainer = new LlamaTrainer(ops, r.model, { B: 2, T, ceChunk: 50, lora: r.lora });
      if (r.lora) {
        const v = await trainer.read('value');
        for (const [n, x] of v) if (n.endsWith('loraB')) v.set(n, Float32Array.from(x, (_y, j) => Math.sin(j) * 0.05));
        trainer.load('value', v);
      }
      let loss = 0;
      for (let m = 0; m < 2; m++) loss += await trainer.forwardBackward(b, 1 / (2 * trained));
      const grads = await trainer.read('grad');
      await trainer.step({ lr: 1e-3, weightDecay: 0.1, maxGradNorm: 0.5, optim: r.optim });
      await trainer.step({ lr: 1e-3, weightDecay: 0.1, maxGradNorm: 0.5, optim: r.optim });  // moments carried over
      res.push({ loss, grads, values: await trainer.read('value'), m: await trainer.read('m'), buffers: ops.stats().buffers });
      ops.destroy();
    }
    const [plain, split] = res;
    assert.ok(split.buffers > plain.buffers + 50, `${r.what}: tensors were split (${plain.buffers} → ${split.buffers} buffers)`);
    assert.ok(relDiff([split.loss], [plain.loss]) < 1e-6, `${r.what}: loss ${split.loss} vs ${plain.loss}`);
    // Splitting changes only summation order (GEMMs summed per piece, cross-entropy chunks ending at piece bounds):
    // rounding-level differences. AdamW divides by |g|, so where g is at rounding level the update itself may differ
    // by up to lr: the weights get a looser bound than gradients and moments.
    const worst: Record<string, number> = {};
    for (const [what, tol] of [['grads', 1e-5], ['m', 1e-5], ['values', 5e-4]] as const) {
      worst[what] = 0;
      for (const [n, a] of plain[what]) {
        const d = relDiff(split[what].get(n)!, a);
        worst[what] = Math.max(worst[what], d);
        assert.ok(d < tol, `${r.what}: ${what} of ${n} differ by ${d.toExponential(2)} (relative to the tensor's largest)`);
      }
    }
    console.log(`${r.what}: ${plain.buffers} → ${split.buffers} buffers; largest relative difference split vs unsplit: ` +
      Object.entries(worst).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', '));
  }
});

test('optimizers over split tensors (moments split unlike the parameter) are bitwise those over whole tensors', { skip }, async () => {
  if (!gpu.ok) return;
  const n = 64 * 70 + 40, p0 = randn(n), g0 = randn(n, 0.1), m0 = randn(n, 0.01), v0 = randn(n, 0.001, 0.001);
  const out = [];
  for (const maxBindingBytes of [undefined, 1000]) {
    const ops = await createWebGpuTrainOps(gpu.gpu, { maxBindingBytes });
    const [p, g] = [ops.upload(p0, 64), ops.upload(g0, 64)], [m, v] = [ops.upload(m0, 1), ops.upload(v0, 3)];
    const [p2, g2] = [ops.upload(p0, 64), ops.upload(g0, 64)], norm = ops.alloc(1);
    ops.adamw(p, g, m, v, n, 3, 1e-3, 0.9, 0.95, 1e-8, 0.1);
    ops.scale(g2, 0.5, n);
    ops.sgd(p2, g2, n, 0.1);
    ops.sumSquares(norm, g, n);
    out.push({ pieces: ops.pieces(p).length + ops.pieces(m).length + ops.pieces(v).length, p: await ops.read(p), m: await ops.read(m),
      v: await ops.read(v), p2: await ops.read(p2), norm: (await ops.read(norm))[0] });
    ops.destroy();
  }
  const [whole, split] = out;
  assert.ok(whole.pieces === 3 && split.pieces > 30, `split into ${split.pieces} pieces`);
  for (const k of ['p', 'm', 'v', 'p2'] as const) assert.deepEqual(split[k], whole[k], k);
  assert.ok(Math.abs(split.norm - whole.norm) <= 1e-6 * whole.norm, 'sum of squares');
  assert.notDeepEqual(whole.p, p0);
});

test('limits: an op that cannot take a split tensor, and a row larger than a binding, fail naming maxStorageBufferBindingSize', { skip }, async () => {
  if (!gpu.ok) return;
  const ops = await createWebGpuTrainOps(gpu.gpu, { maxBindingBytes: CAP });
  const big = ops.upload(randn(4 * 1024), 1024);  // 16 KB in rows of 4 KB: four pieces
  assert.equal(ops.pieces(big).length, 4);
  assert.deepEqual(await ops.read(big, 3000), (await ops.read(big)).subarray(0, 3000), 'partial reads across pieces');
  const w = ops.upload(randn(1024, 0, 1));
  assert.throws(() => ops.rmsnorm(big, big, w, 4, 1024, 1e-6), /rmsnorm.*\(16384 bytes\) exceeds this device's maxStorageBufferBindingSize \(\d+ bytes\)/);
  assert.throws(() => ops.alloc(2048, 'f32', 2048), /a row of 2048 elements \(8192 bytes\) exceeds this device's maxStorageBufferBindingSize \(4096 bytes\)/);
  ops.destroy();
  process.env.WEBTUNE_MAX_BINDING_BYTES = '8192';  // the same cap from the environment (e.g. for a whole `webtune sft` run)
  try {
    const fromEnv = await createWebGpuTrainOps(gpu.gpu);
    assert.equal(fromEnv.pieces(fromEnv.alloc(4096, 'f32', 64)).length, 2);
    assert.equal(fromEnv.pieces(fromEnv.alloc(4096)).length, 1, 'tensors without a row length are never split');
    fromEnv.destroy();
  } finally { delete process.env.WEBTUNE_MAX_BINDING_BYTES; }
});
