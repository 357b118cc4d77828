// Training attention (forward, then backward) on the present WebGPU adapter, per kernel family, at llama2.c and
// Qwen-like shapes: the CPU adapters' row kernels (what gpu/attention/policy.ts picks on lavapipe), the flash
// kernels and the tiled ones, timed in one run (median of 3, interleaved); the peer is PyTorch's forward and
// forward + backward on this machine's CPU (bench/gpu_check_torch.py attention; --python, default /usr/bin/python3).
// Bundled by scripts/bench.sh, then
//   XDG_RUNTIME_DIR=/tmp/xdg node build/bench/webgpu-attention.mjs [--shapes B,T,H,KV,D;...]
import { spawnSync } from 'node:child_process';
import { acquireGPU, releaseGPU } from '../runtime/webgpu.ts';
import { createWebGpuTrainOps, type WebGpuTrainOps } from '../gpu/train-ops.ts';
import { argv, exit } from '../runtime/platform.ts';
import { attentionCase } from './attention-case.ts';

const args = argv(), at = args.indexOf('--shapes');
const shapes = (at >= 0 ? args[at + 1] ?? '' : '4,256,8,8,32;4,256,6,6,48;2,512,14,2,64').split(';').map((s) => s.split(',').map(Number));
const badShape = shapes.find((s) => s.length !== 5 || !s.every((v) => Number.isInteger(v) && v > 0) || s[2] % s[3]);
if (badShape) { console.error(`webgpu-attention: --shapes wants B,T,H,KV,D of positive integers with H a multiple of KV, got ${badShape.join(',')}`); await exit(2); }
const pyAt = args.indexOf('--python'), python = pyAt >= 0 ? args[pyAt + 1] : '/usr/bin/python3';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r = await acquireGPU();
if (!r.ok) { console.log(`no WebGPU: ${r.reason}`); await exit(1); }
const gpu = (r as Extract<typeof r, { ok: true }>).gpu;
console.log(`adapter: ${gpu.description}`);
const families: [string, Promise<WebGpuTrainOps>][] = [
  ['row kernels (CPU adapters)', createWebGpuTrainOps(gpu, { matmul: 'register' })],
  ['flash', createWebGpuTrainOps(gpu, { matmul: 'tiled' })],
  ['tiled', createWebGpuTrainOps(gpu, { matmul: 'tiled', config: { attentionTile: 0 } })],
];
const opsList = await Promise.all(families.map(([, o]) => o));
for (const [B, T, H, KV, D] of shapes) {
  const runs = opsList.map((ops) => ({ ops, c: attentionCase(ops, B, T, H, KV, D), fwd: [] as number[], bwd: [] as number[] }));
  for (let round = 0; round < 4; round++) {
    for (const x of runs) {
      const { ops, c } = x;
      let t0 = performance.now();
      c.forward();
      await ops.read(c.bufs.out, 1);
      const f = performance.now() - t0;
      t0 = performance.now();
      c.backward();
      await ops.read(c.bufs.dq, 1);
      if (round > 0) { x.fwd.push(f); x.bwd.push(performance.now() - t0); }  // round 0 compiles
    }
  }
  console.log(`B=${B} T=${T} heads ${H}/${KV} of ${D}:`);
  for (const [i, x] of runs.entries()) {
    const f = median(x.fwd), b = median(x.bwd);
    console.log(`  ${families[i][0].padEnd(28)} forward ${f.toFixed(1).padStart(7)} ms  forward + backward ${(f + b).toFixed(1).padStart(7)} ms`);
    x.c.free();
  }
  const py = spawnSync(python, ['bench/gpu_check_torch.py', 'attention', JSON.stringify({ device: 'cpu', B, T, H, KV, D })], { encoding: 'utf8' });
  if (py.status === 0) {
    const t = JSON.parse(py.stdout.trim().split('\n').pop()!);
    const f = t.fp32_forward_ms, fb = t.fp32_forward_backward_ms;
    console.log(`  ${`PyTorch ${t.torch} CPU`.padEnd(28)} forward ${f.toFixed(1).padStart(7)} ms  forward + backward ${fb.toFixed(1).padStart(7)} ms (${t.sdpa ? 'SDPA' : 'softmax(QKᵀ)V'})`);
  } else console.log(`  PyTorch: ${(py.stderr || py.error?.message || '').trim().split('\n').pop()}`);
}
for (const o of opsList) o.destroy();
releaseGPU();
await exit(0);
