// The WASM trainer (src/backend/wasm-train-ops.ts) beyond test/train-ops.test.ts's per-op oracle: the packed GEMM on
// shapes that cross its k blocks (256) and row blocks (128), every layout, beta 0/1/0.7 and a dropout mask on each
// operand, against float64 sums; then the whole SFT step against PyTorch (test/oracle/sft_grad.py) as
// test/sft-grad.test.ts checks WebGPU: loss, every trainable gradient and one clipped AdamW step, full and LoRA,
// on stories260K and on a Qwen3-style model (q/k norms, biases, GQA, untied head). No GPU involved: never skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createWasmTrainOps, type WasmTrainOps } from '../src/backend/wasm-train-ops.ts';
import { dropKeep, dropThreshold } from '../core/train-ops.ts';
import { LlamaTrainer, type AdamWOptions, type TrainBatch } from '../models/llama-train.ts';
import type { LlamaConfig, LlamaModel } from '../models/llama.ts';
import { loadModel } from '../models/load.ts';
import { parseTargetModules, type LoraConfig } from '../models/lora.ts';
import { PYTHON, ROOT, SHARED, STORIES, runCli } from './helpers.ts';
import { wasmTrainsBetter } from '../src/backend/select.ts';
import { expectClose, packing, randint, randn, run } from './train-helpers.ts';

const ops = await createWasmTrainOps(), ops1 = ops;
assert.equal(ops.caps.train, true);
// a pool of 3 threads that splits every GEMM, however small (rows by 4s, or columns by 8s when rows are few)
const pooled = await createWasmTrainOps({ threads: 3, poolMinMacs: 0 });
assert.equal(pooled.caps.device, 'WebAssembly relaxed SIMD (fused multiply-add) (3 threads)');

// ---- GEMM ----
type Layout = 'NT' | 'NN' | 'TN';
/** C = beta·C0 + mask(A)·mask(B) masked, in float64: A, B as each layout stores them; which: the masked operand. */
function gemm64(layout: Layout, a: Float32Array, b: Float32Array, c0: Float32Array, M: number, N: number, K: number, beta: number,
  which: 'a' | 'b' | 'c' | null, keep: (j: number) => boolean) {
  const A = (m: number, k: number) => { const j = layout === 'TN' ? k * M + m : m * K + k; return which === 'a' && !keep(j) ? 0 : a[j]; };
  const B = (k: number, n: number) => { const j = layout === 'NT' ? n * K + k : k * N + n; return which === 'b' && !keep(j) ? 0 : b[j]; };
  return Float64Array.from({ length: M * N }, (_, j) => {
    const m = Math.floor(j / N), n = j % N;
    let s = 0;
    for (let k = 0; k < K; k++) s += A(m, k) * B(k, n);
    if (which === 'c' && !keep(j)) s = 0;
    return beta === 0 ? s : beta * c0[j] + s;
  });
}
// the mask each TrainOps GEMM takes: NT its input a, NN its product, TN its b
const MASKED: Record<Layout, 'a' | 'b' | 'c'> = { NT: 'a', NN: 'c', TN: 'b' };

test('packed GEMM: NT, NN, TN across k and row blocks, ragged edges, beta 0/1/0.7, dropout masks; 1 and 3 threads', async () => {
  for (const ops of [ops1, pooled]) await gemmCases(ops);
});
async function gemmCases(ops: WasmTrainOps) {
  const salt = 0x51ed270b, p = 0.25, keep = (j: number) => dropKeep(salt >>> 0, j, dropThreshold(p));
  for (const [M, N, K] of [[3, 5, 7], [130, 21, 300], [257, 72, 520], [9, 8, 1000], [200, 1, 3]]) {
    for (const layout of ['NT', 'NN', 'TN'] as Layout[]) {
      const aLen = M * K, bLen = N * K, a = randn(aLen), b = randn(bLen), c0 = randn(M * N);
      for (const beta of [0, 1, 0.7]) for (const masked of [false, true]) {
        const r = await run(ops, { a, b, c: beta === 0 ? new Float32Array(M * N).fill(NaN) : c0, salts: Int32Array.from([salt]) }, (x) => {
          const mask = masked ? { salts: x.salts, index: 0, threshold: dropThreshold(p) } : null;
          if (layout === 'NT') ops.matmulNT(x.c, x.a, x.b, M, N, K, beta, mask);
          if (layout === 'NN') ops.matmulNN(x.c, x.a, x.b, M, N, K, beta, mask);
          if (layout === 'TN') ops.matmulTNAcc(x.c, x.a, x.b, M, N, K, beta, mask);
        }, ['c']);
        const want = gemm64(layout, a, b, c0, M, N, K, beta, masked ? MASKED[layout] : null, keep);
        expectClose(r.c, want, 1e-5, `${ops.caps.device} ${layout} M=${M} N=${N} K=${K} beta=${beta} mask=${masked}`, `gemm wasm ${layout}`);
      }
    }
  }
}

test('outputs that alias an input fail clearly', () => {
  const a = ops.alloc(64), b = ops.alloc(64), w = ops.alloc(8);
  assert.throws(() => ops.matmulNN(a, a, b, 8, 8, 8), /output buffer is also an input/);
  assert.throws(() => ops.rmsnormBackward(a, w, a, b, w, 8, 8, 1e-5), /output buffer is also an input/);
  assert.throws(() => ops.swigluBackward(a, b, b, a, a, 64), /output buffer is also an input/);
  assert.throws(() => ops.attentionTrain({ out: a, lse: w, q: b, k: b, v: b }, { B: 1, T: 4, nHeads: 2, nKvHeads: 3, headDim: 8, pos: null, seg: null }), /divisible/);
  assert.throws(() => ops.matmulNT(a, b, w, 8, 8, 8), /kernel needs 64 elements, buffer has 8/);
  [a, b, w].forEach((x) => ops.free(x));
});

// ---- the SFT step against PyTorch (the cases of test/sft-grad.test.ts) ----
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
function batchOf(docs: number[][], T: number, vocab: number, seed: Int32Array): TrainBatch {
  const { seg, pos } = packing(docs, T);
  const ids = new Int32Array(seg.length), labels = new Int32Array(seg.length).fill(-100);
  let k = 0;
  for (let r = 0; r < seg.length; r++) if (seg[r]) ids[r] = seed[k++ % seed.length] % vocab;
  for (let r = 0; r + 1 < seg.length; r++) if (seg[r] && seg[r + 1] === seg[r] && (r + 1) % T && pos[r] >= 2) labels[r] = ids[r + 1];
  return { ids, labels, positions: pos, segments: seg };
}
const TOKENS = randint(4096, 0, 1 << 20);
const trainedOf = (b: TrainBatch) => b.labels.filter((l) => l >= 0).length;
const OPTIM: Required<Omit<AdamWOptions, 'optim'>> = { lr: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1 };
const lora = (targets: string): LoraConfig => ({ rank: 4, alpha: 8, dropout: 0, targets: parseTargetModules(targets), seed: 7 });
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
async function makeTrainer(c: Case, ops: WasmTrainOps) {
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
const prepared = await Promise.all(cases.map((c) => makeTrainer(c, ops)));
// the same starting values on the pool (LoRA's B was drawn above)
const preparedPooled = await Promise.all(cases.map(async (c, i) => {
  const trainer = new LlamaTrainer(pooled, c.model, { B: c.B, T: c.T, ceChunk: 100, lora: c.lora });
  trainer.load('value', await prepared[i].trainer.read('value'));
  return { trainer };
}));
const dir = mkdtempSync(join(tmpdir(), 'webtune-wasm-train-'));
writeFileSync(join(dir, 'cases.json'), JSON.stringify({ cases: cases.map((c, i) => ({
  config: c.model.config, B: c.B, T: c.T, ...c.batch, weights: prepared[i].weights, trainable: prepared[i].trainer.params.map((p) => p.name),
  lora: c.lora ? { rank: c.lora.rank, alpha: c.lora.alpha } : null, optim: OPTIM,
})) }, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v)));
const py = spawnSync(PYTHON, [resolve(ROOT, 'test/oracle/sft_grad.py'), join(dir, 'cases.json')], { encoding: 'utf8', maxBuffer: 1 << 29 });
assert.equal(py.status, 0, py.stderr);
const results: Record<string, number[]>[] = JSON.parse(py.stdout).results;

for (const [i, c] of cases.entries()) for (const [label, ready] of [['wasm', prepared], ['wasm 3 threads', preparedPooled]] as const) {
  test(`${label} ${c.what}: loss, gradients and one AdamW step match PyTorch`, async () => {
    const { trainer } = ready[i], want = results[i];
    const loss = await trainer.forwardBackward(c.batch, 1 / trainedOf(c.batch));
    expectClose([loss], want.loss, 1e-5, `${c.what} loss`, `${c.what} loss`);
    const grads = await trainer.read('grad');
    assert.equal(grads.size, trainer.params.length);
    for (const [name, g] of grads) expectClose(g, want[`grad.${name}`], 1e-4, `${c.what} d${name}`, `${c.what} grads`);
    await trainer.step(OPTIM);
    for (const [name, v] of await trainer.read('value')) expectClose(v, want[`after.${name}`], 1e-4, `${c.what} ${name} after AdamW`, `${c.what} AdamW`);
  });
}

/** `webtune sft --device wasm` on 8 self-cognition rows, 3 steps: its stderr and logged losses. */
async function wasmSft(threads: string, env: Record<string, string> = {}): Promise<{ stderr: string; losses: number[] }> {
  const out = mkdtempSync(join(tmpdir(), 'webtune-wasm-sft-'));
  const r = await runCli(['sft', '--model', STORIES, '--dataset', `${resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl')}#8`, '--template', 'default',
    '--model_name', 'x', 'X', '--model_author', 'y', 'Y', '--max_length', '64', '--max_steps', '3', '--logging_steps', '1',
    '--per_device_train_batch_size', '4', '--device', 'wasm', '--threads', threads, '--output_dir', out], 'node', 300_000, env);
  assert.equal(r.status, 0, r.stderr);
  const runDir = r.stdout.trim().split('\n').pop()!;
  return { stderr: r.stderr, losses: readFileSync(join(runDir, 'logging.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((x) => 'loss' in x).map((x) => x.loss) };
}

test('sft --device wasm trains on WASM and says so; --threads 2 and 1 log the same losses; auto keeps a model too large for wasm32 on the adapter', async () => {
  const losses: number[][] = [];
  for (const threads of ['2', '1']) {
    const r = await wasmSft(threads), n = Number(threads);
    assert.match(r.stderr, new RegExp(`^webtune: device: wasm on WebAssembly relaxed SIMD \\(fused multiply-add\\) \\(${n} thread${n > 1 ? 's' : ''}\\) \\(requested with --device wasm\\)$`, 'm'));
    losses.push(r.losses);
  }
  assert.equal(losses[0].length, 3);
  // GEMMs split by rows/columns and attention by kv heads: each output is summed in the same order on any thread.
  assert.deepEqual(losses[0], losses[1], 'losses with 2 threads equal those with 1');
  const zero = await runCli(['sft', '--model', STORIES, '--dataset', 'x.jsonl', '--threads', '0']);
  assert.equal(zero.status, 1);
  assert.match(zero.stderr, /--threads <n>' argument '0' is invalid/);
  const bad = await runCli(['sft', '--model', STORIES, '--dataset', 'x.jsonl', '--device', 'cpu']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--device/);
  assert.equal(wasmTrainsBetter(42e6).wasm, true);
  assert.deepEqual(wasmTrainsBetter(1e9), { wasm: false, why: 'its f32 weights (3.7 GiB) do not fit WASM\'s 4 GiB memory' });
});

// The kernels built with relaxed SIMD (fused multiply-adds, the default wherever the runtime validates them) against
// the plain build (WEBTUNE_WASM_RELAXED=0): one rounding instead of two per multiply-add, so the losses agree to
// float32 rounding, not bit for bit; each run names its kernels on stderr.
test('relaxed-SIMD kernels (default) and the plain build (WEBTUNE_WASM_RELAXED=0) log the same losses to 1e-5', async () => {
  const losses: number[][] = [];
  for (const relaxed of ['1', '0']) {
    const r = await wasmSft('1', { WEBTUNE_WASM_RELAXED: relaxed });
    assert.match(r.stderr, relaxed === '1' ? /device: wasm on WebAssembly relaxed SIMD \(fused multiply-add\) \(1 thread\)/ : /device: wasm on WebAssembly SIMD \(1 thread\)/);
    losses.push(r.losses);
  }
  assert.equal(losses[0].length, 3);
  losses[0].forEach((l, i) => assert.ok(Math.abs(l - losses[1][i]) <= 1e-5 * Math.abs(losses[1][i]), `step ${i + 1}: relaxed ${l}, plain ${losses[1][i]}`));
  const bad = await runCli(['infer', '--model', STORIES, '--device', 'wasm', '--max_new_tokens', '4'], 'node', 60_000, { WEBTUNE_WASM_RELAXED: 'yes' });
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr.trim().split('\n').pop(), 'webtune: error: WEBTUNE_WASM_RELAXED=yes: expected 0 (plain SIMD kernels) or 1 (relaxed SIMD where the runtime has it, the default)');
});
