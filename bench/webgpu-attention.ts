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

const args = argv(), at = args.indexOf('--shapes');
const shapes = (at >= 0 ? args[at + 1] : '4,256,8,8,32;4,256,6,6,48;2,512,14,2,64').split(';').map((s) => s.split(',').map(Number));
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
  const rows = B * T, shape = { B, T, nHeads: H, nKvHeads: KV, headDim: D, pos: null, seg: null };
  const fill = (n: number, f: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * f));
  const runs = opsList.map((ops) => {
    const b = { q: ops.upload(fill(rows * H * D, 0.37)), k: ops.upload(fill(rows * KV * D, 0.11)), v: ops.upload(fill(rows * KV * D, 0.07)),
      dout: ops.upload(fill(rows * H * D, 0.29)), out: ops.alloc(rows * H * D), lse: ops.alloc(rows * H), dq: ops.alloc(rows * H * D),
      dk: ops.alloc(rows * KV * D), dv: ops.alloc(rows * KV * D) };
    return { ops, b, fwd: [] as number[], bwd: [] as number[] };
  });
  for (let round = 0; round < 4; round++) {
    for (const x of runs) {
      const { ops, b } = x;
      let t0 = performance.now();
      ops.attentionTrain({ out: b.out, lse: b.lse, q: b.q, k: b.k, v: b.v }, shape);
      await ops.read(b.out, 1);
      const f = performance.now() - t0;
      t0 = performance.now();
      ops.attentionBackward({ dq: b.dq, dk: b.dk, dv: b.dv, dout: b.dout, q: b.q, k: b.k, v: b.v, out: b.out, lse: b.lse }, shape);
      await ops.read(b.dq, 1);
      if (round > 0) { x.fwd.push(f); x.bwd.push(performance.now() - t0); }  // round 0 compiles
    }
  }
  console.log(`B=${B} T=${T} heads ${H}/${KV} of ${D}:`);
  for (const [i, x] of runs.entries()) {
    console.log(`  ${families[i][0].padEnd(28)} forward ${median(x.fwd).toFixed(1).padStart(7)} ms  backward ${median(x.bwd).toFixed(1).padStart(7)} ms`);
    for (const v of Object.values(x.b)) x.ops.free(v);
  }
  const py = spawnSync(python, ['bench/gpu_check_torch.py', 'attention', JSON.stringify({ device: 'cpu', B, T, H, KV, D })], { encoding: 'utf8' });
  if (py.status === 0) {
    const t = JSON.parse(py.stdout.trim().split('\n').pop()!);
    const f = t.fp32_forward_ms, fb = t.fp32_forward_backward_ms;
    console.log(`  ${`PyTorch ${t.torch} CPU`.padEnd(28)} forward ${f.toFixed(1).padStart(7)} ms  backward ${(fb - f).toFixed(1).padStart(7)} ms (forward + backward ${fb.toFixed(1)}; ${t.sdpa ? 'SDPA' : 'softmax(QKᵀ)V'})`);
  } else console.log(`  PyTorch: ${(py.stderr || py.error?.message || '').trim().split('\n').pop()}`);
}
for (const o of opsList) o.destroy();
releaseGPU();
await exit(0);
