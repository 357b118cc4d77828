// WebGPU kernels against ReferenceOps on seeded random data. Runs on any adapter (lavapipe on CPU-only machines);
// both matmul strategies are tested whatever the adapter prefers. Skips when the runtime has no WebGPU.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { releaseGPU } from '../runtime/webgpu.ts';
import { testGPU } from './gpu.ts';
import { ReferenceOps } from '../src/backend/reference-ops.ts';
import type { Buf, Ops } from '../core/ops.ts';
import { createWebGpuOps, type WebGpuOps } from '../gpu/webgpu-ops.ts';
import { TILE_CANDIDATES, tileName, type TileConfig } from '../gpu/gemm/tiled.ts';

const gpuResult = await testGPU();
const skip = gpuResult.ok ? false : `no WebGPU: ${gpuResult.reason}`;
const ref = new ReferenceOps();
const byStrategy: Record<'tiled' | 'register', WebGpuOps> = {} as never;
if (gpuResult.ok) {
  byStrategy.tiled = await createWebGpuOps(gpuResult.gpu, { matmul: 'tiled' });
  byStrategy.register = await createWebGpuOps(gpuResult.gpu, { matmul: 'register' });
}
// Both instances also differ in the shapes of the other kernels (CPU vs GPU workgroup sizes): test each op on both.
const instances = () => [byStrategy.register, byStrategy.tiled];
const gpu = () => byStrategy.register;
const extra: WebGpuOps[] = [];  // instances made by tests; all share the device, released once at the end
after(() => { for (const o of [...extra, byStrategy.tiled, byStrategy.register]) o?.destroy(); releaseGPU(); });

function rng(seed: number) {  // mulberry32
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function randn(n: number, seed: number, scale = 1) {
  const r = rng(seed), a = new Float32Array(n);
  for (let j = 0; j < n; j++) a[j] = (r() * 2 - 1) * scale;
  return a;
}

/** max |a − b| / (atol + rtol·|b|) must stay ≤ 1 */
function close(actual: Float32Array, expected: Float32Array, rtol: number, atol: number, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let j = 0; j < actual.length; j++) {
    const err = Math.abs(actual[j] - expected[j]);
    if (!(err <= atol + rtol * Math.abs(expected[j]))) {
      assert.fail(`${what}: element ${j}: got ${actual[j]}, expected ${expected[j]} (error ${err.toExponential(2)})`);
    }
  }
}

/** Runs the same op on the reference and on WebGPU with the same inputs; returns both results of buffer `outIndex`. */
async function both(ops: Ops, inputs: (Float32Array | Int32Array)[], run: (o: Ops, b: Buf[]) => void, outIndex = 0) {
  const rb = inputs.map((d) => ref.upload(d)), gb = inputs.map((d) => ops.upload(d));
  run(ref, rb);
  run(ops, gb);
  const expected = await ref.read(rb[outIndex]), actual = await ops.read(gb[outIndex]);
  gb.forEach((b) => ops.free(b));
  return { actual, expected };
}

async function checkMatmul(ops: WebGpuOps, M: number, N: number, K: number, seed: number) {
  const x = randn(M * K, seed), w = randn(N * K, seed + 1);
  const { actual, expected } = await both(ops, [new Float32Array(M * N), x, w], (o, [out, xb, wb]) => o.matmul(out, xb, wb, M, N, K));
  close(actual, expected, 1e-5, 1e-6 * K, `${ops.strategy} matmul M=${M} N=${N} K=${K}`);
}

for (const strategy of ['tiled', 'register'] as const) {
  test(`matmul (${strategy}): odd shapes`, { skip }, async () => {
    let seed = 1;
    for (const M of [1, 2, 5, 33]) for (const N of [1, 7, 65]) for (const K of [1, 3, 4, 17, 64, 67]) {
      await checkMatmul(byStrategy[strategy], M, N, K, seed++);
    }
  });
  test(`matmul (${strategy}): 130×257×96 and 130×257×99, matvec 1×300×1000`, { skip }, async () => {
    await checkMatmul(byStrategy[strategy], 130, 257, 96, 7);
    await checkMatmul(byStrategy[strategy], 130, 257, 99, 8);
    await checkMatmul(byStrategy[strategy], 1, 300, 1000, 9);
  });
}

// Every tiled config the GPU check times (gemm/tiled.ts TILE_CANDIDATES), the generator's other branches (TM not a
// multiple of 4: single rows; no prefetch; no padding), and one register config: ragged shapes (M, N, K not
// multiples of any tile, several tiles each way) and a 16-bit weight (Ops.upload's half; f16 and bf16 in turn).
const TILE_VARIANTS: TileConfig[] = [...TILE_CANDIDATES, { BM: 32, BN: 16, BK: 8, TM: 2, TN: 4 },
  { ...TILE_CANDIDATES[0], prefetch: false }, { BM: 64, BN: 32, BK: 12, TM: 4, TN: 8, pad: false }];
test('matmul with every tiled candidate config and non-default tile shapes', { skip }, async () => {
  if (!gpuResult.ok) return;
  const tiled = await Promise.all(TILE_VARIANTS.map((t) => createWebGpuOps(gpuResult.gpu, { matmul: 'tiled', config: { tiled: t, matvec: { TPR: 8, RPW: 2 } } })));
  const odd = [...tiled, await createWebGpuOps(gpuResult.gpu, { matmul: 'register', config: { register: { TM: 2, TN: 1, WGX: 4, WGY: 2 }, matvec: { TPR: 2, RPW: 3 } } })];
  extra.push(...odd);
  let seed = 500;
  const halfOf = (i: number): 'f16' | 'bf16' => (i % 2 ? 'bf16' : 'f16');
  for (const [i, ops] of odd.entries()) {
    for (const [M, N, K] of [[1, 7, 67], [5, 65, 17], [33, 7, 64], [70, 40, 3], [130, 257, 99]]) await checkMatmul(ops, M, N, K, seed++);
    const [M, N, K] = [37, 133, 45], x = randn(M * K, seed++), w = randn(N * K, seed++), h = halfOf(i);
    const rb = [ref.upload(new Float32Array(M * N)), ref.upload(x), ref.upload(w, K, h)];
    const gb = [ops.upload(new Float32Array(M * N)), ops.upload(x), ops.upload(w, K, h)];
    for (const [o, [out, xb, wb]] of [[ref, rb], [ops, gb]] as const) o.matmul(out, xb, wb, M, N, K);
    close(await ops.read(gb[0]), await ref.read(rb[0]), 1e-5, 1e-6 * K, `${ops.strategy} ${JSON.stringify(ops.config.tiled)} matmul, ${h} w`);
    gb.forEach((b) => ops.free(b));
  }
  // each tiled instance ran its own generated kernel, its 16-bit one included
  for (const [i, ops] of tiled.entries()) {
    const keys = [...(ops as unknown as { kernels: Map<string, unknown> }).kernels.keys()].join(' ');
    assert.ok(keys.includes(`gemm-tiled-NT-${tileName(ops.config.tiled)}`), `no tiled kernel for ${tileName(ops.config.tiled)} in ${keys}`);
    assert.ok(keys.includes(`gemm-tiled-NT-${tileName(ops.config.tiled)}-${halfOf(i)}`), keys);
  }
});

test('tiled configs a device cannot run fail clearly', { skip }, async () => {
  if (!gpuResult.ok) return;
  const x = new Float32Array(64);
  for (const [tiled, msg] of [[{ BM: 64, BN: 64, BK: 16, TM: 3, TN: 4 }, /multiple of TM/], [{ BM: 256, BN: 256, BK: 16, TM: 4, TN: 4 }, /invocations/],
    [{ BM: 128, BN: 128, BK: 512, TM: 8, TN: 8 }, /workgroup storage/]] as const) {
    const ops = await createWebGpuOps(gpuResult.gpu, { matmul: 'tiled', config: { tiled } });
    extra.push(ops);
    assert.throws(() => ops.matmul(ops.alloc(64), ops.upload(x), ops.upload(x), 8, 8, 8), msg);
  }
});

test('embedding', { skip }, async () => {
  for (const ops of instances()) {
    const vocab = 50, dim = 67, ids = Int32Array.from([3, 0, 49, 3, 17]);
    const { actual, expected } = await both(ops, [new Float32Array(ids.length * dim), randn(vocab * dim, 2), ids],
      (o, [out, table, idb]) => o.embedding(out, table, idb, ids.length, dim));
    close(actual, expected, 0, 0, 'embedding');
  }
});

test('rmsnorm (also in place)', { skip }, async () => {
  for (const ops of instances()) {
    for (const [T, dim] of [[1, 64], [3, 67], [5, 4096], [2, 1]]) {
      const x = randn(T * dim, T + dim, 3), w = randn(dim, dim);
      const r1 = await both(ops, [new Float32Array(T * dim), x, w], (o, [out, xb, wb]) => o.rmsnorm(out, xb, wb, T, dim, 1e-5));
      close(r1.actual, r1.expected, 2e-6, 1e-7, `${ops.strategy} rmsnorm T=${T} dim=${dim}`);
      const r2 = await both(ops, [x, w], (o, [xb, wb]) => o.rmsnorm(xb, xb, wb, T, dim, 1e-6));
      close(r2.actual, r2.expected, 2e-6, 1e-7, `rmsnorm in place T=${T} dim=${dim}`);
    }
  }
});

test('rope: large and non-contiguous positions', { skip }, async () => {
  for (const ops of instances()) {
    const cases: [number[], number, number, number][] = [
      [[0, 1, 2], 2, 64, 10000],
      [[5, 1000, 4097, 131071], 3, 128, 500000],
      [[70000, 3, 12345], 4, 16, 10000],
      [[7], 1, 2, 10000],
    ];
    for (const [positions, nHeads, headDim, theta] of cases) {
      const T = positions.length, x = randn(T * nHeads * headDim, headDim + T);
      const { actual, expected } = await both(ops, [x, Int32Array.from(positions)],
        (o, [xb, pb]) => o.rope(xb, pb, T, nHeads, headDim, theta));
      close(actual, expected, 1e-6, 2e-7, `rope pos=${positions} headDim=${headDim}`);
    }
  }
});

test('kvStore: non-contiguous positions', { skip }, async () => {
  for (const ops of instances()) {
    const maxSeq = 20, width = 70, positions = Int32Array.from([4, 0, 19, 7]), T = positions.length;
    const { actual, expected } = await both(ops, [randn(maxSeq * width, 5), randn(T * width, 6), positions],
      (o, [cache, src, pb]) => o.kvStore(cache, src, pb, T, width));
    close(actual, expected, 0, 0, 'kvStore');
  }
});

test('attention: GQA groups 1, 2, 4; T > 1; long caches', { skip }, async () => {
  for (const ops of instances()) {
    const cases: [number[], number, number, number, number][] = [  // positions, nHeads, nKvHeads, headDim, maxSeq
      [[0], 2, 2, 64, 4],
      [[3, 7, 8, 20], 4, 2, 64, 24],
      [[5, 2], 3, 3, 80, 8],
      [[100, 33, 64, 150], 8, 2, 128, 160],
      [[63, 64, 65, 31, 32], 2, 1, 8, 70],
      [[1000], 4, 4, 16, 1001],
    ];
    let seed = 100;
    for (const [positions, nHeads, nKvHeads, headDim, maxSeq] of cases) {
      const T = positions.length, kvw = nKvHeads * headDim;
      const q = randn(T * nHeads * headDim, seed++, 2), k = randn(maxSeq * kvw, seed++, 2), v = randn(maxSeq * kvw, seed++);
      const { actual, expected } = await both(ops, [new Float32Array(T * nHeads * headDim), q, k, v, Int32Array.from(positions)],
        (o, [out, qb, kb, vb, pb]) => o.attention(out, qb, kb, vb, pb, T, nHeads, nKvHeads, headDim));
      close(actual, expected, 1e-5, 1e-6, `${ops.strategy} attention pos=${positions} heads=${nHeads}/${nKvHeads} headDim=${headDim}`);
      const inPlace = await both(ops, [q, k, v, Int32Array.from(positions)],
        (o, [qb, kb, vb, pb]) => o.attention(qb, qb, kb, vb, pb, T, nHeads, nKvHeads, headDim));
      close(inPlace.actual, inPlace.expected, 1e-5, 1e-6, `attention in place pos=${positions}`);
    }
  }
});

test('swiglu and add (with aliasing)', { skip }, async () => {
  for (const ops of instances()) {
    for (const n of [1, 7, 1000, 70001]) {
      const a = randn(n, n, 8), b = randn(n, n + 1, 3);
      const s = await both(ops, [new Float32Array(n), a, b], (o, [out, g, u]) => o.swiglu(out, g, u, n));
      close(s.actual, s.expected, 1e-6, 1e-7, `swiglu n=${n}`);
      const s2 = await both(ops, [a, b], (o, [g, u]) => o.swiglu(g, g, u, n));
      close(s2.actual, s2.expected, 1e-6, 1e-7, `swiglu in place n=${n}`);
      const r = await both(ops, [new Float32Array(n), a, b], (o, [out, x, y]) => o.add(out, x, y, n));
      close(r.actual, r.expected, 0, 0, `add n=${n}`);
      const r2 = await both(ops, [a, b], (o, [x, y]) => o.add(x, x, y, n));
      close(r2.actual, r2.expected, 0, 0, `add in place n=${n}`);
      const r3 = await both(ops, [a, b], (o, [x, y]) => o.add(y, x, y, n), 1);
      close(r3.actual, r3.expected, 0, 0, `add into b n=${n}`);
      const r4 = await both(ops, [a], (o, [x]) => o.add(x, x, x, n));
      close(r4.actual, r4.expected, 0, 0, `add x + x in place n=${n}`);
      const r5 = await both(ops, [new Float32Array(n), a], (o, [out, x]) => o.swiglu(out, x, x, n));
      close(r5.actual, r5.expected, 1e-6, 1e-7, `swiglu(x, x) n=${n}`);
    }
  }
});

test('addBias adds the bias to every row, in place', { skip }, async () => {
  for (const ops of instances()) {
    for (const [rows, dim] of [[1, 1], [3, 5], [4, 64], [2, 67], [300, 257]]) {
      const r = await both(ops, [randn(rows * dim, rows + dim), randn(dim, dim)], (o, [x, b]) => o.addBias(x, b, rows, dim));
      close(r.actual, r.expected, 0, 0, `addBias rows=${rows} dim=${dim}`);
    }
  }
});

test('write is ordered with recorded ops; readI32', { skip }, async () => {
  const ops = gpu(), a = ops.upload(Float32Array.from([1, 2, 3])), b = ops.upload(Float32Array.from([10, 20, 30]));
  const out1 = ops.alloc(3), out2 = ops.alloc(3);
  ops.add(out1, a, b, 3);                     // recorded, not submitted
  ops.write(a, Float32Array.from([100, 200]));  // prefix write must land after the add above
  ops.add(out2, a, b, 3);
  assert.deepEqual([...await ops.read(out1)], [11, 22, 33]);
  assert.deepEqual([...await ops.read(out2)], [110, 220, 33]);
  assert.deepEqual([...await ops.read(out2, 2)], [110, 220]);
  const c = ops.alloc(3), out3 = ops.alloc(3), scratch = ops.alloc(3);
  ops.add(scratch, a, b, 3);                  // a pending op that does not touch c: the write needs no submit
  ops.write(c, Float32Array.from([1, 1, 1]));
  ops.add(out3, c, b, 3);
  ops.write(c, Float32Array.from([2, 2, 2]));  // c is now used by a pending op: must land after it
  assert.deepEqual([...await ops.read(out3)], [11, 21, 31]);
  assert.deepEqual([...await ops.read(c)], [2, 2, 2]);
  [c, out3, scratch].forEach((x) => ops.free(x));
  const ids = ops.alloc(4, 'i32');
  ops.write(ids, Int32Array.from([-1, 5, 2 ** 31 - 1]));
  assert.deepEqual([...await ops.readI32(ids)], [-1, 5, 2 ** 31 - 1, 0]);
  const [r1, r2] = await Promise.all([ops.read(out1), ops.read(out2)]);  // concurrent reads use separate staging
  assert.deepEqual([...r1, ...r2], [11, 22, 33, 110, 220, 33]);
  [a, b, out1, out2, ids].forEach((x) => ops.free(x));
});

test('a repeated decode step creates no new GPU objects', { skip }, async () => {
  const ops = byStrategy.tiled, dim = 64, nHeads = 4, nKv = 2, hd = 16, vocab = 30, maxSeq = 8;
  const table = ops.upload(randn(vocab * dim, 1)), wq = ops.upload(randn(dim * dim, 2)), norm = ops.upload(randn(dim, 3));
  const kc = ops.alloc(maxSeq * nKv * hd), vc = ops.alloc(maxSeq * nKv * hd);
  const ids = ops.alloc(1, 'i32'), pos = ops.alloc(1, 'i32'), h = ops.alloc(dim), xn = ops.alloc(dim), q = ops.alloc(dim), att = ops.alloc(dim);
  const step = async (token: number, p: number) => {
    ops.write(ids, Int32Array.from([token]));
    ops.write(pos, Int32Array.from([p]));
    ops.embedding(h, table, ids, 1, dim);
    ops.rmsnorm(xn, h, norm, 1, dim, 1e-5);
    ops.matmul(q, xn, wq, 1, dim, dim);
    ops.rope(q, pos, 1, nHeads, hd, 10000);
    ops.kvStore(kc, q, pos, 1, nKv * hd);
    ops.kvStore(vc, xn, pos, 1, nKv * hd);
    ops.attention(att, q, kc, vc, pos, 1, nHeads, nKv, hd);
    ops.add(h, h, att, dim);
    return ops.read(h);
  };
  await step(1, 0);
  const { submits, ...before } = ops.stats();
  for (let p = 1; p < 4; p++) await step(p * 7, p);
  const { submits: after, ...now } = ops.stats();
  assert.deepEqual(now, before);
  assert.equal(after - submits, 3, 'one submit per decode step');
});

test('matmul into its own input fails clearly', { skip }, () => {
  const x = gpu().alloc(16);
  assert.throws(() => gpu().matmul(x, x, gpu().alloc(16), 4, 4, 4), /cannot write into one of its inputs/);
  gpu().free(x);
});

test('buffers over maxStorageBufferBindingSize fail clearly', { skip }, () => {
  const limit = gpuResult.ok ? gpuResult.gpu.device.limits.maxStorageBufferBindingSize : 0;
  assert.throws(() => gpu().alloc(limit / 4 + 16), /maxStorageBufferBindingSize/);
});
