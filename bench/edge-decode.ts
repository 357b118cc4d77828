// Edge-worker serving speed: one greedy completion (128 tokens) from the Worker `webtune build-edge` writes, in
// workerd (single-threaded WASM, the kernels imported as a module), next to `webtune deploy --device wasm --threads 1`
// in Node on the same model and request: the same kernels without the isolate. Median of 3 interleaved rounds,
// after one warm-up request each. Models: stories260K and a ~19.5M-parameter Llama with random weights (512-token
// vocabulary). Not a test. Bundled and run by scripts/bench.sh:
//   node build/bench/edge-decode.mjs [--tokens 128] [--rounds 3] [--models stories260K,llama-19M]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { LlamaConfig } from '../models/llama.ts';
import { makeHfConfigJson, modelToHfTensors } from '../models/hf-llama.ts';
import { writeSafetensors } from '../models/safetensors.ts';
import { tinyRandomWeights } from '../models/tiny-random.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const tokens = Number(flag('tokens', '128')), rounds = Number(flag('rounds', '3')), only = flag('models', 'stories260K,llama-19M').split(',');
const SHARED = resolve('../shared'), CLI = resolve('dist/webtune.mjs'), WORKERD = resolve('node_modules/.bin/workerd');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const freePort = () => new Promise<number>((ok) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => ok(p)); }); });

// ~19.5M: 8 layers of width 448 over stories260K's 512-token vocabulary, whose tokenizer it borrows
function randomModel(): string {
  const config: LlamaConfig = { hiddenSize: 448, intermediateSize: 1216, numLayers: 8, numHeads: 7, numKvHeads: 7, headDim: 64, vocabSize: 512,
    maxPositionEmbeddings: 1024, rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true };
  const dir = mkdtempSync(join(tmpdir(), 'webtune-edge-bench-model-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(makeHfConfigJson(config, { bos: 1, eos: 2 })));
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(modelToHfTensors(tinyRandomWeights(config, 1)), { format: 'pt' }));
  copyFileSync(join(SHARED, 'models/stories260K/tok512.bin'), join(dir, 'tok512.bin'));
  return dir;
}

async function up(child: ChildProcess, base: string, what: string): Promise<void> {
  let log = '';
  child.stdout?.on('data', (d) => (log += d)); child.stderr?.on('data', (d) => (log += d));
  for (let i = 0; i < 600; i++) {
    try { if ((await fetch(`${base}/health`)).ok) return; } catch { /* not up yet */ }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${what} did not start:\n${log}`);
}

/** completion tokens per second of one greedy request (prefill included, as a client sees it) */
async function complete(base: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', prompt: 'Once upon a time', max_tokens: tokens, temperature: 0 }) });
  const body = await res.json() as { usage?: { completion_tokens: number } };
  if (!res.ok || !body.usage) throw new Error(`${base}: ${res.status} ${JSON.stringify(body)}`);
  return body.usage.completion_tokens / ((performance.now() - t0) / 1000);
}

const MODELS: Record<string, () => string> = { 'stories260K': () => join(SHARED, 'models/stories260K'), 'llama-19M': randomModel };
for (const name of only) {
  const model = MODELS[name](), edge = join(mkdtempSync(join(tmpdir(), 'webtune-edge-bench-')), 'worker');
  const built = spawnSync(process.execPath, [CLI, 'build-edge', '--model', model, '--served_model_name', 'm', '--output_dir', edge], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(built.stderr);
  const [pw, pd] = [await freePort(), await freePort()];
  const workerd = spawn(WORKERD, ['serve', join(edge, 'config.capnp'), '--socket-addr', `http=127.0.0.1:${pw}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const deploy = spawn(process.execPath, [CLI, 'deploy', '--model', model, '--served_model_name', 'm', '--device', 'wasm', '--threads', '1', '--port', String(pd)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const [bw, bd] = [`http://127.0.0.1:${pw}`, `http://127.0.0.1:${pd}`];
    await up(workerd, bw, 'workerd'); await up(deploy, bd, 'webtune deploy');
    await complete(bw); await complete(bd);
    const w: number[] = [], d: number[] = [];
    for (let r = 0; r < rounds; r++) { w.push(await complete(bw)); d.push(await complete(bd)); }
    console.log(JSON.stringify({ model: name, tokens, 'workerd tokens/s': +median(w).toFixed(1), 'deploy Node WASM 1 thread tokens/s': +median(d).toFixed(1),
      ratio: +(median(w) / median(d)).toFixed(2) }));
  } finally {
    workerd.kill('SIGKILL'); deploy.kill('SIGKILL');
    rmSync(edge, { recursive: true, force: true });
    if (name !== 'stories260K') rmSync(model, { recursive: true, force: true });
  }
}
