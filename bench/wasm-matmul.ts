// Prints the WASM backend's matmul throughput: a square 1024³ product (prefill/training shape) and an
// M=1 4096×4096 matvec (the decode hot path, memory bound). Not a test.
// Run: node scripts/build.mjs --asm=kernels && npx tsx bench/wasm-matmul.ts
import { createWasmOps } from '../src/backend/wasm-ops.ts';

const ops = await createWasmOps();

function bench(M: number, N: number, K: number, minMs = 2000): void {
  const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
  const x = ops.upload(rand(M * K)), w = ops.upload(rand(N * K)), out = ops.alloc(M * N);
  ops.matmul(out, x, w, M, N, K); // warm up (tier-up, page faults)
  // Best of repeated runs: the least disturbed by other load on the machine.
  let ms = Infinity;
  for (const t0 = performance.now(); performance.now() - t0 < minMs;) {
    const t = performance.now();
    ops.matmul(out, x, w, M, N, K);
    ms = Math.min(ms, performance.now() - t);
  }
  const gflops = (2 * M * N * K) / (ms * 1e6);
  const gbs = (4 * N * K) / (ms * 1e6);
  console.log(`matmul M=${M} N=${N} K=${K}: ${ms.toFixed(2)} ms, ${gflops.toFixed(2)} GFLOP/s` +
    (M === 1 ? `, weights streamed at ${gbs.toFixed(1)} GB/s` : ''));
  for (const b of [x, w, out]) ops.free(b);
}

bench(1024, 1024, 1024);
bench(1, 4096, 4096);
bench(64, 4096, 4096);
