// Decode throughput (tokens/s) of stories260K and a synthetic ~20M-parameter Llama on one backend.
// Not a test. Run through scripts/bench.sh, which bundles it and runs it under Node and Deno:
//   node build/bench/decode.mjs --device webgpu|wasm [--tokens N]
import '../runtime/wasm-embedded.ts';
import { selectBackend, type DeviceChoice } from '../src/backend/select.ts';
import { LlamaRunner, type LlamaModel } from '../models/llama.ts';
import { loadModel } from '../models/load.ts';
import { tinyRandomWeights } from '../models/tiny-random.ts';
import { argmax } from '../src/sampling.ts';
import { argv, runtimeName, exit } from '../runtime/platform.ts';

const args = argv();
const flag = (name: string, fallback: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const device = flag('device', 'wasm') as DeviceChoice;
const tokens = Number(flag('tokens', '128'));

const synthetic20M = (): LlamaModel => tinyRandomWeights({
  hiddenSize: 512, intermediateSize: 1376, numLayers: 6, numHeads: 8, numKvHeads: 4, headDim: 64,
  vocabSize: 4096, maxPositionEmbeddings: 1024, rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true,
}, 1);

const paramCount = (m: LlamaModel) => [m.weights.embedTokens, m.weights.norm, ...m.weights.layers.flatMap((l) => Object.values(l))]
  .reduce((n, a) => n + a.length, 0);

async function decodeRate(model: LlamaModel): Promise<number> {
  const { ops } = await selectBackend(device);
  try {
    const runner = new LlamaRunner(ops, model);
    let tok = 1;
    for (let p = 0; p < 8; p++) tok = argmax(await runner.forward([tok], [p])); // warm-up: pipelines compile
    const rates: number[] = [];
    for (let rep = 0; rep < 3; rep++) {
      const start = performance.now();
      for (let p = 0; p < tokens; p++) tok = argmax(await runner.forward([tok], [p]));
      rates.push(tokens / ((performance.now() - start) / 1000));
    }
    return rates.sort((a, b) => a - b)[1]; // median of 3
  } finally {
    ops.destroy();
  }
}

const stories = (await loadModel('../shared/models/stories260K')).model;
for (const [name, model] of [['stories260K', stories], ['synthetic-20M', synthetic20M()]] as const) {
  const rate = await decodeRate(model);
  console.log(JSON.stringify({ bench: 'decode', model: name, params: paramCount(model), runtime: runtimeName, device, tokens_per_s: +rate.toFixed(1) }));
}
await exit(0);
