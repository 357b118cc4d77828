// Decode throughput of webtune's WASM backend (1 and N threads) next to onnxruntime-node's CPU provider on the same
// model: the ONNX file `webtune export` writes from it. Greedy, from BOS, with each engine's KV cache; median of 3.
// Models: stories260K and a ~58M-parameter Llama with random weights. Each engine runs in its own child process so
// that its max RSS is its own. Not a test. Bundled and run by scripts/bench.sh:
//   node build/bench/decode-ort.mjs [--tokens 128] [--threads 2] [--rounds 3] [--models stories260K,llama-58M] [--dtypes f32,bf16,f16]
// --dtypes: webtune's weights also in 16 bits (infer --torch_dtype bfloat16/float16), on --threads, in the same rounds.
// --profile: no peer; webtune alone on --threads, each Ops call timed on the host clock (the WASM ops are synchronous),
// one table per model: what a token's time goes to.
import '../runtime/wasm-embedded.ts';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWasmOps } from '../src/backend/wasm-ops.ts';
import { LlamaRunner, type LlamaConfig, type LlamaModel } from '../models/llama.ts';
import { loadModel } from '../models/load.ts';
import { exportLlamaOnnx } from '../models/onnx/export-llama.ts';
import { tinyRandomWeights } from '../models/tiny-random.ts';
import { argmax } from '../src/sampling.ts';
import { argv, exit } from '../runtime/platform.ts';
import type { Half } from '../core/ops.ts';

const args = argv();
const flag = (name: string, fallback: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const tokens = Number(flag('tokens', '128')), threads = Number(flag('threads', '2'));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ~58M: 8 layers of width 640 over Llama 2's 32000-token vocabulary, tied embeddings
const llama58M: LlamaConfig = { hiddenSize: 640, intermediateSize: 1728, numLayers: 8, numHeads: 10, numKvHeads: 10, headDim: 64,
  vocabSize: 32000, maxPositionEmbeddings: 1024, rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true };
const MODELS: Record<string, () => Promise<LlamaModel>> = {
  'stories260K': async () => (await loadModel('../shared/models/stories260K')).model,
  'llama-58M': async () => tinyRandomWeights(llama58M, 1),
};
const paramCount = (m: LlamaModel) => [m.weights.embedTokens, m.weights.norm, m.weights.lmHead ?? new Float32Array(0),
  ...m.weights.layers.flatMap((l) => Object.values(l).filter(Boolean) as Float32Array[])].reduce((n, a) => n + a.length, 0);

/** tokens/s (median of 3 runs of `tokens` greedy steps after 8 warm-up steps) and the generated ids. */
async function timeLoop(step: (tok: number, pos: number) => Promise<number>, reset: () => void): Promise<{ rate: number; ids: number[] }> {
  let tok = 1;
  for (let p = 0; p < 8; p++) tok = await step(tok, p);
  const rates: number[] = [];
  let ids: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    reset();
    ids = [];
    tok = 1;
    const t0 = performance.now();
    for (let p = 0; p < tokens; p++) { tok = await step(tok, p); ids.push(tok); }
    rates.push(tokens / ((performance.now() - t0) / 1000));
  }
  return { rate: median(rates), ids };
}

async function webtune(model: LlamaModel, n: number, halfWeights: Half | false = false) {
  const ops = await createWasmOps({ threads: n });
  let runner = new LlamaRunner(ops, model, { halfWeights });
  const r = await timeLoop(async (tok, pos) => argmax(await runner.forward([tok], [pos])), () => { runner = new LlamaRunner(ops, model, { halfWeights }); });
  return { engine: `webtune wasm${halfWeights ? ` ${halfWeights} weights` : ''} (${ops.caps.device})`, ...r };
}

async function onnxruntime(dir: string, c: LlamaConfig, n: number) {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), { intraOpNumThreads: n, interOpNumThreads: 1, executionProviders: ['cpu'] });
  type Feeds = Record<string, InstanceType<typeof ort.Tensor>>;
  const i64 = (v: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), dims);
  const empty = (): Feeds => Object.fromEntries(Array.from({ length: c.numLayers }, (_, i) => ['key', 'value'].map((kv) =>
    [`past_key_values.${i}.${kv}`, new ort.Tensor('float32', new Float32Array(0), [1, c.numKvHeads, 0, c.headDim])])).flat());
  let past = empty();
  const r = await timeLoop(async (tok, pos) => {
    const out = await session.run({ input_ids: i64([tok], [1, 1]), attention_mask: i64(new Array(pos + 1).fill(1), [1, pos + 1]),
      position_ids: i64([pos], [1, 1]), ...past });
    past = {};
    for (let i = 0; i < c.numLayers; i++) for (const kv of ['key', 'value']) past[`past_key_values.${i}.${kv}`] = out[`present.${i}.${kv}`] as InstanceType<typeof ort.Tensor>;
    return argmax(out.logits.data as Float32Array);
  }, () => { past = empty(); });
  return { engine: `onnxruntime-node ${ort.env.versions.common} cpu (${n} intra-op thread${n > 1 ? 's' : ''})`, ...r };
}

/** Per-op time of a decode (the ops' methods wrapped with a clock; matmuls keyed by shape). */
async function profile(model: LlamaModel, n: number): Promise<void> {
  const ops = await createWasmOps({ threads: n }), spent = new Map<string, { ms: number; calls: number }>();
  const proto = Object.getPrototypeOf(ops) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(proto)) {
    const f = proto[name];
    if (typeof f !== 'function' || name === 'constructor' || name.startsWith('alloc') || name === 'ptrs' || name === 'p' || name === 'view') continue;
    (ops as unknown as Record<string, unknown>)[name] = (...a: unknown[]) => {
      const t0 = performance.now(), r = (f as (...x: unknown[]) => unknown).apply(ops, a);
      const key = name === 'matmul' ? `matmul N=${a[4]} K=${a[5]}` : name === 'matmuls' ? `matmuls K=${a[2]} N=${(a[3] as { N: number }[]).map((p) => p.N).join('+')}` : name;
      const e = entry(spent, key);
      e.ms += performance.now() - t0; e.calls++;
      return r;
    };
  }
  const runner = () => new LlamaRunner(ops, model);
  let r = runner(), tok = 1;
  for (let p = 0; p < 8; p++) tok = argmax(await r.forward([tok], [p]));
  spent.clear(); r = runner(); tok = 1;
  const t0 = performance.now();
  for (let p = 0; p < tokens; p++) tok = argmax(await r.forward([tok], [p]));
  const total = performance.now() - t0, us = (ms: number) => (ms / tokens * 1000).toFixed(0).padStart(7);
  console.log(`# ${ops.caps.device}: ${(tokens / total * 1000).toFixed(1)} tokens/s, ${us(total)} µs a token`);
  let inOps = 0;
  for (const [k, e] of [...spent].sort((a, b) => b[1].ms - a[1].ms)) {
    inOps += e.ms;
    console.log(`#   ${k.padEnd(34)} ${us(e.ms)} µs/token ${(100 * e.ms / total).toFixed(1).padStart(5)}%  ${(e.calls / tokens).toFixed(0).padStart(3)} calls/token`);
  }
  console.log(`#   ${'outside the ops (runner, argmax)'.padEnd(34)} ${us(total - inOps)} µs/token ${(100 * (total - inOps) / total).toFixed(1).padStart(5)}%`);
  ops.destroy();
}
const entry = (m: Map<string, { ms: number; calls: number }>, k: string) => { let e = m.get(k); if (!e) m.set(k, (e = { ms: 0, calls: 0 })); return e; };

if (args.includes('--profile')) {
  for (const name of flag('models', 'llama-58M').split(',')) { console.log(`# profile: ${name}`); await profile(await MODELS[name](), threads); }
  await exit(0);
}

const only = flag('engine', '');
if (only) {  // child: one engine on one model, one JSON line
  const name = flag('models', ''), [kind, n] = only.split(':');
  // onnxruntime reads the weights from the file alone; webtune's process also holds the host copy it uploads from
  const r = kind === 'ort' ? await onnxruntime(flag('dir', ''), name === 'llama-58M' ? llama58M : (await MODELS[name]()).config, Number(n))
    : await webtune(await MODELS[name](), Number(n), kind === 'wasm-bf16' ? 'bf16' : kind === 'wasm-f16' ? 'f16' : false);
  // VmHWM: this process image's peak (getrusage's maxRSS on Linux keeps the pre-exec peak of the parent that forked it)
  const hwm = /VmHWM:\s+(\d+) kB/.exec(await readFile('/proc/self/status', 'utf8').catch(() => ''))?.[1];
  console.log(JSON.stringify({ ...r, max_rss_bytes: hwm ? Number(hwm) * 1024 : process.resourceUsage().maxRSS * 1024 }));
  await exit(0);
}

const dtypes = flag('dtypes', 'f32').split(',');
const badDtype = dtypes.find((d) => !['f32', 'bf16', 'f16'].includes(d));
if (badDtype) { console.error(`decode-ort: --dtypes ${badDtype}: expected f32, bf16 or f16`); await exit(2); }
const self = new URL(import.meta.url).pathname;
for (const name of flag('models', 'stories260K,llama-58M').split(',')) {
  const model = await MODELS[name](), dir = mkdtempSync(join(tmpdir(), 'webtune-decode-ort-'));
  try {
    const onnx = exportLlamaOnnx(model, 'model.onnx_data');
    writeFileSync(join(dir, 'model.onnx'), onnx.model);
    for (const f of onnx.files) writeFileSync(join(dir, f.name), f.bytes);
    // rounds of every engine in turn, each figure the median over the rounds (this VM's speed drifts over minutes)
    const halves = dtypes.filter((d) => d !== 'f32').map((d) => `wasm-${d}:${threads}`);
    const engines = [...new Set(['wasm:1', `wasm:${threads}`, 'ort:1', `ort:${threads}`, ...halves])], rounds = Number(flag('rounds', '3'));
    const all: Record<string, { engine: string; rate: number; ids: number[]; max_rss_bytes: number }[]> = {};
    for (let round = 0; round < rounds; round++) for (const engine of engines) {
      const p = spawnSync(process.execPath, [self, '--engine', engine, '--models', name, '--dir', dir, '--tokens', String(tokens)], { encoding: 'utf8' });
      if (p.status !== 0) throw new Error(`${engine} on ${name} failed:\n${p.stderr}`);
      (all[engine] ??= []).push(JSON.parse(p.stdout.trim().split('\n').pop()!));
    }
    const runs = Object.fromEntries(engines.map((e) => [e, { ...all[e][0], rate: median(all[e].map((r) => r.rate)),
      max_rss_bytes: Math.max(...all[e].map((r) => r.max_rss_bytes)) }]));
    const ours = runs[`wasm:${threads}`], peer = runs[`ort:${threads}`];
    const same = ours.ids.findIndex((t, i) => t !== peer.ids[i]);
    console.log(JSON.stringify({ bench: 'decode-vs-onnxruntime', model: name, params: paramCount(model), tokens,
      ...Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, { engine: r.engine, tokens_per_s: +r.rate.toFixed(1), max_rss_mib: Math.round(r.max_rss_bytes / 2 ** 20) }])),
      [`ratio_${threads}_threads`]: +(ours.rate / peer.rate).toFixed(2), ratio_1_thread: +(runs['wasm:1'].rate / runs['ort:1'].rate).toFixed(2),
      greedy_ids_agree: same < 0 ? tokens : same }));
  } finally { rmSync(dir, { recursive: true, force: true }); }
}
await exit(0);
