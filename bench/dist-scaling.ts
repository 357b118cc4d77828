// Data-parallel scaling on this host: tokens/s of `webtune sft` launched with NPROC_PER_NODE = 1, 2 and 4 (WASM
// kernels; each rank gets the host's physical cores divided among the ranks, at least one thread), for DDP and
// ZeRO-2/3, LoRA and full, at a fixed global batch (the per-device batch is global/W), so the figures compare the same
// work. Model: a ~11M-parameter Llama with random weights over stories260K's 512-token vocabulary; data: packed
// Alpaca rows. Figure: the median of the logged tokens/s (the whole group's tokens) over the steps after the first
// two; beside it, what rank 0 holds for weights, gradients and optimizer state (logged memory_per_rank). Not a test. Bundled and run by scripts/bench.sh:
//   node build/bench/dist-scaling.mjs [--ranks 1,2,4] [--steps 6] [--global_batch 8] [--max_length 256] [--modes ddp,zero2,zero3] [--train_types lora,full]
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { LlamaConfig } from '../models/llama.ts';
import { makeHfConfigJson, modelToHfTensors } from '../models/hf-llama.ts';
import { writeSafetensors } from '../models/safetensors.ts';
import { tinyRandomWeights } from '../models/tiny-random.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const ranks = flag('ranks', '1,2,4').split(',').map(Number), steps = Number(flag('steps', '6')), globalBatch = Number(flag('global_batch', '8'));
const maxLength = flag('max_length', '256'), modes = flag('modes', 'ddp,zero2,zero3').split(','), types = flag('train_types', 'lora,full').split(',');
const SHARED = resolve('../shared'), CLI = resolve('dist/webtune.mjs');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ~11M: 6 layers of width 384 over the 512-token vocabulary of stories260K, whose tokenizer it borrows
const config: LlamaConfig = { hiddenSize: 384, intermediateSize: 1032, numLayers: 6, numHeads: 6, numKvHeads: 6, headDim: 64, vocabSize: 512,
  maxPositionEmbeddings: 1024, rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true };
const model = mkdtempSync(join(tmpdir(), 'webtune-scaling-model-'));
writeFileSync(join(model, 'config.json'), JSON.stringify(makeHfConfigJson(config, { bos: 1, eos: 2 })));
writeFileSync(join(model, 'model.safetensors'), writeSafetensors(modelToHfTensors(tinyRandomWeights(config, 1)), { format: 'pt' }));
copyFileSync(join(SHARED, 'models/stories260K/tok512.bin'), join(model, 'tok512.bin'));
const params = (config.hiddenSize * (4 * config.hiddenSize + 3 * config.intermediateSize) + 2 * config.hiddenSize) * config.numLayers + config.vocabSize * config.hiddenSize;

console.log(`# ${cpus().length} CPUs (${cpus()[0]?.model}); model ${(params / 1e6).toFixed(1)}M parameters; global batch ${globalBatch} × ${maxLength} tokens (packed)`);
for (const type of types) for (const mode of modes) {
  const base: number[] = [];
  for (const W of ranks) {
    if (globalBatch % W) continue;
    const out = mkdtempSync(join(tmpdir(), 'webtune-scaling-'));
    const r = spawnSync(process.execPath, [CLI, 'sft', '--model', model, '--dataset', join(SHARED, 'datasets/llamafactory/alpaca_en_demo.json'),
      '--template', 'default', '--packing', '--max_length', maxLength, '--train_type', type, '--per_device_train_batch_size', String(globalBatch / W),
      '--max_steps', String(steps), '--logging_steps', '1', '--save_steps', '100000', '--report_to', 'none', '--device', 'wasm',
      ...(mode !== 'ddp' && W > 1 ? ['--deepspeed', mode] : []), '--output_dir', out],
    { encoding: 'utf8', env: { ...process.env, NPROC_PER_NODE: String(W), MASTER_PORT: '29851' } });
    if (r.status !== 0) { console.error(r.stderr); process.exit(1); }
    const run = join(out, readdirSync(out).find((d) => d.startsWith('v'))!);
    const rows = readFileSync(join(run, 'logging.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((x) => 'loss' in x);
    const tps = median(rows.slice(2).map((x) => x['tokens/s'] as number));
    if (W === ranks[0]) base.push(tps);
    const threads = /\((\d+) threads?\)/.exec(r.stderr)?.[1];
    const mem = (rows.at(-1)!['memory_per_rank(MiB)'] as Record<string, number>[] | undefined)?.[0];
    console.log(JSON.stringify({ train_type: type, mode: W > 1 ? mode : 'single', ranks: W, per_device_batch: globalBatch / W, threads_per_rank: Number(threads),
      'tokens/s': Math.round(tps), 'vs 1 rank': +(tps / base[0]).toFixed(2),
      ...(mem ? { 'rank 0 MiB (weights/frozen/grads/optimizer)': `${mem.weights}/${mem.frozen ?? 0}/${mem.grads}/${mem.optimizer}` } : {}) }));
    rmSync(out, { recursive: true, force: true });
  }
}
rmSync(model, { recursive: true, force: true });
