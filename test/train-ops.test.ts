// Every TrainOps op on the reference, on WASM SIMD and on WebGPU (both matmul strategies, i.e. both kernel configs) against
// PyTorch autograd in float64 (test/oracle/train_ops.py, one process for all cases), then a tiny 2-layer Llama's
// loss and parameter gradients on a packed batch. WebGPU runs on lavapipe on CPU-only machines; skipped without it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { releaseGPU } from '../runtime/webgpu.ts';
import { testGPU } from './gpu.ts';
import { ReferenceTrainOps } from '../src/backend/reference-train-ops.ts';
import { dropKeep, dropThreshold, type TrainOps } from '../core/train-ops.ts';
import { createWebGpuTrainOps, type WebGpuTrainOps } from '../gpu/train-ops.ts';
import { createWasmTrainOps } from '../src/backend/wasm-train-ops.ts';
import { TILE_CANDIDATES, tileName, type TileConfig } from '../gpu/gemm/tiled.ts';
import { roundToF16 } from '../core/ops.ts';
import { LlamaTrainer } from '../models/llama-train.ts';
import type { LlamaConfig, LlamaModel } from '../models/llama.ts';
import { add, expectClose, oracle, packing, randint, randn, run, worst, type Case } from './train-helpers.ts';

const gpu = await testGPU();
const webgpu: WebGpuTrainOps[] = gpu.ok
  ? [await createWebGpuTrainOps(gpu.gpu, { matmul: 'register' }), await createWebGpuTrainOps(gpu.gpu, { matmul: 'register', subgroups: false }),
    await createWebGpuTrainOps(gpu.gpu, { matmul: 'tiled' })] : [];
// WASM single-threaded, and on a pool of 3 threads (shares split by rows, columns and kv heads; any core count)
const wasm = await createWasmTrainOps(), wasmPool = await createWasmTrainOps({ threads: 3 });
assert.equal(wasmPool.threads, 3, 'the WASM thread pool started');
const backends: TrainOps[] = [new ReferenceTrainOps(), wasm, wasmPool, ...webgpu];
// webgpu-register: lavapipe's subgroup kernels; webgpu-register-nosg: the per-invocation ones (adapters without subgroups, e.g. Deno's)
const label = (o: TrainOps) => (o.name === 'webgpu'
  ? `webgpu-${(o as WebGpuTrainOps).strategy}${(o as WebGpuTrainOps).strategy === 'register' && !(o as WebGpuTrainOps).subgroupSize ? '-nosg' : ''}`
  : o === wasmPool ? 'wasm-3threads' : o.name);
after(() => {
  console.log('worst error per op/backend (|a−e| / (|e| + rms e)):');
  for (const [k, v] of [...worst].sort()) console.log(`  ${k.padEnd(36)} ${v.toExponential(2)}`);
  for (const o of webgpu) o.destroy();
  wasm.destroy();
  wasmPool.destroy();
  releaseGPU();
});
if (!gpu.ok) console.log(`no WebGPU (${gpu.reason}): the reference alone is checked`);

// ---- cases (shapes not multiples of the tiles: register blocks are 32×32 on CPU configs, tiles 32/64) ----
const cases: Case[] = [];
const addCase = <C extends Case>(c: C) => { cases.push(c); return { ...c, i: cases.length - 1 }; };

// [37, 72, 44], [70, 132, 68], [130, 40, 96]: whole vec4s with ragged tiles (CPU adapters' vec4 and subgroup GEMMs)
const linear = [[1, 1, 1], [5, 7, 3], [33, 65, 17], [70, 130, 67], [130, 40, 96], [37, 72, 44], [70, 132, 68]].map(([M, N, K]) =>
  addCase({ op: 'linear', M, N, K, x: randn(M * K), w: randn(N * K), dy: randn(M * N), dw0: randn(N * K) }));
const rms = [[2, 5], [3, 67], [5, 64], [17, 300]].map(([rows, dim], j) =>
  addCase({ op: 'rmsnorm', rows, dim, eps: j % 2 ? 1e-5 : 1e-6, x: randn(rows * dim, 2), w: randn(dim, 0.3, 1), dy: randn(rows * dim), dw0: randn(dim) }));
const ropes = ([[[0, 1, 2, 0, 1, 5, 1000], 3, 16, 10000], [[0, 1, 2, 3, 0, 1], 2, 64, 500000], [[7, 70000], 1, 2, 10000]] as const)
  .map(([p, nHeads, headDim, theta]) => addCase({ op: 'rope', rows: p.length, nHeads, headDim, theta, pos: Int32Array.from(p),
    dy: randn(p.length * nHeads * headDim) }));
// [B, T, nHeads, nKvHeads, headDim, segment lengths per sequence or null]
const attnShapes: [number, number, number, number, number, number[][] | null][] = [
  [1, 5, 2, 2, 16, null],
  [2, 37, 4, 2, 16, [[10, 20, 7], [30, 5]]],
  [2, 70, 2, 1, 8, [[33, 30, 7], [66]]],
  [3, 70, 4, 4, 80, null],
  [1, 20, 6, 3, 12, [[8, 9]]],  // 3 padding rows (segment 0)
  [2, 9, 4, 1, 4, [[4, 5], [3, 3, 3]]],
  [1, 11, 2, 1, 6, [[5, 6]]],  // head dim not a multiple of 4: the CPU adapters' per-row kernels, not the blocked ones
];
const attn = attnShapes.map(([B, T, H, KV, HD, lens]) => {
  const { seg, pos } = lens ? packing(lens, T) : { seg: null, pos: Int32Array.from({ length: B * T }, (_, j) => j % T) };
  return addCase({ op: 'attention', B, T, nHeads: H, nKvHeads: KV, headDim: HD, seg, pos,
    q: randn(B * T * H * HD, 1.5), k: randn(B * T * KV * HD, 1.5), v: randn(B * T * KV * HD), dout: randn(B * T * H * HD) });
});
const swi = [1, 7, 1000, 4099].map((n) => addCase({ op: 'swiglu', n, gate: randn(n, 6), up: randn(n, 2), dout: randn(n) }));
const emb = ([[50, 67, [3, 0, 49, 3, 17, 3]], [37, 130, Array.from(randint(300, 0, 37))], [5, 3, [4]]] as const)
  .map(([vocab, dim, ids]) => addCase({ op: 'embedding', vocab, dim, rows: ids.length, ids: Int32Array.from(ids),
    dout: randn(ids.length * dim), dt0: randn(vocab * dim) }));
// [rows, dim, vocab, chunk]: vocab not a multiple of the chunk, chunk > vocab, chunk 1
const ce = [[7, 16, 97, 32], [33, 67, 300, 64], [5, 8, 10, 100], [4, 12, 50, 7], [3, 5, 6, 1]].map(([rows, dim, vocab, chunk]) => {
  const labels = randint(rows, 0, vocab);
  for (let r = 0; r < rows; r += 3) labels[r] = -100;
  const trained = labels.filter((l) => l >= 0).length;
  return addCase({ op: 'ce', rows, dim, vocab, chunk, labels, scale: 1 / (trained + 5), hidden: randn(rows * dim, 2),
    head: randn(vocab * dim), dhead0: randn(vocab * dim) });
});
const adam = ([[1000, 5, 1e-2, 0.9, 0.95, 1e-8, 0.1], [7, 3, 1e-3, 0.8, 0.999, 1e-6, 0]] as const).map(([n, steps, lr, beta1, beta2, eps, weightDecay]) =>
  addCase({ op: 'adamw', n, lr, beta1, beta2, eps, weightDecay, param: randn(n), grads: Array.from({ length: steps }, () => randn(n, 0.1)) }));
const clip = addCase({ op: 'clip', maxNorm: 5, grads: [randn(5), randn(1000, 0.5), randn(70001, 0.1)] });

// A tiny Llama: head_dim ≠ hidden/heads, GQA group 2; batch of 2 packed sequences with padding, ignored labels.
const cfg = (tie: boolean): LlamaConfig => ({ hiddenSize: 48, intermediateSize: 80, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16,
  vocabSize: 97, maxPositionEmbeddings: 64, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: tie });
function tinyModel(c: LlamaConfig): LlamaModel {
  const D = c.hiddenSize, F = c.intermediateSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;
  return { config: c, weights: {
    embedTokens: randn(c.vocabSize * D), norm: randn(D, 0.1, 1), lmHead: c.tieWordEmbeddings ? undefined : randn(c.vocabSize * D, 0.3),
    layers: Array.from({ length: c.numLayers }, () => ({ inputNorm: randn(D, 0.1, 1), postNorm: randn(D, 0.1, 1),
      q: randn(q * D, 0.3), k: randn(kv * D, 0.3), v: randn(kv * D, 0.3), o: randn(D * q, 0.3),
      gate: randn(F * D, 0.3), up: randn(F * D, 0.3), down: randn(D * F, 0.3) })) } };
}
function tinyBatch(B: number, T: number, lens: number[][] | null, vocab: number) {
  const { seg, pos } = lens ? packing(lens, T) : { seg: null, pos: Int32Array.from({ length: B * T }, (_, j) => j % T) };
  const ids = randint(B * T, 0, vocab), labels = new Int32Array(B * T).fill(-100);
  for (let r = 0; r < B * T; r++) {  // next token of the same segment (the last token of each segment is not trained)
    const same = (r + 1) % T !== 0 && (!seg || (seg[r] !== 0 && seg[r + 1] === seg[r]));
    if (same) labels[r] = ids[r + 1];
  }
  labels[1] = -100;  // a prompt token
  return { ids, labels, positions: pos, segments: seg };
}
const llamaCases = ([[false, 2, 13, [[5, 4, 3], [11]]], [true, 1, 9, null]] as const).map(([tie, B, T, lens]) => {
  const model = tinyModel(cfg(tie)), batch = tinyBatch(B, T, lens as number[][] | null, model.config.vocabSize);
  const weights: Record<string, Float32Array> = { embedTokens: model.weights.embedTokens, norm: model.weights.norm };
  if (model.weights.lmHead) weights.lmHead = model.weights.lmHead;
  model.weights.layers.forEach((l, i) => Object.entries(l).forEach(([k, v]) => (weights[`layers.${i}.${k}`] = v as Float32Array)));
  return { model, batch, ...addCase({ op: 'llama', config: model.config, B, T, weights, ...batch }) };
});

const results = oracle(cases);
const TOL = 1e-4;

// ---- per-op tests ----
test('matmulNN and matmulTNAcc (linear backward: dX = dY·W, dW += dYᵀ·X; beta 0 and 1)', async () => {
  for (const ops of backends) for (const c of linear) {
    const { M, N, K } = c, want = results[c.i], out0 = randn(M * K);
    const r = await run(ops, { dx: out0, dx2: new Float32Array(M * K).fill(NaN), dw: c.dw0, dw2: new Float32Array(N * K).fill(NaN), dy: c.dy, w: c.w, x: c.x },
      (b) => {
        ops.matmulNN(b.dx, b.dy, b.w, M, K, N, 1);
        ops.matmulNN(b.dx2, b.dy, b.w, M, K, N);            // beta 0 ignores the old contents, NaN included
        ops.matmulTNAcc(b.dw, b.dy, b.x, N, K, M, 1);
        ops.matmulTNAcc(b.dw2, b.dy, b.x, N, K, M, 0);
      }, ['dx', 'dx2', 'dw', 'dw2']);
    const key = `matmul ${label(ops)}`, what = `${label(ops)} linear M=${M} N=${N} K=${K}`;
    expectClose(r.dx, add(out0, want.dx), TOL, `${what} dX (beta 1)`, key);
    expectClose(r.dx2, want.dx, TOL, `${what} dX`, key);
    expectClose(r.dw, want.dw, TOL, `${what} dW`, key);
    expectClose(r.dw2, add(want.dw, c.dw0, -1), TOL, `${what} dW (beta 0)`, key);
  }
  // lavapipe (subgroups of 8): the ragged whole-vec4 shapes above ran the subgroup GEMMs, not only the fallbacks; TN only
  // where a weight gradient is wide enough for the lanes (M ≥ 2S, N ≥ 4S: none of these shapes on a GPU's 32 lanes)
  for (const ops of webgpu.filter((o) => o.strategy === 'register' && o.subgroupSize)) {
    const keys = [...(ops as unknown as { kernels: Map<string, unknown> }).kernels.keys()].join(' '), S = ops.subgroupSize;
    const tnWide = linear.some((c) => c.N >= 2 * S && c.K >= 4 * S);
    for (const layout of tnWide ? ['NN', 'TN'] : ['NN']) assert.match(keys, new RegExp(`gemm-sg-${layout}-`), `no subgroup ${layout} GEMM ran`);
  }
});

// The GEMM epilogue: the forward's bias (Qwen2's q/k/v) and alpha (LoRA's scale), against float64 sums and
// PyTorch's dX; on GPU configs both happen in the GEMM's store (one kernel), elsewhere in a pass after it.
test('matmul with a bias, and alpha in matmulNT and matmulNN: beta·out + alpha·product (+ bias)', async () => {
  for (const ops of backends) for (const c of linear) {
    const { M, N, K } = c, bias = randn(N), y0 = randn(M * N), dx0 = randn(M * K), prod = matmulNT64(c.x, c.w, M, N, K);
    const r = await run(ops, { y: new Float32Array(M * N).fill(NaN), yA: y0, dx: dx0, x: c.x, w: c.w, bias, dy: c.dy }, (b) => {
      ops.matmul(b.y, b.x, b.w, M, N, K, b.bias);
      ops.matmulNT(b.yA, b.x, b.w, M, N, K, 1, null, 0.75);
      ops.matmulNN(b.dx, b.dy, b.w, M, K, N, 0.5, null, 2);
    }, ['y', 'yA', 'dx']);
    const key = `epilogue ${label(ops)}`, what = `${label(ops)} M=${M} N=${N} K=${K}`;
    expectClose(r.y, prod.map((v, j) => v + bias[j % N]), TOL, `${what} x·Wᵀ + b`, key);
    expectClose(r.yA, prod.map((v, j) => y0[j] + 0.75 * v), TOL, `${what} y0 + 0.75·x·Wᵀ`, key);
    expectClose(r.dx, Float64Array.from(results[c.i].dx, (v, j) => 0.5 * dx0[j] + 2 * v), TOL, `${what} 0.5·dx0 + 2·dY·W`, key);
  }
  for (const ops of webgpu) {  // the tiled (GPU) and matvec GEMMs add the bias in their store; CPU adapters' others in a pass after
    const keys = kernelKeys(ops);
    assert.match(keys, /gemm-matvec-\S*-bias/);
    if (ops.strategy === 'tiled') assert.match(keys, /gemm-tiled-NT-\S*-bias/);
    else assert.match(keys, /(^| )bias\{/);
  }
});

// LoRA's dropout, drawn on the fly: the masked GEMMs equal the plain ones on a mask the test applies itself with
// dropKeep (so the WGSL hash is checked against the TypeScript one). Shapes: LoRA's (rank 8; whole vec4s, the
// subgroup/vec4 kernels' on-the-fly masks) and ragged ones (the materializing fallbacks on CPU adapters; the tiled
// GEMMs draw every mask on the fly); beta 1 adds in.
const dropP = 0.3, dropSalt = 0x9e3779b9 | 0;
const maskOf = (n: number) => Float32Array.from({ length: n }, (_, j) => +dropKeep(dropSalt >>> 0, j, dropThreshold(dropP)));
const mul = (x: Float32Array, m: Float32Array) => x.map((v, j) => v * m[j]);
const dropCases = [[70, 8, 64], [37, 8, 36], [33, 5, 17]].map(([rows, r, K]) => ({ rows, r, K, x: randn(rows * K), A: randn(r * K), du: randn(rows * r),
  u0: randn(rows * r), dA0: randn(r * K), dx0: randn(rows * K) }));
let dropWants: Record<string, Float32Array>[] | null = null;
async function checkDropout(ops: TrainOps) {
  if (!dropWants) {  // expected, from the reference's unmasked products of the masked tensors
    const ref = new ReferenceTrainOps();
    dropWants = [];
    for (const { rows, r, K, x, A, du, u0, dA0, dx0 } of dropCases) {
      const want = await run(ref, { u: u0, dA: dA0, dx: new Float32Array(rows * K), x: mul(x, maskOf(rows * K)), A, du }, (b) => {
        ref.matmulNT(b.u, b.x, b.A, rows, r, K, 1);
        ref.matmulTNAcc(b.dA, b.du, b.x, r, K, rows, 1);
        ref.matmulNN(b.dx, b.du, b.A, rows, K, r);
      }, ['u', 'dA', 'dx']);
      want.dx1 = Float32Array.from(add(dx0, mul(want.dx, maskOf(rows * K)), 2));
      want.u = Float32Array.from(want.u, (v, j) => u0[j] + 0.75 * (v - u0[j]));  // LoRA's scale (alpha) after the mask
      dropWants.push(want);
    }
  }
  for (const [i, { rows, r, K, x, A, du, u0, dA0, dx0 }] of dropCases.entries()) {
    const got = await run(ops, { u: u0, dA: dA0, dx1: dx0, x, A, du, salts: Int32Array.from([7, dropSalt]) }, (b) => {
      const mask = { salts: b.salts, index: 1, threshold: dropThreshold(dropP) };
      ops.matmulNT(b.u, b.x, b.A, rows, r, K, 1, mask, 0.75);
      ops.matmulTNAcc(b.dA, b.du, b.x, r, K, rows, 1, mask);
      ops.matmulNN(b.dx1, b.du, b.A, rows, K, r, 1, mask, 2);
    }, ['u', 'dA', 'dx1']);
    for (const k of ['u', 'dA', 'dx1']) expectClose(got[k], dropWants[i][k], TOL, `${label(ops)} dropout ${rows}×${r}×${K} ${k}`, `dropout ${label(ops)}`);
  }
}
const kernelKeys = (ops: WebGpuTrainOps) => [...(ops as unknown as { kernels: Map<string, unknown> }).kernels.keys()].join(' ');

test('dropout masks: matmulNT (input), matmulTNAcc (B operand) and matmulNN (product) equal masking by dropKeep', async () => {
  const kept = maskOf(100000).reduce((s, v) => s + v, 0) / 100000;
  assert.ok(Math.abs(kept - (1 - dropP)) < 0.01, `dropKeep keeps ${kept} of the elements, not ${1 - dropP}`);
  for (const ops of backends) await checkDropout(ops);
  // lavapipe: LoRA's shapes drew the mask inside the GEMMs, the ragged ones through train-dropout; the tiled GEMMs
  // drew all three masks themselves
  for (const ops of webgpu) {
    const keys = kernelKeys(ops);
    if (ops.strategy === 'register') assert.match(keys, /train-dropout/);
    if (ops.strategy === 'register' && ops.subgroupSize) assert.match(keys, /gemm-sg-NT-\S*m\b.*/);
    if (ops.strategy === 'tiled') for (const l of ['NT', 'TN', 'NN']) assert.match(keys, new RegExp(`gemm-tiled-${l}-\\S*-m\\b`));
  }
});

// Every tiled config the GPU check times (gemm/tiled.ts TILE_CANDIDATES) and the generator's other branches (TM not
// a multiple of 4: single rows; no prefetch; no padding, BK not a power of two), each against PyTorch (float64) or,
// for the forward layout and f16 weights, float64 sums here: the linear layer's three GEMMs with beta 0 and 1 on
// ragged shapes; the same with the weight split into pieces (maxBindingBytes: A offsets, lda ≠ K); the fused
// cross-entropy (B and output offsets, ldo ≠ N); the dropout masks; an f16 b (Ops.upload's half).
const TILE_VARIANTS: TileConfig[] = [...TILE_CANDIDATES, { BM: 32, BN: 16, BK: 8, TM: 2, TN: 4 },
  { ...TILE_CANDIDATES[0], prefetch: false }, { BM: 64, BN: 32, BK: 12, TM: 4, TN: 8, pad: false }];
/** out[m·N + n] = Σ_k x[m·K + k]·w[n·K + k] in float64 */
const matmulNT64 = (x: ArrayLike<number>, w: ArrayLike<number>, M: number, N: number, K: number) => Float64Array.from({ length: M * N }, (_, j) => {
  const m = Math.floor(j / N), n = j % N;
  let s = 0;
  for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
  return s;
});
// The per-adapter tile choice (gpu/gemm/autotune.ts, WebGpuOps.tuneGemm): on a GPU config, each candidate is
// timed and the fastest kept per layout; later GEMMs of that layout run its kernel and still compute the product.
// Two candidates and small shapes keep lavapipe's compile time down; which one wins there does not matter.
test('tuneGemm: the tile per layout chosen by timing the candidates on this device; nothing to tune on CPU configs', { skip: gpu.ok ? false : 'no WebGPU' }, async () => {
  if (!gpu.ok) return;
  const cands: TileConfig[] = [{ BM: 32, BN: 32, BK: 8, TM: 4, TN: 4 }, { BM: 32, BN: 16, BK: 8, TM: 2, TN: 4 }, { BM: 64, BN: 64, BK: 128, TM: 4, TN: 4 }];
  const ops = await createWebGpuTrainOps(gpu.gpu, { matmul: 'tiled' });
  const shapes = [{ layout: 'NT' as const, M: 64, N: 48, K: 40 }, { layout: 'TN' as const, M: 48, N: 40, K: 64 }];
  const { outcomes, lines } = await ops.tuneGemm(shapes, cands);
  assert.equal(lines.length, 2, lines.join('\n'));
  for (const [i, o] of outcomes.entries()) {
    assert.equal(o.timed.length, 2);
    assert.match(o.skipped[0].why, /needs 65536 bytes of workgroup storage, over this device's/);  // a candidate that does not fit
    assert.ok(o.tflops > 0 && o.tflops === Math.max(...o.timed.map((t) => t.tflops)));
    assert.equal(ops.tileByLayout[shapes[i].layout], o.best);
    assert.match(lines[i], new RegExp(`^${shapes[i].layout} \\S+: ${tileName(o.best).replace(/[/]/g, '\\/')} `));
  }
  const [M, N, K] = [37, 29, 23], x = randn(M * K), w = randn(N * K);
  const r = await run(ops, { y: new Float32Array(M * N), x, w }, (b) => ops.matmulNT(b.y, b.x, b.w, M, N, K), ['y']);
  expectClose(r.y, matmulNT64(x, w, M, N, K), TOL, 'tuned NT', 'tuned GEMM');
  assert.ok(kernelKeys(ops).includes(`gemm-tiled-NT-${tileName(outcomes[0].best)}{}`));
  ops.destroy();
  const cpu = webgpu.find((o) => o.strategy === 'register')!;
  assert.deepEqual(await cpu.tuneGemm(shapes, cands), { outcomes: [], lines: [] });
});

test('tiled GEMM: every candidate config, every layout, beta 0/1, offsets, dropout masks, f16 b', { skip: gpu.ok ? false : 'no WebGPU' }, async (t) => {
  if (!gpu.ok) return;
  const ragged = linear.filter((c) => c.M > 1), chunked = ce;
  for (const tiled of TILE_VARIANTS) {
    const name = tileName(tiled), t0 = performance.now();
    for (const maxBindingBytes of [undefined, 2048]) {
      const ops = await createWebGpuTrainOps(gpu.gpu, { matmul: 'tiled', config: { tiled }, maxBindingBytes });
      const what = `tiled ${name}${maxBindingBytes ? ' split' : ''}`;
      for (const c of maxBindingBytes ? [linear[3]] : ragged) {
        const { M, N, K } = c, want = results[c.i], y0 = randn(M * N), ny = matmulNT64(c.x, c.w, M, N, K);
        const r = await run(ops, { dx: new Float32Array(M * K).fill(0.5), dx2: new Float32Array(M * K).fill(NaN), dy: c.dy, x: c.x, y: y0, y2: new Float32Array(M * N).fill(NaN) },
          (b) => {
            // weights and their gradients split into pieces where over maxBindingBytes (the NT GEMM's b is never a weight)
            const w = ops.upload(c.w, K), dw = ops.upload(c.dw0, K), dw2 = ops.upload(new Float32Array(N * K).fill(NaN), K), wNT = ops.upload(c.w);
            ops.matmulNN(b.dx, b.dy, w, M, K, N, 1);
            ops.matmulNN(b.dx2, b.dy, w, M, K, N);
            ops.matmulTNAcc(dw, b.dy, b.x, N, K, M, 1);
            ops.matmulTNAcc(dw2, b.dy, b.x, N, K, M, 0);
            ops.matmulNT(b.y, b.x, wNT, M, N, K, 1);
            ops.matmul(b.y2, b.x, w, M, N, K);
            Object.assign(b, { w, dw, dw2, wNT });
          }, ['dx', 'dx2', 'dw', 'dw2', 'y', 'y2']);
        const shape = `${what} linear M=${M} N=${N} K=${K}`, key = `tiled GEMM ${name}`;
        expectClose(r.dx, add(new Float32Array(M * K).fill(0.5), want.dx), TOL, `${shape} dX (NN, beta 1)`, key);
        expectClose(r.dx2, want.dx, TOL, `${shape} dX (NN)`, key);
        expectClose(r.dw, want.dw, TOL, `${shape} dW (TN, beta 1)`, key);
        expectClose(r.dw2, add(want.dw, c.dw0, -1), TOL, `${shape} dW (TN, beta 0)`, key);
        expectClose(r.y, add(y0, ny), TOL, `${shape} y (NT, beta 1)`, key);
        expectClose(r.y2, ny, TOL, `${shape} y (forward matmul)`, key);
      }
      for (const c of maxBindingBytes ? [] : chunked) {
        const r = await run(ops, { loss: new Float32Array(c.rows).fill(NaN), dh: new Float32Array(c.rows * c.dim).fill(NaN), hidden: c.hidden, labels: c.labels },
          (b) => {
            const head = ops.upload(c.head, c.dim), dw = ops.upload(c.dhead0, c.dim);
            ops.crossEntropyFused({ lossOut: b.loss, dhidden: b.dh, dheadAcc: dw, hidden: b.hidden, head, labels: b.labels }, c);
            Object.assign(b, { head, dw });
          }, ['loss', 'dh', 'dw']);
        const shape = `${what} cross-entropy rows=${c.rows} dim=${c.dim} vocab=${c.vocab} chunk=${c.chunk}`, key = `tiled GEMM ${name}`;
        expectClose(r.loss, results[c.i].loss, TOL, `${shape} loss`, key);
        expectClose(r.dh, results[c.i].dhidden, TOL, `${shape} dhidden`, key);
        expectClose(r.dw, results[c.i].dhead, TOL, `${shape} dhead`, key);
      }
      if (!maxBindingBytes) {
        await checkDropout(ops);
        {  // a frozen f16 base: y = x·Wᵀ (forward and NT) and dX = dY·W read W as f16
          const [M, N, K] = [37, 71, 45], x = randn(M * K), w = randn(N * K), dy = randn(M * N), w16 = roundToF16(w);
          const r = await run(ops, { x, dy, y: new Float32Array(M * N), y2: new Float32Array(M * N), dx: new Float32Array(M * K) }, (b) => {
            const wh = ops.upload(w, K, 'f16');
            ops.matmul(b.y, b.x, wh, M, N, K);
            ops.matmulNT(b.y2, b.x, wh, M, N, K);
            ops.matmulNN(b.dx, b.dy, wh, M, K, N);
            Object.assign(b, { wh });
          }, ['y', 'y2', 'dx']);
          const wT = Float32Array.from({ length: K * N }, (_, j) => w16[(j % N) * K + Math.floor(j / N)]);  // [K, N] → rows of W per k
          const key = `tiled GEMM ${name}`;
          expectClose(r.y, matmulNT64(x, w16, M, N, K), TOL, `${what} f16 w forward`, key);
          expectClose(r.y2, matmulNT64(x, w16, M, N, K), TOL, `${what} f16 w NT`, key);
          expectClose(r.dx, matmulNT64(dy, wT, M, K, N), TOL, `${what} f16 w dX (NN)`, key);
        }
        const keys = kernelKeys(ops);  // the generated kernels of this config ran, not a fallback
        for (const l of ['NT', 'NN', 'TN']) for (const v of ['', '-m', ...(l !== 'TN' ? ['-f16'] : [])]) {
          assert.ok(keys.includes(`gemm-tiled-${l}-${name}${v}{}`), `${what}: no gemm-tiled-${l}-${name}${v} kernel ran (${keys})`);
        }
      }
      ops.destroy();
    }
    t.diagnostic(`tiled ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
});

test('rmsnormBackward (dw accumulates)', async () => {
  for (const ops of backends) for (const c of rms) {
    const r = await run(ops, { dx: new Float32Array(c.rows * c.dim), dw: c.dw0, dy: c.dy, x: c.x, w: c.w },
      (b) => ops.rmsnormBackward(b.dx, b.dw, b.dy, b.x, b.w, c.rows, c.dim, c.eps), ['dx', 'dw']);
    for (const k of ['dx', 'dw']) expectClose(r[k], results[c.i][k], TOL, `${label(ops)} rmsnorm ${c.rows}×${c.dim} ${k}`, `rmsnorm ${label(ops)}`);
  }
});

test('ropeBackward (restarting and large positions)', async () => {
  for (const ops of backends) for (const c of ropes) {
    const r = await run(ops, { dx: c.dy, pos: c.pos }, (b) => ops.ropeBackward(b.dx, b.pos, c.rows, c.nHeads, c.headDim, c.theta), ['dx']);
    expectClose(r.dx, results[c.i].dx, TOL, `${label(ops)} rope pos=${c.pos} headDim=${c.headDim}`, `rope ${label(ops)}`);
  }
});

test('attentionTrain and attentionBackward: GQA groups 1/2/4, packing, padding, B > 1, head dims > workgroup', async () => {
  // GPU configs run the flash kernels: 64 rows per workgroup, and 16 here (more blocks, blocks ending mid-tile)
  const flash16 = gpu.ok ? [await createWebGpuTrainOps(gpu.gpu, { matmul: 'tiled', config: { attentionWG: 16 } })] : [];
  const label16 = (o: TrainOps) => (flash16.includes(o as WebGpuTrainOps) ? 'webgpu-flash16' : label(o));
  for (const ops of [...backends, ...flash16]) for (const c of attn) for (const withPos of [true, false]) {
    const { B, T, nHeads: H, nKvHeads: KV, headDim: HD } = c, rows = B * T;
    const inputs = { out: new Float32Array(rows * H * HD), lse: new Float32Array(rows * H), q: c.q, k: c.k, v: c.v, dout: c.dout,
      dq: new Float32Array(rows * H * HD), dk: new Float32Array(rows * KV * HD).fill(NaN), dv: new Float32Array(rows * KV * HD),
      pos: c.pos, ...(c.seg ? { seg: c.seg } : {}) };
    const r = await run(ops, inputs, (b) => {
      const pos = withPos ? b.pos : null, seg = b.seg ?? null;
      const shape = { B, T, nHeads: H, nKvHeads: KV, headDim: HD, pos, seg };
      ops.attentionTrain({ out: b.out, lse: b.lse, q: b.q, k: b.k, v: b.v }, shape);
      ops.attentionBackward({ dq: b.dq, dk: b.dk, dv: b.dv, dout: b.dout, q: b.q, k: b.k, v: b.v, out: b.out, lse: b.lse }, shape);
    }, ['out', 'lse', 'dq', 'dk', 'dv']);
    for (const k of ['out', 'lse', 'dq', 'dk', 'dv']) {
      expectClose(r[k], results[c.i][k], TOL, `${label16(ops)} attention B=${B} T=${T} heads=${H}/${KV} hd=${HD} seg=${!!c.seg} pos=${withPos} ${k}`,
        `attention ${k} ${label16(ops)}`);
    }
  }
  // lavapipe (subgroups of 8): whole-vec4 heads ran the subgroup kernels, forward and backward, packed or not
  for (const ops of webgpu.filter((o) => o.strategy === 'register' && o.subgroupSize)) {
    const keys = [...(ops as unknown as { kernels: Map<string, unknown> }).kernels.keys()].join(' ');
    for (const k of ['sg-0', 'sg-1', 'sg-dq-0', 'sg-dq-1', 'sg-dkv-0', 'sg-dkv-1']) assert.match(keys, new RegExp(`train-attention-${k}-`));
  }
  for (const ops of webgpu.filter((o) => o.strategy === 'register' && !o.subgroupSize)) {  // and without them, the blocked ones
    const keys = [...(ops as unknown as { kernels: Map<string, unknown> }).kernels.keys()].join(' ');
    for (const k of ['block-1', 'block-dq-1', 'block-dkv-1']) assert.match(keys, new RegExp(`train-attention-${k}`));
  }
  for (const ops of [...webgpu.filter((o) => o.strategy === 'tiled'), ...flash16]) {  // the flash kernels, vec4 and scalar heads
    const keys = [...(ops as unknown as { kernels: Map<string, unknown> }).kernels.keys()].join(' ');
    for (const k of ['flash-0-16', 'flash-1-8', 'flash-1-6', 'flash-dq-0-80', 'flash-dq-1-6', 'flash-dkv-0-16', 'flash-dkv-1-4']) {
      assert.match(keys, new RegExp(`train-attention-${k}s`));
    }
    assert.doesNotMatch(keys, /train-attention-wg/);
  }
  for (const o of flash16) o.destroy();
});

test('swigluBackward', async () => {
  for (const ops of backends) for (const c of swi) {
    const r = await run(ops, { dgate: new Float32Array(c.n), dup: new Float32Array(c.n), dout: c.dout, gate: c.gate, up: c.up },
      (b) => ops.swigluBackward(b.dgate, b.dup, b.dout, b.gate, b.up, c.n), ['dgate', 'dup']);
    for (const k of ['dgate', 'dup']) expectClose(r[k], results[c.i][k], TOL, `${label(ops)} swiglu n=${c.n} ${k}`, `swiglu ${label(ops)}`);
  }
});

test('embeddingBackward: repeated ids accumulate, ids outside the table are skipped', async () => {
  for (const ops of backends) {
    for (const c of emb) {
      const r = await run(ops, { dt: c.dt0, dout: c.dout, ids: c.ids }, (b) => ops.embeddingBackward(b.dt, b.dout, b.ids, c.rows, c.dim), ['dt']);
      expectClose(r.dt, results[c.i].dtable, TOL, `${label(ops)} embedding vocab=${c.vocab} rows=${c.rows}`, `embedding ${label(ops)}`);
    }
    const c = emb[0], ids = Int32Array.from([...c.ids, -1, c.vocab, -100]), dout = new Float32Array(ids.length * c.dim).fill(7);
    dout.set(c.dout);
    const r = await run(ops, { dt: c.dt0, dout, ids }, (b) => ops.embeddingBackward(b.dt, b.dout, b.ids, ids.length, c.dim), ['dt']);
    expectClose(r.dt, results[c.i].dtable, TOL, `${label(ops)} embedding with out-of-range ids`, `embedding ${label(ops)}`);
  }
});

test('crossEntropyFused: chunked vocabulary, ignored labels, dhead accumulates', async () => {
  for (const ops of backends) for (const c of ce) {
    const r = await run(ops, { loss: new Float32Array(c.rows).fill(NaN), dh: new Float32Array(c.rows * c.dim).fill(NaN), dw: c.dhead0,
      hidden: c.hidden, head: c.head, labels: c.labels },
    (b) => ops.crossEntropyFused({ lossOut: b.loss, dhidden: b.dh, dheadAcc: b.dw, hidden: b.hidden, head: b.head, labels: b.labels }, c), ['loss', 'dh', 'dw']);
    const what = `${label(ops)} cross-entropy rows=${c.rows} dim=${c.dim} vocab=${c.vocab} chunk=${c.chunk}`;
    expectClose(r.loss, results[c.i].loss, TOL, `${what} loss`, `ce loss ${label(ops)}`);
    expectClose(r.dh, results[c.i].dhidden, TOL, `${what} dhidden`, `ce dhidden ${label(ops)}`);
    expectClose(r.dw, results[c.i].dhead, TOL, `${what} dhead`, `ce dhead ${label(ops)}`);
  }
});

test('adamw: several steps match torch.optim.AdamW', async () => {
  for (const ops of backends) for (const c of adam) {
    const bufs = { p: ops.upload(c.param), g: ops.alloc(c.n), m: ops.alloc(c.n), v: ops.alloc(c.n) };
    for (let s = 0; s < c.grads.length; s++) {
      ops.write(bufs.g, c.grads[s]);
      ops.adamw(bufs.p, bufs.g, bufs.m, bufs.v, c.n, s + 1, c.lr, c.beta1, c.beta2, c.eps, c.weightDecay);
      const want = results[c.i].params.slice(s * c.n, (s + 1) * c.n);
      expectClose(await ops.read(bufs.p), want, 2e-6, `${label(ops)} adamw n=${c.n} step ${s + 1}`, `adamw ${label(ops)}`);
    }
    Object.values(bufs).forEach((b) => ops.free(b));
  }
});

test('global-norm clipping (sumSquares + scale) matches clip_grad_norm_; sgd', async () => {
  for (const ops of backends) {
    const want = results[clip.i], gs = clip.grads.map((g) => ops.upload(g)), acc = ops.alloc(1);
    for (const [j, g] of gs.entries()) ops.sumSquares(acc, g, clip.grads[j].length);
    const norm = Math.sqrt((await ops.read(acc))[0]);
    expectClose([norm], want.norm, TOL, `${label(ops)} global norm`, `clip ${label(ops)}`);
    const coef = clip.maxNorm / (norm + 1e-6);
    assert.ok(coef < 1);
    for (const [j, g] of gs.entries()) ops.scale(g, coef, clip.grads[j].length);
    const got = (await Promise.all(gs.map((g) => ops.read(g)))).flatMap((a) => Array.from(a));
    expectClose(got, want.grads, TOL, `${label(ops)} clipped gradients`, `clip ${label(ops)}`);
    const p = ops.upload(clip.grads[1]);
    ops.sgd(p, gs[1], 1000, 0.5);
    expectClose(await ops.read(p), add(clip.grads[1], want.grads.slice(5, 1005), -0.5), 1e-6, `${label(ops)} sgd`, `sgd ${label(ops)}`);
    [...gs, acc, p].forEach((b) => ops.free(b));
  }
});

// ---- end to end ----
test('tiny 2-layer Llama: loss and every parameter gradient match PyTorch (packed, tied and untied)', async (t) => {
  for (const c of llamaCases) {
    const want = results[c.i];
    for (const ops of backends) {
      const trainer = new LlamaTrainer(ops, c.model, { B: c.B, T: c.T, ceChunk: 40 });
      const trained = c.batch.labels.filter((l) => l >= 0).length;
      const loss = await trainer.forwardBackward(c.batch, 1 / trained);
      const what = `${label(ops)} llama tie=${c.model.config.tieWordEmbeddings}`;
      expectClose([loss], want.loss, 1e-5, `${what} loss`, `llama loss ${label(ops)}`);
      for (const [name, grad] of await trainer.read('grad')) expectClose(grad, want[name], TOL, `${what} d${name}`, `llama grads ${label(ops)}`);
      if (ops.name === 'webgpu' && c === llamaCases[0]) {  // time full steps (forward + backward + clip + AdamW) once warm
        await trainer.step({ lr: 1e-3, maxGradNorm: 1 });
        const t0 = performance.now(), n = 3;
        for (let s = 0; s < n; s++) {
          trainer.zeroGrad();
          await trainer.forwardBackward(c.batch, 1 / trained);
          await trainer.step({ lr: 1e-3, weightDecay: 0.01, maxGradNorm: 1 });
        }
        t.diagnostic(`${label(ops)} training step (B=${c.B}, T=${c.T}, 2 layers, d=48, vocab 97): ${((performance.now() - t0) / n).toFixed(1)} ms`);
        // Steady state: once the pool of step-scalar buffers has cycled, a step creates no new GPU objects; and with
        // the norm read back beside the loss, a step is one submit of work (zeroing, forward, backward, norm, and the
        // previous update) plus the second read-back's copy: step() itself never waits on the device.
        const gpuOps = ops as WebGpuTrainOps, step = async () => {
          trainer.zeroGrad();
          await trainer.forwardBackward(c.batch, 1 / trained, { norm: true });
          await trainer.step({ lr: 1e-3, weightDecay: 0.01, maxGradNorm: 0.01 });
        };
        for (let s = 0; s < 10; s++) await step();
        const { submits, ...before } = gpuOps.stats();
        for (let s = 0; s < 3; s++) await step();
        const { submits: after, ...now } = gpuOps.stats();
        assert.deepEqual(now, before);
        assert.equal(after - submits, 3 * 2, 'submits per step');
      }
    }
  }
});

test('WebGPU: outputs that alias another argument fail clearly', { skip: gpu.ok ? false : 'no WebGPU' }, () => {
  const ops = webgpu[0], a = ops.alloc(64), b = ops.alloc(64), w = ops.alloc(8);
  assert.throws(() => ops.rmsnormBackward(a, w, a, b, w, 8, 8, 1e-5), /output buffer is also another argument/);
  assert.throws(() => ops.swigluBackward(a, b, b, a, a, 64), /output buffer is also another argument/);
  assert.throws(() => ops.matmulNN(a, a, b, 8, 8, 8), /cannot write into one of its inputs/);
  assert.throws(() => ops.attentionTrain({ out: a, lse: w, q: b, k: b, v: b }, { B: 1, T: 4, nHeads: 2, nKvHeads: 3, headDim: 8, pos: null, seg: null }), /divisible/);
  [a, b, w].forEach((x) => ops.free(x));
});
