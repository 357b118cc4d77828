// The MLP's up projection and SwiGLU on WebGPU, two ways in one run: the SwiGLU finished in the up GEMM's store
// (core/ops.ts GluStore: training keeps up beside act, inference stores act in up's place) against the GEMM followed
// by the swiglu pass (what every backend did before). Qwen2.5-0.5B's MLP (hidden 896, intermediate 4864); training
// at --rows rows (default 512), decode at one. Each timing records --batch products, submits once and waits on a
// 1-element read; rounds alternate the two ways (this VM's speed drifts) and medians are printed.
//   npx esbuild bench/webgpu-swiglu.ts --bundle --platform=node --format=esm --loader:.wasm=binary --external:webgpu \
//     --outfile=build/bench/webgpu-swiglu.mjs && node build/bench/webgpu-swiglu.mjs [--rows 512] [--rounds 5] [--strategy tiled]
import { acquireGPU } from '../runtime/webgpu.ts';
import { createWebGpuOps, type MatmulStrategy } from '../gpu/webgpu-ops.ts';
import type { Buf, GluStore } from '../core/ops.ts';

const flag = (name: string, dflt: string) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const ROWS = Number(flag('rows', '512')), ROUNDS = Number(flag('rounds', '5')), BATCH = Number(flag('batch', '4'));
const strategy = flag('strategy', '') as MatmulStrategy | '';
const D = 896, F = 4864;
if (!(ROWS > 0 && ROUNDS > 0 && BATCH > 0)) throw new Error('--rows, --rounds and --batch take positive numbers');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const random = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);

const r = await acquireGPU();
if (!r.ok) { console.log(`no WebGPU: ${r.reason}`); process.exit(1); }
const ops = await createWebGpuOps(r.gpu, strategy ? { matmul: strategy } : {});
console.log(`adapter: ${r.gpu.description} (isCpu=${r.gpu.isCpu})${strategy ? `, --strategy ${strategy}` : ''}`);

const wUp = ops.upload(random(F * D));
for (const [what, M, mode] of [['training (act beside up)', ROWS, 'beside'], ['decode (act in up\'s place)', 1, 'replace']] as const) {
  const x = ops.upload(random(M * D)), gate = ops.upload(random(M * F)), up = ops.alloc(M * F), act = ops.alloc(M * F);
  const glu: GluStore = mode === 'beside' ? { gate, act } : { gate };
  const ways: Record<string, () => void> = {
    'fused store': () => ops.matmul(up, x, wUp, M, F, D, null, glu),
    'GEMM + swiglu pass': () => { ops.matmul(up, x, wUp, M, F, D); ops.swiglu(mode === 'beside' ? act : up, gate, up, M * F); },
  };
  const times: Record<string, number[]> = {};
  const once = async (run: () => void, out: Buf) => {
    const t0 = performance.now();
    for (let b = 0; b < BATCH; b++) run();
    await ops.read(out, 1);
    return (performance.now() - t0) / BATCH;
  };
  for (const run of Object.values(ways)) await once(run, up);  // compiles the pipelines
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(ways)) (times[name] ??= []).push(await once(run, up));
  }
  const [fused, apart] = [median(times['fused store']), median(times['GEMM + swiglu pass'])];
  console.log(`${what}, ${M}×${F}×${D}: fused store ${fused.toFixed(3)} ms, GEMM + swiglu pass ${apart.toFixed(3)} ms ` +
    `(${(apart / fused).toFixed(3)}×; medians of ${ROUNDS} interleaved rounds × ${BATCH} per submit)`);
  for (const b of [x, gate, up, act]) ops.free(b);
}
ops.destroy();
