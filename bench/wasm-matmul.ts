// The WASM backend's matmul throughput on 1 and N threads: a square 1024³ product (prefill/training shape), the
// M=1 4096×4096 matvec (the decode hot path, memory bound) and 64×4096×4096; next to numpy on Debian's OpenBLAS
// (scripts/fetch-openblas.sh; the physical ceiling of this machine) with the same thread counts. Best of repeated
// runs. Not a test. Bundled and run by scripts/bench.sh: node build/bench/wasm-matmul.mjs [--threads 2]
// (WEBTUNE_WASM_RELAXED=0: the plain-SIMD kernels instead of the fused multiply-add build; each row names which ran)
import '../runtime/wasm-embedded.ts';
import { spawnSync } from 'node:child_process';
import { createWasmOps } from '../src/backend/wasm-ops.ts';
import { defaultThreads } from '../src/backend/wasm-pool.ts';
import { argv, exit } from '../runtime/platform.ts';
import { kernelsRelaxed } from '../runtime/wasm.ts';

const args = argv();
const at = args.indexOf('--threads'), threads = at >= 0 ? Number(args[at + 1]) : await defaultThreads();
if (!Number.isInteger(threads) || threads < 1) { console.error('usage: wasm-matmul.mjs [--threads N] (N ≥ 1)'); exit(2); }
const SHAPES: [number, number, number][] = [[1024, 1024, 1024], [1, 4096, 4096], [64, 4096, 4096]];

function best(run: () => void, minMs = 2000): number {
  run();  // warm up (tier-up, page faults)
  let ms = Infinity;
  for (const t0 = performance.now(); performance.now() - t0 < minMs;) {
    const t = performance.now();
    run();
    ms = Math.min(ms, performance.now() - t);
  }
  return ms;
}

const rows: Record<string, Record<string, number>> = {};
for (const n of [...new Set([1, threads])]) {
  const ops = await createWasmOps({ threads: n });
  for (const [M, N, K] of SHAPES) {
    const rand = (len: number) => Float32Array.from({ length: len }, () => Math.random() * 2 - 1);
    const x = ops.upload(rand(M * K)), w = ops.upload(rand(N * K)), out = ops.alloc(M * N);
    const ms = best(() => ops.matmul(out, x, w, M, N, K));
    (rows[`${M}x${N}x${K}`] ??= {})[`webtune_${n}t_gflops`] = +((2 * M * N * K) / (ms * 1e6)).toFixed(2);
    for (const b of [x, w, out]) ops.free(b);
  }
  ops.destroy();
}

// numpy's float32 matmul on OpenBLAS, the same shapes and thread counts
const lib = spawnSync('bash', ['scripts/fetch-openblas.sh'], { encoding: 'utf8' });
if (lib.status === 0) {
  const py = `
import json, sys, time, numpy as np
out = {}
for M, N, K in ${JSON.stringify(SHAPES)}:
    x = np.random.rand(M, K).astype(np.float32); w = np.random.rand(N, K).astype(np.float32)
    x @ w.T
    best, t0 = 1e9, time.perf_counter()
    while time.perf_counter() - t0 < 2:
        t = time.perf_counter(); x @ w.T; best = min(best, time.perf_counter() - t)
    out[f"{M}x{N}x{K}"] = 2 * M * N * K / best / 1e9
print(json.dumps(out))`;
  for (const n of [...new Set([1, threads])]) {
    const r = spawnSync('/usr/bin/python3', ['-c', py], { encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: lib.stdout.trim(), OPENBLAS_NUM_THREADS: String(n) } });
    if (r.status !== 0) { console.error(`numpy peer failed: ${r.stderr}`); break; }
    for (const [shape, g] of Object.entries(JSON.parse(r.stdout) as Record<string, number>)) rows[shape][`numpy_openblas_${n}t_gflops`] = +g.toFixed(2);
  }
} else console.error(`scripts/fetch-openblas.sh failed (no peer): ${lib.stderr}`);

for (const [shape, r] of Object.entries(rows)) {
  const ratio = r[`numpy_openblas_${threads}t_gflops`] ? { [`fraction_of_openblas_${threads}t`]: +(r[`webtune_${threads}t_gflops`] / r[`numpy_openblas_${threads}t_gflops`]).toFixed(2) } : {};
  console.log(JSON.stringify({ bench: 'matmul', shape, simd: kernelsRelaxed() ? 'relaxed (FMA)' : 'plain', ...r, ...ratio }));
}
await exit(0);
