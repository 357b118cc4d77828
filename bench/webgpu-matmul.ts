// WebGPU matmul throughput at 1024³ for each strategy, next to a plain JS triple loop measured in the same run.
// Bundle first (scripts/bench.sh does):
//   npx esbuild bench/webgpu-matmul.ts --bundle --platform=node --format=esm --loader:.wasm=binary --external:webgpu --outfile=build/bench/webgpu-matmul.mjs && node build/bench/webgpu-matmul.mjs
// (on a machine without a GPU set XDG_RUNTIME_DIR to a writable directory to silence a lavapipe warning)
import { acquireGPU } from '../runtime/webgpu.ts';
import { createWebGpuOps, type MatmulStrategy } from '../gpu/webgpu-ops.ts';

const SIZE = 1024, RUNS = 5, BATCH = 8;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const random = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);

function jsMatmul(out: Float32Array, x: Float32Array, w: Float32Array, M: number, N: number, K: number) {
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[m * K + k] * w[n * K + k];
      out[m * N + n] = acc;
    }
  }
}

const r = await acquireGPU();
if (!r.ok) { console.log(`no WebGPU: ${r.reason}`); process.exit(1); }
console.log(`adapter: ${r.gpu.description} (isCpu=${r.gpu.isCpu})`);
const x = random(SIZE * SIZE), w = random(SIZE * SIZE), flops = 2 * SIZE ** 3;

// Each timed run records BATCH matmuls, submits once and waits for a 1-element read: per-dispatch overhead and
// the submit/map round trip are amortised the way a model step amortises them.
const results: [string, number][] = [];
const opsList = [];
for (const strategy of ['register', 'tiled'] as MatmulStrategy[]) {
  const ops = await createWebGpuOps(r.gpu, { matmul: strategy });
  opsList.push(ops);
  const xb = ops.upload(x), wb = ops.upload(w), out = ops.alloc(SIZE * SIZE);
  ops.matmul(out, xb, wb, SIZE, SIZE, SIZE);
  await ops.read(out, 1);  // compiles the pipeline
  const times = [];
  for (let run = 0; run < RUNS; run++) {
    const t0 = performance.now();
    for (let b = 0; b < BATCH; b++) ops.matmul(out, xb, wb, SIZE, SIZE, SIZE);
    await ops.read(out, 1);
    times.push((performance.now() - t0) / BATCH);
  }
  results.push([`webgpu ${strategy}`, flops / (median(times) * 1e6)]);
  // Decode path (M = 1, matvec) on a 4096×4096 weight: bandwidth-bound, so report GB/s of w read.
  const K2 = 4096, xv = ops.upload(random(K2)), wv = ops.upload(random(K2 * K2)), ov = ops.alloc(K2);
  ops.matmul(ov, xv, wv, 1, K2, K2);
  await ops.read(ov, 1);
  const mv = [];
  for (let run = 0; run < RUNS; run++) {
    const t0 = performance.now();
    for (let b = 0; b < BATCH; b++) ops.matmul(ov, xv, wv, 1, K2, K2);
    await ops.read(ov, 1);
    mv.push((performance.now() - t0) / BATCH);
  }
  console.log(`  matvec (${strategy} config) 1×${K2}×${K2}: ${median(mv).toFixed(2)} ms, ${(K2 * K2 * 4 / (median(mv) * 1e6)).toFixed(1)} GB/s of weights`);
}

const out = new Float32Array(SIZE * SIZE), jsTimes = [];
for (let run = 0; run < 3; run++) {
  const t0 = performance.now();
  jsMatmul(out, x, w, SIZE, SIZE, SIZE);
  jsTimes.push(performance.now() - t0);
}
const js = flops / (median(jsTimes) * 1e6);
console.log(`matmul ${SIZE}³ (median of ${RUNS} runs × ${BATCH} dispatches per submit; plain JS median of 3):`);
console.log(`  plain JS triple loop: ${js.toFixed(2)} GFLOP/s`);
for (const [name, gflops] of results) console.log(`  ${name}: ${gflops.toFixed(2)} GFLOP/s (${(gflops / js).toFixed(1)}× plain JS)`);
for (const ops of opsList) ops.destroy();
