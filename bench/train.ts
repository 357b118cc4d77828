// Training throughput (tokens/s) and peak memory of webtune's SFT trainer (models/llama-train.ts on WebGPU and on
// WASM SIMD, --devices) next to
// PyTorch on the CPU (bench/train_torch.py, spawned once per configuration so that its max RSS is that
// configuration's), for LoRA and full training on stories260K and on a ~42M-parameter Llama. Same architecture,
// batch shape and token ids (a fixed hash of the position, shared with the Python side); weights: stories260K's own
// here, random in PyTorch (they do not change the work). Not a test. Bundled and run by scripts/bench.sh:
//   node build/bench/train.mjs [--models stories260K,llama-42M] [--devices webgpu,wasm] [--threads N (WASM; default: physical cores)] [--steps N] [--warmup N] [--B 8] [--T 256] [--no-torch]
//                              [--gradient_checkpointing] [--train_types lora,full] [--profile] [--torch_blas default,openblas]
//                              [--torch_dtype float32|float16|bfloat16 (webtune's mixed precision: 16-bit weight copies, f32 masters)]
// --torch_blas: the BLAS builds PyTorch runs with, one peer row each: `default` is whatever libblas.so.3 the system
// selects (Debian: the reference BLAS, ~3 GFLOP/s), `openblas` Debian's OpenBLAS unpacked by scripts/fetch-openblas.sh
// (~100 GFLOP/s here) through LD_LIBRARY_PATH; every row names the library torch loaded.
// --profile prints, for the last timed step, each kernel's device time (timestamp queries, one pass per dispatch)
// and the dispatches, submits and read-backs per step; its timing row is then perturbed, not a figure to quote.
// webtune memory: bytes of the GPU buffers it allocated (weights, gradients, optimizer state, activations, scratch);
// PyTorch memory: the process's max RSS (includes the interpreter and torch itself, ~0.2–0.3 GB).
import '../runtime/wasm-embedded.ts';
import { spawnSync } from 'node:child_process';
import { acquireGPU, releaseGPU } from '../runtime/webgpu.ts';
import { createWebGpuTrainOps } from '../gpu/train-ops.ts';
import { createWasmTrainOps } from '../src/backend/wasm-train-ops.ts';
import { defaultThreads } from '../src/backend/wasm-pool.ts';
import { LlamaTrainer, type TrainBatch } from '../models/llama-train.ts';
import type { LlamaConfig, LlamaModel } from '../models/llama.ts';
import { loadModel } from '../models/load.ts';
import { TARGET_MODULES, type LoraConfig } from '../models/lora.ts';
import { tinyRandomWeights } from '../models/tiny-random.ts';
import { argv, exit } from '../runtime/platform.ts';
import { TORCH_DTYPES, halfOf, type TorchDtype } from '../src/backend/dtype.ts';
import type { TrainOps } from '../core/train-ops.ts';
import { profiler } from './profile.ts';

const args = argv();
const flag = (name: string, fallback: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const B = Number(flag('B', '8')), T = Number(flag('T', '256'));
const only = flag('models', 'stories260K,llama-42M').split(',');
const withTorch = !args.includes('--no-torch'), checkpointing = args.includes('--gradient_checkpointing');
const profile = args.includes('--profile');
const types = flag('train_types', 'lora,full').split(',');
const blasBuilds = flag('torch_blas', 'default').split(',');
const devices = flag('devices', 'webgpu,wasm').split(',');
const threads = Number(flag('threads', String(await defaultThreads())));
const torchDtype = flag('torch_dtype', 'float32') as TorchDtype;
if (!TORCH_DTYPES.includes(torchDtype)) throw new Error(`--torch_dtype ${torchDtype}: expected ${TORCH_DTYPES.join(', ')}`);
const half = halfOf(torchDtype);

// ~11M: the 42M's vocabulary at half the width and depth (a size lavapipe trains in seconds per step)
const llama11M: LlamaConfig = { hiddenSize: 256, intermediateSize: 688, numLayers: 4, numHeads: 4, numKvHeads: 4, headDim: 64, vocabSize: 32000,
  maxPositionEmbeddings: 1024, rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true };
const llama42M: LlamaConfig = { hiddenSize: 512, intermediateSize: 1376, numLayers: 8, numHeads: 8, numKvHeads: 8, headDim: 64, vocabSize: 32000,
  maxPositionEmbeddings: 1024, rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true };
const paramCount = (m: LlamaModel) => [m.weights.embedTokens, m.weights.norm, m.weights.lmHead ?? new Float32Array(0),
  ...m.weights.layers.flatMap((l) => Object.values(l).filter(Boolean) as Float32Array[])].reduce((n, a) => n + a.length, 0);
// the same defaults as `webtune sft` / ms-swift: rank 8, alpha 32, dropout 0.05, all linear layers
const LORA: LoraConfig = { rank: 8, alpha: 32, dropout: 0.05, targets: [...TARGET_MODULES], seed: 42 };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Token ids of micro-batch `step`: id = ((step·B·T + i + 1) · 2654435761 mod 2³²) mod vocab (bench/train_torch.py computes the same). */
function batchAt(step: number, vocab: number): TrainBatch {
  const rows = B * T, ids = new Int32Array(rows), labels = new Int32Array(rows), positions = new Int32Array(rows);
  for (let i = 0; i < rows; i++) ids[i] = (((step * rows + i + 1) * 2654435761) % 2 ** 32) % vocab;
  for (let i = 0; i < rows; i++) { positions[i] = i % T; labels[i] = (i + 1) % T ? ids[i + 1] : -100; }
  return { ids, labels, positions };
}

/** Counts the bytes of every buffer the backend creates (none is freed before ops.destroy()). */
function countBytes(ops: TrainOps): { bytes: number } {
  const c = { bytes: 0 }, alloc = ops.alloc.bind(ops), upload = ops.upload.bind(ops);
  ops.alloc = (n, dtype, row) => { c.bytes += 4 * n; return alloc(n, dtype, row); };
  ops.upload = (data, row, half) => { c.bytes += (half ? 2 : 4) * data.length; return upload(data, row, half); };
  return c;
}

const gpu = await acquireGPU();
if (!gpu.ok && devices.includes('webgpu')) { console.log(`no WebGPU: ${gpu.reason}`); await exit(1); }
const backends: Record<string, () => Promise<{ ops: TrainOps; device: string }>> = {
  webgpu: async () => {
    if (!gpu.ok) throw new Error('unreachable');
    return { ops: await createWebGpuTrainOps(gpu.gpu), device: gpu.gpu.description };
  },
  wasm: async () => { const ops = await createWasmTrainOps({ threads }); return { ops, device: `wasm: ${ops.caps.device}` }; },
};

const models: [string, () => Promise<LlamaModel>, number, number][] = [  // name, model, warm-up steps, timed steps
  ['stories260K', async () => (await loadModel('../shared/models/stories260K')).model, 2, 5],
  ['llama-11M', async () => tinyRandomWeights(llama11M, 1), 1, 2],
  // one untimed-warm-up-free step: on lavapipe (~3 GFLOP/s) one 8×256 step of it takes minutes
  ['llama-42M', async () => tinyRandomWeights(llama42M, 1), 0, 1],
];
for (const [name, make, warm0, timed0] of models) {
  if (!only.includes(name)) continue;
  const model = await make(), c = model.config, warm = Number(flag('warmup', String(warm0))), timed = Number(flag('steps', String(timed0)));
  for (const trainType of types as ('lora' | 'full')[]) for (const backend of devices) {
    const { ops, device } = await backends[backend](), mem = countBytes(ops);
    const prof = profile && gpu.ok && backend === 'webgpu' ? profiler(ops, gpu.gpu.device) : null;
    const lora = trainType === 'lora' ? LORA : undefined;
    const trainer = new LlamaTrainer(ops, model, { B, T, lora, gradientCheckpointing: checkpointing, half });
    const secs: number[] = [];
    let loss = 0;
    for (let s = 0; s < warm + timed; s++) {
      const batch = batchAt(s, c.vocabSize), trained = batch.labels.filter((l) => l >= 0).length, t0 = performance.now();
      if (prof && s === warm + timed - 1) prof.start();
      trainer.zeroGrad();
      loss = await trainer.forwardBackward(batch, 1 / trained, { norm: true });
      await trainer.step({ lr: 1e-4, weightDecay: 0.1, maxGradNorm: 1 });
      if (s >= warm) secs.push((performance.now() - t0) / 1000);
      if (prof && s === warm + timed - 1) { console.log(`${name} ${trainType}:`); await prof.report(performance.now() - t0); }
    }
    const ours = (B * T) / median(secs), ourBytes = mem.bytes;
    ops.destroy();
    const row: Record<string, unknown> = { bench: 'train', model: name, params: paramCount(model), train_type: trainType, batch: `${B}x${T}`,
      gradient_checkpointing: checkpointing, torch_dtype: torchDtype, steps: timed, device, webtune_tokens_per_s: +ours.toFixed(1), webtune_peak_bytes: ourBytes,
      webtune_loss: +loss.toFixed(4) };
    if (withTorch && backend === devices[devices.length - 1]) {  // one PyTorch run per configuration
      for (const blas of blasBuilds) {
        const env = { ...process.env };
        if (blas === 'openblas') {
          const lib = spawnSync('bash', ['scripts/fetch-openblas.sh'], { encoding: 'utf8' });
          if (lib.status !== 0) throw new Error(`scripts/fetch-openblas.sh failed:\n${lib.stderr}`);
          env.LD_LIBRARY_PATH = lib.stdout.trim();
        } else if (blas !== 'default') throw new Error(`--torch_blas ${blas}: expected default or openblas`);
        const py = spawnSync('/usr/bin/python3', ['bench/train_torch.py', JSON.stringify({ config: c, B, T, train_type: trainType,
          lora: { rank: LORA.rank, alpha: LORA.alpha, dropout: LORA.dropout }, warmup: warm, steps: timed, checkpointing })], { encoding: 'utf8', env });
        if (py.status !== 0) throw new Error(`bench/train_torch.py failed:\n${py.stderr}`);
        const torch = JSON.parse(py.stdout.trim().split('\n').pop()!), p = blas === 'default' ? 'torch' : `torch_${blas}`;
        Object.assign(row, { [`${p}_blas`]: torch.blas, [`${p}_tokens_per_s`]: +torch.tokens_per_s.toFixed(1), [`${p}_max_rss_bytes`]: torch.max_rss_bytes,
          [`${p}_loss`]: +torch.loss.toFixed(4), [`ratio${p.slice(5)}`]: +(ours / torch.tokens_per_s).toFixed(2) });
      }
    }
    console.log(JSON.stringify(row));
  }
}
releaseGPU();
await exit(0);
