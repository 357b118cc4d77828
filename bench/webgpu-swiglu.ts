// The MLP's up projection and SwiGLU on WebGPU, two ways in one run: the SwiGLU finished in the up GEMM's store
// (core/ops.ts GluStore: training keeps up beside act, inference stores act in up's place) against the GEMM followed
// by the swiglu pass (what every backend did before). Qwen2.5-0.5B's MLP (hidden 896, intermediate 4864); training
// at --rows rows (default 512), decode at one. Each timing records --batch products, submits once and waits on a
// 1-element read; rounds alternate the two ways (this VM's speed drifts) and medians are printed. Peer, same run:
// PyTorch on this machine's CPU (all its cores), silu(gate)·linear(x, W_up), medians of as many rounds (--python, default
// /usr/bin/python3).
//   npx esbuild bench/webgpu-swiglu.ts --bundle --platform=node --format=esm --loader:.wasm=binary --external:webgpu \
//     --outfile=build/bench/webgpu-swiglu.mjs && node build/bench/webgpu-swiglu.mjs [--rows 512] [--rounds 5] [--strategy tiled]
import { spawnSync } from 'node:child_process';
import { acquireGPU } from '../runtime/webgpu.ts';
import { createWebGpuOps, type MatmulStrategy } from '../gpu/webgpu-ops.ts';
import type { Buf, GluStore } from '../core/ops.ts';

const flag = (name: string, dflt: string) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const ROWS = Number(flag('rows', '512')), ROUNDS = Number(flag('rounds', '5')), BATCH = Number(flag('batch', '4'));
const strategy = flag('strategy', '') as MatmulStrategy | '', python = flag('python', '/usr/bin/python3');
const D = 896, F = 4864;
if (!(ROWS > 0 && ROUNDS > 0 && BATCH > 0)) throw new Error('--rows, --rounds and --batch take positive numbers');

/** PyTorch's milliseconds for silu(gate)·linear(x, W_up) at M rows (median of ROUNDS, after a warm-up), and its BLAS. */
function torchMs(M: number): { ms: number; blas: string } {
  const code = `import json,os,time,torch
torch.set_num_threads(os.cpu_count())
M,D,F,R=${M},${D},${F},${ROUNDS}
x,w,g=torch.randn(M,D),torch.randn(F,D),torch.randn(M,F)
def run(): return torch.nn.functional.silu(g)*torch.nn.functional.linear(x,w)
run(); ts=[]
for _ in range(R):
  t0=time.perf_counter(); run(); ts.append((time.perf_counter()-t0)*1e3)
print(json.dumps({"ms":sorted(ts)[R//2],"blas":"torch "+torch.__version__+", "+str(torch.get_num_threads())+" threads"}))`;
  const py = spawnSync(python, ['-c', code], { encoding: 'utf8' });
  if (py.status !== 0) throw new Error(`${python}: ${py.stderr.trim().split('\n').pop()}`);
  return JSON.parse(py.stdout);
}

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
  const [fused, apart] = [median(times['fused store']), median(times['GEMM + swiglu pass'])], torch = torchMs(M);
  console.log(`${what}, ${M}×${F}×${D}: fused store ${fused.toFixed(3)} ms, GEMM + swiglu pass ${apart.toFixed(3)} ms ` +
    `(${(apart / fused).toFixed(3)}×; medians of ${ROUNDS} interleaved rounds × ${BATCH} per submit); ` +
    `PyTorch CPU (${torch.blas}) ${torch.ms.toFixed(3)} ms (fused ${(torch.ms / fused).toFixed(2)}× its speed)`);
  for (const b of [x, gate, up, act]) ops.free(b);
}
ops.destroy();
