// The SFT trainer (models/llama-train.ts + models/lora.ts) against PyTorch (test/oracle/sft_grad.py, float64
// autograd, one process for every case): on stories260K and on a random Qwen3-style model (q/k norms, q/k/v
// biases, GQA, untied head), the loss and every trainable gradient (all weights for full training, A and B for
// LoRA) within 1e-4, then one clipped AdamW step. Then properties that need no oracle: gradient accumulation
// 4 × 1 equals one padded batch of 4, packing equals no packing, seeded LoRA dropout, and gradient checkpointing
// (recomputed activations) giving the same loss and gradients with fewer saved bytes.
import '../runtime/wasm-embedded.ts';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { releaseGPU } from '../runtime/webgpu.ts';
import { testGPU } from './gpu.ts';
import { createWebGpuTrainOps } from '../gpu/train-ops.ts';
import { ReferenceTrainOps } from '../src/backend/reference-train-ops.ts';
import type { TrainOps } from '../core/train-ops.ts';
import { LlamaTrainer, type AdamWOptions, type TrainBatch } from '../models/llama-train.ts';
import type { LlamaConfig, LlamaModel } from '../models/llama.ts';
import { loadModel } from '../models/load.ts';
import { parseTargetModules, TARGET_MODULES, type LoraConfig } from '../models/lora.ts';
import { ROOT, STORIES } from './helpers.ts';
import { expectClose, packing, randint, randn, worst } from './train-helpers.ts';

const gpu = await testGPU();
const ops: TrainOps = gpu.ok ? await createWebGpuTrainOps(gpu.gpu) : new ReferenceTrainOps();
const label = gpu.ok ? 'webgpu' : 'reference';
after(() => {
  console.log(`worst error vs PyTorch on ${label} (|a−e| / (|e| + rms e)):`);
  for (const [k, v] of [...worst].sort()) console.log(`  ${k.padEnd(34)} ${v.toExponential(2)}`);
  ops.destroy();
  releaseGPU();
});

const stories = (await loadModel(STORIES)).model;
const qwen3Config: LlamaConfig = { hiddenSize: 64, intermediateSize: 96, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 24, vocabSize: 131,
  maxPositionEmbeddings: 128, rmsNormEps: 1e-6, ropeTheta: 1e6, tieWordEmbeddings: false, modelType: 'qwen3', attentionBias: true, qkNorm: true };
function randomModel(c: LlamaConfig): LlamaModel {
  const D = c.hiddenSize, F = c.intermediateSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;
  return { config: c, weights: {
    embedTokens: randn(c.vocabSize * D), norm: randn(D, 0.1, 1), lmHead: randn(c.vocabSize * D, 0.2),
    layers: Array.from({ length: c.numLayers }, () => ({ inputNorm: randn(D, 0.1, 1), postNorm: randn(D, 0.1, 1),
      q: randn(q * D, 0.2), k: randn(kv * D, 0.2), v: randn(kv * D, 0.2), o: randn(D * q, 0.2), gate: randn(F * D, 0.2),
      up: randn(F * D, 0.2), down: randn(D * F, 0.2), qBias: randn(q, 0.3), kBias: randn(kv, 0.3), vBias: randn(kv, 0.3),
      qNorm: randn(c.headDim, 0.2, 1), kNorm: randn(c.headDim, 0.2, 1) })) } };
}
const qwen3 = randomModel(qwen3Config);

/** Rows of documents (lengths), packed or one per row: ids, next-token targets within each document, positions, segments. */
function batchOf(docs: number[][], T: number, vocab: number, seed: number[]): TrainBatch {
  const { seg, pos } = packing(docs, T);
  const ids = new Int32Array(seg.length), labels = new Int32Array(seg.length).fill(-100);
  let k = 0;
  for (let r = 0; r < seg.length; r++) if (seg[r]) ids[r] = seed[k++ % seed.length] % vocab;
  for (let r = 0; r + 1 < seg.length; r++) if (seg[r] && seg[r + 1] === seg[r] && (r + 1) % T && pos[r] >= 2) labels[r] = ids[r + 1];
  return { ids, labels, positions: pos, segments: seg };
}
const TOKENS = Array.from(randint(4096, 0, 1 << 20));
const trainedOf = (b: TrainBatch) => b.labels.filter((l) => l >= 0).length;
// AdamW's first step moves each element by about lr·g/(|g| + eps): where |g| is tiny, f32 rounding of g shows at the
// scale of lr, so lr is kept small enough for the 1e-4 comparison to be about the update rule, clipping and decay groups.
const OPTIM: Required<Omit<AdamWOptions, 'optim'>> = { lr: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1 };
const lora = (targets: string): LoraConfig => ({ rank: 4, alpha: 8, dropout: 0, targets: parseTargetModules(targets), seed: 7 });

// ---- oracle cases ----
interface Case { what: string; model: LlamaModel; lora?: LoraConfig; batch: TrainBatch; B: number; T: number }
const cases: Case[] = [
  { what: 'stories260K full', model: stories, batch: batchOf([[12, 9], [20]], 24, 512, TOKENS), B: 2, T: 24 },
  { what: 'stories260K LoRA all-linear', model: stories, lora: lora('all-linear'), batch: batchOf([[12, 9], [20]], 24, 512, TOKENS), B: 2, T: 24 },
  { what: 'qwen3-style full', model: qwen3, batch: batchOf([[7, 10], [16]], 17, 131, TOKENS), B: 2, T: 17 },
  { what: 'qwen3-style LoRA q,v,down', model: qwen3, lora: lora('q_proj,v_proj,down_proj'), batch: batchOf([[7, 10], [16]], 17, 131, TOKENS), B: 2, T: 17 },
];

function weightsOf(m: LlamaModel): Record<string, Float32Array> {
  const w: Record<string, Float32Array> = { embedTokens: m.weights.embedTokens, norm: m.weights.norm };
  if (!m.config.tieWordEmbeddings && m.weights.lmHead) w.lmHead = m.weights.lmHead;
  m.weights.layers.forEach((l, i) => Object.entries(l).forEach(([k, v]) => { if (v) w[`layers.${i}.${k}`] = v as Float32Array; }));
  return w;
}

/** B is zero at initialisation (so dA = 0): give it values so that both gradients are exercised. */
async function makeTrainer(c: Case): Promise<{ trainer: LlamaTrainer; weights: Record<string, Float32Array> }> {
  const trainer = new LlamaTrainer(ops, c.model, { B: c.B, T: c.T, ceChunk: 100, lora: c.lora });
  const weights = weightsOf(c.model);
  if (c.lora) {
    const values = await trainer.read('value');
    for (const [n, v] of values) if (n.endsWith('loraB')) values.set(n, randn(v.length, 0.05));
    trainer.load('value', values);
    for (const [n, v] of values) weights[n] = v;
  }
  return { trainer, weights };
}

const prepared = await Promise.all(cases.map(makeTrainer));
const dir = mkdtempSync(join(tmpdir(), 'webtune-sft-grad-'));
writeFileSync(join(dir, 'cases.json'), JSON.stringify({ cases: cases.map((c, i) => ({
  config: c.model.config, B: c.B, T: c.T, ...c.batch, weights: prepared[i].weights, trainable: prepared[i].trainer.params.map((p) => p.name),
  lora: c.lora ? { rank: c.lora.rank, alpha: c.lora.alpha } : null, optim: OPTIM,
})) }, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v)));
const py = spawnSync('/usr/bin/python3', [resolve(ROOT, 'test/oracle/sft_grad.py'), join(dir, 'cases.json')], { encoding: 'utf8', maxBuffer: 1 << 29 });
assert.equal(py.status, 0, py.stderr);
const results: Record<string, number[]>[] = JSON.parse(py.stdout).results;

for (const [i, c] of cases.entries()) {
  test(`${c.what}: loss, gradients and one AdamW step match PyTorch`, async () => {
    const { trainer } = prepared[i], want = results[i];
    if (c.lora) assert.ok(trainer.params.every((p) => /lora[AB]$/.test(p.name)), 'LoRA trains adapters only');
    else assert.equal(trainer.params.length, Object.keys(weightsOf(c.model)).length);
    const loss = await trainer.forwardBackward(c.batch, 1 / trainedOf(c.batch));
    expectClose([loss], want.loss, 1e-5, `${c.what} loss`, `${c.what} loss`);
    for (const [name, g] of await trainer.read('grad')) expectClose(g, want[`grad.${name}`], 1e-4, `${c.what} d${name}`, `${c.what} grads`);
    await trainer.step(OPTIM);
    for (const [name, v] of await trainer.read('value')) expectClose(v, want[`after.${name}`], 1e-4, `${c.what} ${name} after AdamW`, `${c.what} AdamW`);
  });
}

/** Loss and gradients of a trainer over micro-batches (scale = 1 / trained tokens of them all). */
async function accumulate(model: LlamaModel, l: LoraConfig | undefined, micro: TrainBatch[], B: number, T: number) {
  const trainer = new LlamaTrainer(ops, model, { B, T, ceChunk: 100, lora: l });
  const values = await trainer.read('value');
  for (const [n, v] of values) if (n.endsWith('loraB')) values.set(n, Float32Array.from(v, (_x, j) => Math.sin(j) * 0.05));
  trainer.load('value', values);
  const total = micro.reduce((s, b) => s + trainedOf(b), 0);
  let loss = 0;
  for (const b of micro) loss += await trainer.forwardBackward(b, 1 / total);
  return { loss, grads: await trainer.read('grad') };
}
function slice(b: TrainBatch, row: number, T: number): TrainBatch {
  const s = (a: Int32Array) => a.slice(row * T, (row + 1) * T);
  return { ids: s(b.ids), labels: s(b.labels), positions: s(b.positions), segments: b.segments ? s(b.segments) : null };
}
function sameResult(a: Awaited<ReturnType<typeof accumulate>>, b: typeof a, what: string) {
  expectClose([a.loss], [b.loss], 1e-5, `${what} loss`, `${what} loss`);
  for (const [n, g] of a.grads) expectClose(g, b.grads.get(n)!, 1e-4, `${what} d${n}`, `${what} grads`);
}

test('gradient accumulation 4 × 1 equals one padded batch of 4 (loss: mean over the trained tokens of all four)', async () => {
  for (const l of [lora('all-linear'), undefined]) {
    const T = 20, batch = batchOf([[20], [13], [6], [17]], T, 512, TOKENS);
    const one = await accumulate(stories, l, [batch], 4, T);
    const four = await accumulate(stories, l, [0, 1, 2, 3].map((r) => slice(batch, r, T)), 1, T);
    sameResult(four, one, `accumulation ${l ? 'lora' : 'full'}`);
  }
});

test('packing equals no packing (segment-masked attention, restarting positions)', async () => {
  const packed = batchOf([[9, 14]], 23, 131, TOKENS), T = 14;
  const unpacked = batchOf([[9], [14]], T, 131, TOKENS);
  const a = await accumulate(qwen3, lora('all-linear'), [packed], 1, 23);
  const b = await accumulate(qwen3, lora('all-linear'), [unpacked], 2, T);
  sameResult(a, b, 'packing lora');
  sameResult(await accumulate(qwen3, undefined, [packed], 1, 23), await accumulate(qwen3, undefined, [unpacked], 2, T), 'packing full');
});

test('LoRA dropout: seeded (same seed, same gradients), active in training, off in evaluation', async () => {
  const c = cases[1], drop = { ...c.lora!, dropout: 0.3 };
  const run = async (l: LoraConfig) => (await accumulate(stories, l, [c.batch], c.B, c.T));
  const [a, b, none] = [await run(drop), await run(drop), await run(c.lora!)];
  for (const [n, g] of a.grads) assert.deepEqual(g, b.grads.get(n), `dropout is deterministic for ${n}`);
  assert.notEqual(a.loss, none.loss, 'dropout changes the training loss');
  const t1 = new LlamaTrainer(ops, stories, { B: c.B, T: c.T, lora: drop }), t0 = new LlamaTrainer(ops, stories, { B: c.B, T: c.T, lora: c.lora });
  const [e1, e0] = [await t1.evaluate(c.batch), await t0.evaluate(c.batch)];
  assert.equal(e1.tokens, trainedOf(c.batch));
  assert.ok(Math.abs(e1.lossSum - e0.lossSum) < 1e-3 * e0.lossSum, 'evaluation has no dropout');
  assert.ok(e1.correct !== null && e1.correct >= 0 && e1.correct <= e1.tokens);
});

test('gradient checkpointing changes nothing (same loss, every gradient within 1e-7) and keeps fewer activations', async () => {
  const runs: [string, LlamaModel, LoraConfig | undefined, TrainBatch, number, number][] = [
    ['stories260K full', stories, undefined, cases[0].batch, cases[0].B, cases[0].T],
    ['stories260K LoRA dropout', stories, { ...lora('all-linear'), dropout: 0.2 }, cases[1].batch, cases[1].B, cases[1].T],
    ['qwen3-style full', qwen3, undefined, cases[2].batch, cases[2].B, cases[2].T],
    ['qwen3-style LoRA', qwen3, lora('q_proj,v_proj,down_proj'), cases[3].batch, cases[3].B, cases[3].T],
  ];
  for (const [what, model, l, batch, B, T] of runs) {
    const out = await Promise.all([false, true].map(async (gradientCheckpointing) => {
      const trainer = new LlamaTrainer(ops, model, { B, T, ceChunk: 100, lora: l, gradientCheckpointing });
      const values = await trainer.read('value');
      for (const [n, v] of values) if (n.endsWith('loraB')) values.set(n, Float32Array.from(v, (_x, j) => Math.sin(j) * 0.05));
      trainer.load('value', values);
      let loss = 0;
      for (let m = 0; m < 2; m++) loss += await trainer.forwardBackward(batch, 1 / (2 * trainedOf(batch)));  // two micro-batches
      return { trainer, loss, grads: await trainer.read('grad') };
    }));
    const [plain, ckpt] = out;
    assert.equal(ckpt.trainer.checkpointing, true);
    assert.equal(ckpt.loss, plain.loss, `${what}: loss`);
    let worstDiff = 0;
    for (const [n, g] of plain.grads) {
      const h = ckpt.grads.get(n)!;
      let d = 0;
      for (let j = 0; j < g.length; j++) d = Math.max(d, Math.abs(g[j] - h[j]));
      assert.ok(d <= 1e-7, `${what}: d${n} differs by ${d}`);
      worstDiff = Math.max(worstDiff, d);
    }
    assert.ok(ckpt.trainer.savedBytes < plain.trainer.savedBytes, `${what}: saved activations ${ckpt.trainer.savedBytes} < ${plain.trainer.savedBytes}`);
    console.log(`gradient checkpointing, ${what}: saved activations ${plain.trainer.savedBytes} → ${ckpt.trainer.savedBytes} bytes, largest gradient difference ${worstDiff}`);
  }
});

test('unknown --target_modules lists the valid names', () => {
  assert.throws(() => parseTargetModules('q_proj,qkv_proj'), new RegExp(`unknown --target_modules qkv_proj; valid: all-linear or ${TARGET_MODULES.join(', ')}`));
  assert.deepEqual(parseTargetModules('all-linear'), [...TARGET_MODULES]);
});
