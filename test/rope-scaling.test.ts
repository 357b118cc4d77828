// llama3 rope_scaling (Hugging Face's _compute_llama3_parameters): config.json parsing, the inverse-frequency table,
// logits of a tiny llama3-scaled Hugging Face checkpoint against PyTorch on every backend (test/oracle/hf_tiny_model.py
// with rope_scaling), and training gradients against PyTorch autograd (test/oracle/sft_grad.py) on WebGPU (or the
// reference where no adapter exists) and on the reference backend.
import '../runtime/wasm-embedded.ts';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadHfLlama, parseHfConfig } from '../models/hf-llama.ts';
import { LlamaRunner, ropeInvFreq, type LlamaConfig, type LlamaModel } from '../models/llama.ts';
import { LlamaTrainer, type TrainBatch } from '../models/llama-train.ts';
import { parseTargetModules } from '../models/lora.ts';
import { ReferenceOps } from '../src/backend/reference-ops.ts';
import { ReferenceTrainOps } from '../src/backend/reference-train-ops.ts';
import { createWasmOps } from '../src/backend/wasm-ops.ts';
import { createWebGpuOps } from '../gpu/webgpu-ops.ts';
import { createWebGpuTrainOps } from '../gpu/train-ops.ts';
import { releaseGPU } from '../runtime/webgpu.ts';
import { testGPU } from './gpu.ts';
import { UserError } from '../core/errors.ts';
import type { Ops } from '../core/ops.ts';
import type { TrainOps } from '../core/train-ops.ts';
import { ROOT } from './helpers.ts';
import { expectClose, packing, randint, randn } from './train-helpers.ts';

const gpu = await testGPU();
after(() => releaseGPU());

const LLAMA3 = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
const base = { model_type: 'llama', hidden_size: 48, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4,
  vocab_size: 97, rope_theta: 500 };

test('config.json rope_scaling: llama3 parsed, default accepted, other types refused naming config.json', () => {
  const c = parseHfConfig({ ...base, rope_scaling: LLAMA3 }, 'dir/config.json');
  assert.deepEqual(c.ropeScaling, { ropeType: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 });
  assert.equal(parseHfConfig({ ...base, rope_scaling: { type: 'default' } }).ropeScaling, undefined);
  assert.equal(parseHfConfig({ ...base, rope_scaling: null }).ropeScaling, undefined);
  for (const [scaling, msg] of [[{ type: 'linear', factor: 2 }, /dir\/config\.json: rope_scaling type "linear" is not supported/],
    [{ rope_type: 'dynamic', factor: 2 }, /rope_scaling type "dynamic"/], [{ rope_type: 'yarn', factor: 4 }, /"yarn"/],
    [{ ...LLAMA3, factor: undefined }, /dir\/config\.json: rope_scaling\.factor is missing/],
    [{ ...LLAMA3, high_freq_factor: 1 }, /high_freq_factor must be greater/], ['llama3', /must be an object/]] as const) {
    assert.throws(() => parseHfConfig({ ...base, rope_scaling: scaling }, 'dir/config.json'),
      (e: Error) => e instanceof UserError && msg.test(e.message) && !e.message.includes('\n'), JSON.stringify(scaling));
  }
});

test('ropeInvFreq: unscaled is theta^(-2i/d); llama3 keeps short wavelengths, divides long ones, interpolates between', () => {
  const scaling = { ropeType: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 } as const;
  const plain = ropeInvFreq({ ropeTheta: 500, headDim: 16 });
  plain.forEach((f, i) => assert.equal(f, Math.pow(500, (-2 * i) / 16)));
  const scaled = ropeInvFreq({ ropeTheta: 500, headDim: 16, ropeScaling: scaling });
  // wavelengths 2π/f: 6.3, 13.6 (< 64/4: kept), 29.5 (between: smoothed), 64.5 and longer (> 64/1: divided by 8)
  assert.deepEqual([scaled[0], scaled[1]], [plain[0], plain[1]]);
  const smooth = (64 / ((2 * Math.PI) / plain[2]) - 1) / 3;
  assert.ok(Math.abs(scaled[2] - ((1 - smooth) * plain[2] / 8 + smooth * plain[2])) < 1e-15);
  for (let i = 3; i < 8; i++) assert.equal(scaled[i], plain[i] / 8);
});

function hfOracle(scaling: object | null) {
  const dir = mkdtempSync(join(tmpdir(), 'webtune-rope-scaling-'));
  const args = [resolve(ROOT, 'test/oracle/hf_tiny_model.py'), dir, 'llama', 'F32', '1', ...(scaling ? [JSON.stringify(scaling)] : [])];
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return { dir, ...JSON.parse(r.stdout) as { ids: number[]; logits: number[][] } };
}

test('llama3-scaled Hugging Face checkpoint matches PyTorch logits (1e-4) on every backend, one token and a whole prompt at a time', async () => {
  const ref = hfOracle(LLAMA3), plain = hfOracle(null);
  let moved = 0;  // the scaling must matter here, or this test could not fail
  ref.logits.forEach((row, p) => row.forEach((v, j) => { moved = Math.max(moved, Math.abs(v - plain.logits[p][j])); }));
  assert.ok(moved > 1e-2, `scaled and unscaled logits differ by only ${moved}`);
  const model = await loadHfLlama(ref.dir);
  assert.equal(model.config.ropeScaling?.ropeType, 'llama3');
  const backends: Ops[] = [new ReferenceOps(), await createWasmOps()];
  if (gpu.ok) backends.push(await createWebGpuOps(gpu.gpu));
  for (const ops of backends) {
    const T = ref.ids.length;
    const stepwise = new LlamaRunner(ops, model), whole = new LlamaRunner(ops, model, { maxTokens: T });
    const all = await whole.forward(ref.ids, ref.ids.map((_id, p) => p));
    for (let pos = 0; pos < T; pos++) {
      const logits = await stepwise.forward([ref.ids[pos]], [pos]);
      let worst = 0;
      for (let j = 0; j < model.config.vocabSize; j++) {
        worst = Math.max(worst, Math.abs(logits[j] - ref.logits[pos][j]), Math.abs(all[pos * model.config.vocabSize + j] - ref.logits[pos][j]));
      }
      assert.ok(worst < 1e-4, `${ops.name} position ${pos}: max |Δlogit| = ${worst}`);
    }
    ops.destroy();
  }
});

// ---- training: loss and gradients against PyTorch autograd (sft_grad.py with ropeScaling) ----
const config: LlamaConfig = { hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, vocabSize: 61,
  maxPositionEmbeddings: 256, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false, modelType: 'llama',
  ropeScaling: { ropeType: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 } };
const D = config.hiddenSize, F = config.intermediateSize, q = config.numHeads * config.headDim, kv = config.numKvHeads * config.headDim;
const model: LlamaModel = { config, weights: {
  embedTokens: randn(config.vocabSize * D), norm: randn(D, 0.1, 1), lmHead: randn(config.vocabSize * D, 0.2),
  layers: Array.from({ length: config.numLayers }, () => ({ inputNorm: randn(D, 0.1, 1), postNorm: randn(D, 0.1, 1),
    q: randn(q * D, 0.3), k: randn(kv * D, 0.3), v: randn(kv * D, 0.2), o: randn(D * q, 0.2), gate: randn(F * D, 0.2),
    up: randn(F * D, 0.2), down: randn(D * F, 0.2) })) } };

/** Two sequences of T tokens; positions start far from 0 (up to ~200) so that the slowed-down frequencies turn. */
function batch(T: number): TrainBatch {
  const { seg } = packing([[T], [T - 5]], T);
  const ids = randint(2 * T, 0, config.vocabSize), labels = new Int32Array(2 * T).fill(-100);
  const positions = Int32Array.from(seg, (_s, r) => (r < T ? 150 + r : 40 + 3 * (r - T)));
  for (let r = 0; r + 1 < 2 * T; r++) if (seg[r] && seg[r + 1] === seg[r] && (r + 1) % T) labels[r] = ids[r + 1];
  return { ids, labels, positions, segments: null };
}

test('llama3 rope_scaling training: loss and every gradient match PyTorch autograd (1e-4), full and LoRA', async () => {
  const T = 16, b = batch(T), trained = b.labels.filter((l) => l >= 0).length;
  const backends: [string, TrainOps][] = [['reference', new ReferenceTrainOps()]];
  if (gpu.ok) backends.push(['webgpu', await createWebGpuTrainOps(gpu.gpu)]);
  const loras = [undefined, { rank: 4, alpha: 8, dropout: 0, targets: parseTargetModules('q_proj,k_proj'), seed: 3 }];
  const weights: Record<string, Float32Array> = { embedTokens: model.weights.embedTokens, norm: model.weights.norm, lmHead: model.weights.lmHead! };
  model.weights.layers.forEach((l, i) => Object.entries(l).forEach(([k, v]) => { if (v) weights[`layers.${i}.${k}`] = v as Float32Array; }));
  const cases = [];
  const trainers: LlamaTrainer[][] = backends.map(() => []);
  for (const lora of loras) {
    const w = { ...weights };
    for (const [bi, [, ops]] of backends.entries()) {
      const trainer = new LlamaTrainer(ops, model, { B: 2, T, ceChunk: 20, lora });
      const values = await trainer.read('value');
      for (const [n, v] of values) if (n.endsWith('loraB')) values.set(n, Float32Array.from(v, (_x, j) => Math.cos(j) * 0.1));
      trainer.load('value', values);
      for (const [n, v] of values) if (n.includes('lora')) w[n] = v;
      trainers[bi].push(trainer);
    }
    cases.push({ config, B: 2, T, ...b, weights: w, trainable: trainers[0].at(-1)!.params.map((p) => p.name),
      lora: lora ? { rank: lora.rank, alpha: lora.alpha } : null,
      optim: { lr: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1 } });
  }
  const dir = mkdtempSync(join(tmpdir(), 'webtune-rope-grad-'));
  writeFileSync(join(dir, 'cases.json'), JSON.stringify({ cases }, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v)));
  const py = spawnSync('/usr/bin/python3', [resolve(ROOT, 'test/oracle/sft_grad.py'), join(dir, 'cases.json')], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(py.status, 0, py.stderr);
  const results: Record<string, number[]>[] = JSON.parse(py.stdout).results;
  for (const [bi, [name, ops]] of backends.entries()) {
    for (const [ci, lora] of loras.entries()) {
      const what = `${name} llama3 ${lora ? 'LoRA' : 'full'}`, want = results[ci], trainer = trainers[bi][ci];
      const loss = await trainer.forwardBackward(b, 1 / trained);
      expectClose([loss], want.loss, 1e-5, `${what} loss`, `${what} loss`);
      for (const [n, g] of await trainer.read('grad')) expectClose(g, want[`grad.${n}`], 1e-4, `${what} d${n}`, `${what} grads`);
    }
    ops.destroy();
  }
});
