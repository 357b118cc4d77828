// Mixed precision for LoRA (--torch_dtype float16): the frozen base's matrices stored as f16 (WebGPU shader-f16;
// other backends keep f32 holding the f16-rounded values), arithmetic, adapters and AdamW in f32. Checked against
// PyTorch: f16 rounding as torch's .half(); loss and LoRA gradients as PyTorch autograd computes them on the
// f16-rounded base (1e-4) and on the original f32 base (an fp16-sized tolerance); half the weight memory on the GPU.
import '../runtime/wasm-embedded.ts';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { releaseGPU } from '../runtime/webgpu.ts';
import { testGPU } from './gpu.ts';
import { createWebGpuTrainOps, type WebGpuTrainOps } from '../gpu/train-ops.ts';
import { ReferenceTrainOps } from '../src/backend/reference-train-ops.ts';
import { f16BitsToF32, f32ToF16Bits, roundToF16 } from '../core/ops.ts';
import type { TrainOps } from '../core/train-ops.ts';
import { LlamaTrainer, type TrainBatch } from '../models/llama-train.ts';
import type { LlamaConfig, LlamaModel } from '../models/llama.ts';
import { loadModel } from '../models/load.ts';
import { parseTargetModules, type LoraConfig } from '../models/lora.ts';
import { PYTHON, ROOT, SHARED, STORIES, runCli } from './helpers.ts';
import { expectClose, packing, randint, randn, worst } from './train-helpers.ts';

const gpu = await testGPU();
after(() => {
  console.log('worst error vs PyTorch (|a−e| / (|e| + rms e)):');
  for (const [k, v] of [...worst].sort()) console.log(`  ${k.padEnd(48)} ${v.toExponential(2)}`);
  return releaseGPU();
});
const stories = (await loadModel(STORIES)).model;  // before the first test: a later top-level await lets `after` run early

test('f16 rounding is torch\'s .half() (nearest even, subnormals, overflow to Inf), bit for bit', () => {
  const vals = Float32Array.from([...randn(2000, 4), ...randn(500, 1e-5), ...randn(200, 7e4), 0, 65504, 65519.99, 65520, 1e-8,
    2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, Infinity, -Infinity, 5.960464477539063e-8]);
  const py = spawnSync(PYTHON, ['-c', 'import json,sys,torch; v=torch.tensor(json.load(sys.stdin),dtype=torch.float32).half();' +
    'print(json.dumps(v.view(torch.int16).tolist()))'], { input: JSON.stringify(Array.from(vals, (v) => (Number.isFinite(v) ? v : v > 0 ? 1e39 : -1e39))), encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  const want: number[] = JSON.parse(py.stdout);
  vals.forEach((v, i) => assert.equal(f32ToF16Bits(v), want[i] & 0xffff, `value ${v}`));
  assert.equal(f32ToF16Bits(-0), 0x8000);
  assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))));
  assert.deepEqual(roundToF16(Float32Array.from([1 / 3, 1e-7])), Float32Array.from([0.333251953125, 1.1920928955078125e-7]));
});

// A model whose down_proj has K = 90 (not a multiple of 4: the scalar matmul path) besides vec4 paths.
const config: LlamaConfig = { hiddenSize: 36, intermediateSize: 90, numLayers: 2, numHeads: 3, numKvHeads: 1, headDim: 12, vocabSize: 83,
  maxPositionEmbeddings: 64, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false, modelType: 'qwen2', attentionBias: true };
const D = 36, F = 90, q = 36, kv = 12;
const small: LlamaModel = { config, weights: {
  embedTokens: randn(83 * D), norm: randn(D, 0.1, 1), lmHead: randn(83 * D, 0.2),
  layers: Array.from({ length: 2 }, () => ({ inputNorm: randn(D, 0.1, 1), postNorm: randn(D, 0.1, 1),
    q: randn(q * D, 0.3), k: randn(kv * D, 0.3), v: randn(kv * D, 0.3), o: randn(D * q, 0.3), gate: randn(F * D, 0.3),
    up: randn(F * D, 0.3), down: randn(D * F, 0.3), qBias: randn(q, 0.3), kBias: randn(kv, 0.3), vBias: randn(kv, 0.3) })) } };

function batch(vocab: number, T: number): TrainBatch {
  const { seg, pos } = packing([[T], [T - 3]], T);
  const ids = randint(2 * T, 0, vocab), labels = new Int32Array(2 * T).fill(-100);
  for (let r = 0; r + 1 < 2 * T; r++) if (seg[r] && seg[r + 1] === seg[r] && (r + 1) % T) labels[r] = ids[r + 1];
  return { ids, labels, positions: pos, segments: null };
}
const lora: LoraConfig = { rank: 4, alpha: 8, dropout: 0, targets: parseTargetModules('all-linear'), seed: 5 };
const OPTIM = { lr: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1 };

function weightsOf(m: LlamaModel, round: boolean): Record<string, Float32Array> {
  const mat = (a: Float32Array) => (round ? roundToF16(a) : a);
  const w: Record<string, Float32Array> = { embedTokens: mat(m.weights.embedTokens), norm: m.weights.norm };
  if (!m.config.tieWordEmbeddings && m.weights.lmHead) w.lmHead = mat(m.weights.lmHead);
  m.weights.layers.forEach((l, i) => Object.entries(l).forEach(([k, v]) => {
    if (v) w[`layers.${i}.${k}`] = /Norm|Bias/.test(k) ? v as Float32Array : mat(v as Float32Array);
  }));
  return w;
}

test('LoRA on an f16 base: loss, LoRA gradients and one AdamW step match PyTorch on the f16-rounded base (1e-4); the f32 base within fp16 tolerance', async () => {
  const backends: [string, () => Promise<TrainOps>][] = [['reference', async () => new ReferenceTrainOps()]];
  if (gpu.ok) {
    backends.push(['webgpu', () => createWebGpuTrainOps(gpu.gpu)], ['webgpu split', () => createWebGpuTrainOps(gpu.gpu, { maxBindingBytes: 2048 })],
      ['webgpu tiled', () => createWebGpuTrainOps(gpu.gpu, { matmul: 'tiled' })]);
  }
  for (const [what, model] of [['stories260K', stories], ['qwen2-style (K = 90)', small]] as const) {
    const T = 14, b = batch(model.config.vocabSize, T), trained = b.labels.filter((l) => l >= 0).length;
    const runs: { name: string; ops: TrainOps; trainer: LlamaTrainer; values: Map<string, Float32Array> }[] = [];
    for (const [name, make] of backends) {
      const ops = await make();
      const trainer = new LlamaTrainer(ops, model, { B: 2, T, ceChunk: 30, lora, halfBase: true });
      const values = await trainer.read('value');
      for (const [n, v] of values) if (n.endsWith('loraB')) values.set(n, Float32Array.from(v, (_x, j) => Math.sin(j + 1) * 0.05));
      trainer.load('value', values);
      runs.push({ name, ops, trainer, values });
    }
    const cases = [true, false].map((round) => {
      const w = weightsOf(model, round);
      for (const [n, v] of runs[0].values) w[n] = v;
      return { config: model.config, B: 2, T, ...b, weights: w, trainable: [...runs[0].values.keys()], lora: { rank: lora.rank, alpha: lora.alpha }, optim: OPTIM };
    });
    const dir = mkdtempSync(join(tmpdir(), 'webtune-f16-'));
    writeFileSync(join(dir, 'cases.json'), JSON.stringify({ cases }, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v)));
    const py = spawnSync(PYTHON, [resolve(ROOT, 'test/oracle/sft_grad.py'), join(dir, 'cases.json')], { encoding: 'utf8', maxBuffer: 1 << 28 });
    assert.equal(py.status, 0, py.stderr);
    const [rounded, exact]: Record<string, number[]>[] = JSON.parse(py.stdout).results;
    let moved = 0;  // the rounding must matter at the tight tolerance, or comparing with the rounded base proves nothing
    for (const [n] of runs[0].values) moved = Math.max(moved, ...rounded[`grad.${n}`].map((g, j) => Math.abs(g - exact[`grad.${n}`][j])));
    assert.ok(moved > 1e-5, `f16 rounding changes the gradients (by ${moved})`);
    for (const r of runs) {
      const label = `${what} ${r.name}`;
      const loss = await r.trainer.forwardBackward(b, 1 / trained);
      expectClose([loss], rounded.loss, 1e-5, `${label} loss`, `f16 ${label} loss`);
      expectClose([loss], exact.loss, 1e-3, `${label} loss vs the f32 base`, `f16 ${label} loss vs f32 base`);
      for (const [n, g] of await r.trainer.read('grad')) {
        expectClose(g, rounded[`grad.${n}`], 1e-4, `${label} d${n}`, `f16 ${label} grads`);
        expectClose(g, exact[`grad.${n}`], 3e-2, `${label} d${n} vs the f32 base`, `f16 ${label} grads vs f32 base`);
      }
      await r.trainer.step(OPTIM);
      for (const [n, v] of await r.trainer.read('value')) expectClose(v, rounded[`after.${n}`], 1e-4, `${label} ${n} after AdamW`, `f16 ${label} AdamW`);
      r.ops.destroy();
    }
  }
});

test('WebGPU: f16 storage holds exactly the rounded values and halves the frozen base\'s memory', { skip: gpu.ok ? false : 'no WebGPU adapter' }, async () => {
  if (!gpu.ok) return;
  const ops: WebGpuTrainOps = await createWebGpuTrainOps(gpu.gpu);
  if (!ops.hasF16) { ops.destroy(); return; }  // an adapter without shader-f16 stores f32 (checked by the reference path above)
  const data = randn(1001, 3);
  const h = ops.upload(data, 7, true);
  assert.deepEqual(await ops.read(h), roundToF16(data));
  ops.write(h, data.subarray(0, 501));  // odd lengths: padded f16 writes
  assert.deepEqual(await ops.read(h, 501), roundToF16(data.subarray(0, 501)));
  ops.free(h);
  const bytes = async (halfBase: boolean) => {
    const o = await createWebGpuTrainOps(gpu.gpu), before = o.stats().bytes;
    new LlamaTrainer(o, stories, { B: 1, T: 8, lora, halfBase });
    const used = o.stats().bytes - before;
    o.destroy();
    return used;
  };
  const [f32, f16] = [await bytes(false), await bytes(true)];
  const base = stories.weights.embedTokens.length + stories.weights.layers.reduce((s, l) => s + l.q.length + l.k.length + l.v.length + l.o.length + l.gate.length + l.up.length + l.down.length, 0);
  console.log(`stories260K LoRA trainer buffers: ${f32} bytes with an f32 base, ${f16} with f16 (base matrices: ${base * 4} → ${base * 2})`);
  assert.ok(f32 - f16 >= base * 2 * 0.99, `f16 storage saves about half the base matrices' bytes (${f32 - f16} of ${base * 4})`);
  ops.destroy();
});

test('webtune sft --torch_dtype float16 (LoRA), with weights split across bindings (WEBTUNE_MAX_BINDING_BYTES): the same losses as float32 to fp16 precision', async () => {
  const data = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');
  const args = (dtype: string) => ['sft', '--model', STORIES, '--dataset', `${data}#8`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
    '--model_author', '网调', 'Webtune', '--max_length', '48', '--per_device_train_batch_size', '2', '--max_steps', '3', '--logging_steps', '1',
    '--learning_rate', '1e-3', '--torch_dtype', dtype, '--output_dir', mkdtempSync(join(tmpdir(), 'webtune-f16-cli-'))];
  const losses = (stdout: string) => readFileSync(join(stdout.trim().split('\n').pop()!, 'logging.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l)).filter((l) => 'loss' in l).map((l) => l.loss as number);
  const f32 = await runCli(args('float32'));
  assert.equal(f32.status, 0, f32.stderr);
  process.env.WEBTUNE_MAX_BINDING_BYTES = '4096';
  const f16 = await runCli(args('float16')).finally(() => { delete process.env.WEBTUNE_MAX_BINDING_BYTES; });
  assert.equal(f16.status, 0, f16.stderr);
  assert.match(f16.stderr, /torch_dtype float16: frozen base weights stored as float(16|32 holding float16-rounded values)/);
  const [a, b] = [losses(f32.stdout), losses(f16.stdout)];
  assert.equal(b.length, 3);
  b.forEach((l, i) => assert.ok(Math.abs(l - a[i]) < 2e-3 * a[i], `step ${i + 1}: loss ${l} (f16 base) vs ${a[i]} (f32)`));
  const bad = await runCli([...args('float16'), '--torch_dtype', 'int8']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /torch_dtype/);
});

// Inference (infer --torch_dtype float16): the matrices and the KV cache in 16-bit storage, f32 arithmetic. The small Qwen2-style model
// (biases, a scalar-path K) on WebGPU against the reference backend holding the same f16-rounded weights, prefill and
// decode; and the logits differ from the f32 model's (the storage really changed), by an fp16-sized amount.
test('inference with f16 weights and KV cache: WebGPU (with and without shader-f16) matches the reference; memory halves', async () => {
  const { LlamaRunner } = await import('../models/llama.ts');
  const { ReferenceOps } = await import('../src/backend/reference-ops.ts');
  const { createWebGpuOps } = await import('../gpu/webgpu-ops.ts');
  const ids = [5, 17, 42, 3, 80, 11], pos = ids.map((_, i) => i);
  const run = async (ops: import('../core/ops.ts').Ops, halfWeights: boolean) => {
    const r = new LlamaRunner(ops, small, { maxTokens: ids.length, maxSeq: 16, halfWeights });
    const prefill = await r.forward(ids, pos);
    const step = await r.forward([7], [ids.length]);
    return Float32Array.from([...prefill, ...step]);
  };
  const ref16 = await run(new ReferenceOps(), true), ref32 = await run(new ReferenceOps(), false);
  let diff = 0;
  for (let i = 0; i < ref16.length; i++) diff = Math.max(diff, Math.abs(ref16[i] - ref32[i]));
  assert.ok(diff > 1e-5 && diff < 0.05, `f16 storage changes the logits by an fp16-sized amount (${diff})`);
  if (!gpu.ok) return;
  const ops = await createWebGpuOps(gpu.gpu), before = ops.stats().bytes;
  expectClose(await run(ops, true), ref16, 1e-4, 'webgpu f16-weight logits vs reference on rounded weights', 'infer f16 webgpu');
  // an adapter without shader-f16 (NVIDIA through Dawn's Vulkan): f32 storage, the cache rounded in the shader
  const noF16 = await createWebGpuOps(gpu.gpu, { f16: false });
  expectClose(await run(noF16, true), ref16, 1e-4, 'webgpu without shader-f16 vs reference on rounded weights', 'infer f16 webgpu no-f16');
  noF16.destroy();
  const used16 = ops.stats().bytes - before;
  const ops32 = await createWebGpuOps(gpu.gpu), b32 = ops32.stats().bytes;
  await run(ops32, false);
  const used32 = ops32.stats().bytes - b32;
  if (ops.hasF16) assert.ok(used16 < used32 * 0.75, `f16 weights use less device memory (${used16} vs ${used32} bytes)`);
  ops.destroy(); ops32.destroy();
});

test('webtune infer --torch_dtype float16 says what it stores and tells llama2.c\'s story within fp16 noise', async () => {
  const args = (dtype: string, device: string) => ['infer', '--model', STORIES, '--prompt', 'Once upon a time', '--max_new_tokens', '24',
    '--temperature', '0', '--torch_dtype', dtype, '--device', device];
  const f32 = await runCli(args('float32', 'wasm'));
  assert.equal(f32.status, 0, f32.stderr);
  for (const device of gpu.ok ? ['wasm', 'webgpu'] : ['wasm']) {
    const r = await runCli(args('float16', device));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /torch_dtype float16: weights stored as float(16|32 holding float16-rounded values)/);
    // stories260K's greedy story survives f16 weights for its first words (a flip later on would be a near-tie)
    assert.equal(r.stdout.split(' ').slice(0, 8).join(' '), f32.stdout.split(' ').slice(0, 8).join(' '), `${device}: ${r.stdout} vs ${f32.stdout}`);
  }
});
