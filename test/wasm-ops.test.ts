import '../runtime/wasm-embedded.ts';
// WasmOps (AssemblyScript SIMD kernels) against ReferenceOps on seeded random data, with shapes chosen to hit
// every SIMD tail (sizes that are not multiples of 4/8), the 3×4 matmul tiles and their row/column remainders,
// GQA groupings, and non-contiguous positions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWasmOps } from '../src/backend/wasm-ops.ts';
import { ReferenceOps } from '../src/backend/reference-ops.ts';
import { roundToHalf, type Buf, type Ops } from '../core/ops.ts';
import { createWasmTrainOps } from '../src/backend/wasm-train-ops.ts';
import { instantiateWasm } from '../runtime/wasm.ts';

const wasm = await createWasmOps();
const ref = new ReferenceOps();

/** mulberry32: a tiny seeded PRNG so failures reproduce. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed), a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/** Assert |a - e| <= atol + rtol·|e| (or <= bound[i] when given), naming the worst element. */
function assertClose(actual: Float32Array, expected: Float32Array, what: string,
  { atol = 0, rtol = 0, bound }: { atol?: number; rtol?: number; bound?: Float64Array } = {}) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const tol = bound ? bound[i] : atol + rtol * Math.abs(expected[i]);
    if (!(err <= tol) && (worst < 0 || err - tol > worstExcess)) { worst = i; worstExcess = err - tol; }
  }
  if (worst >= 0) assert.fail(`${what}: [${worst}] got ${actual[worst]}, expected ${expected[worst]}`);
}

/** Upload the same inputs to both backends, run `op` on each, and return both outputs. */
async function both(inputs: (Float32Array | Int32Array)[], outLen: number,
  op: (o: Ops, out: Buf, ins: Buf[]) => void, outIndex = -1): Promise<[Float32Array, Float32Array]> {
  const res: Float32Array[] = [];
  for (const o of [wasm, ref] as Ops[]) {
    const ins = inputs.map((d) => o.upload(d));
    const out = outIndex >= 0 ? ins[outIndex] : o.alloc(outLen);
    op(o, out, ins);
    res.push(await o.read(out));
    for (const b of ins) o.free(b);
    if (outIndex < 0) o.free(out);
  }
  return [res[0], res[1]];
}

test('buffers: upload/read/write round-trip, zeroed alloc, i32, growth keeps data, free reuses', async () => {
  const a = randn(37, 1);
  const ba = wasm.upload(a);
  assert.deepEqual(await wasm.read(ba), a);
  assert.deepEqual(await wasm.read(ba, 5), a.subarray(0, 5));
  const ids = Int32Array.from([3, -7, 2147483647, 0]);
  const bi = wasm.upload(ids);
  assert.equal(bi.dtype, 'i32');
  assert.deepEqual(await wasm.readI32(bi), ids);
  wasm.write(ba, Float32Array.from([9, 8]));
  assert.deepEqual((await wasm.read(ba)).subarray(0, 3), Float32Array.from([9, 8, a[2]]));
  assert.throws(() => wasm.write(bi, new Int32Array(5)), /5 elements/);
  await assert.rejects(wasm.read(bi, 5), /5 elements/);
  // Values convert between dtypes like the reference: an f32 buffer read as i32 and vice versa.
  assert.deepEqual(await wasm.readI32(wasm.upload(Float32Array.from([2, -3]))), Int32Array.from([2, -3]));
  assert.deepEqual(await wasm.read(bi, 2), Float32Array.from([3, -7]));

  // Dirty a block, free it, and check a new alloc of it comes back zeroed.
  const dirty = wasm.upload(new Float32Array(1000).fill(7));
  wasm.free(dirty);
  const z = wasm.alloc(1000);
  assert.ok((await wasm.read(z)).every((v) => v === 0));
  // 64 MiB forces memory.grow; earlier buffers must survive it (views are re-created).
  const big = wasm.alloc(16 << 20);
  wasm.write(big, Float32Array.from([1, 2, 3]));
  assert.deepEqual((await wasm.read(big, 3)), Float32Array.from([1, 2, 3]));
  assert.deepEqual((await wasm.read(ba)).subarray(2), a.subarray(2));
  assert.deepEqual(await wasm.readI32(bi), ids);
  wasm.free(big);
  // The freed tail goes back to the bump region; allocating it again must still come back zeroed.
  const again = wasm.alloc(16 << 20);
  assert.ok((await wasm.read(again, 4)).every((v) => v === 0));
  for (const b of [ba, bi, z, again]) wasm.free(b);
  await assert.rejects(wasm.read(ba), /freed/);
  const other = await createWasmOps();
  const foreign = wasm.alloc(4);
  assert.throws(() => other.add(foreign, foreign, foreign, 4), /not from this backend/);
  wasm.free(foreign);
  other.destroy();
});

test('allocator: interleaved alloc/free keep blocks aligned, disjoint, intact, and all memory comes back', async () => {
  // Raw kernel exports on a fresh instance, so the heap starts empty.
  const k = (await instantiateWasm('kernels')).exports as unknown as {
    memory: WebAssembly.Memory; alloc(n: number): number; free(p: number): void; heapUsed(): number;
  };
  const r = rng(42);
  const live: { ptr: number; n: number; fill: number }[] = [];
  const intact = (b: { ptr: number; n: number; fill: number }) =>
    new Int32Array(k.memory.buffer, b.ptr, b.n).every((v) => v === b.fill);
  for (let i = 1; i < 3000; i++) {
    if (live.length && r() < 0.45) {
      const [b] = live.splice(Math.floor(r() * live.length), 1);
      assert.ok(intact(b), `block ${b.fill} intact before free`);
      k.free(b.ptr);
    } else {
      // Few distinct sizes so freed blocks are often reused exactly, plus odd ones that split blocks.
      const n = r() < 0.7 ? [16, 64, 100][Math.floor(r() * 3)] : 1 + Math.floor(r() * 3000);
      const ptr = k.alloc(n * 4) >>> 0;
      assert.ok(ptr !== 0 && ptr % 16 === 0, `aligned pointer ${ptr}`);
      new Int32Array(k.memory.buffer, ptr, n).fill(i);
      live.push({ ptr, n, fill: i });
    }
  }
  for (const b of live) assert.ok(intact(b), `block ${b.fill} intact at end`);
  for (const b of live) k.free(b.ptr);
  assert.equal(k.heapUsed(), 0, 'every block coalesced back into the bump region');
});

test('matmul matches the reference (tails, tiles, row blocks)', async () => {
  const shapes: [number, number, number][] = [];
  // M < 32 takes the dot-product tiles (3-row tiles + single rows), M >= 32 the packed 4×8 tiles with edges.
  for (const M of [1, 2, 3, 5, 31, 33]) for (const N of [1, 4, 7, 65]) for (const K of [1, 3, 4, 8, 17, 67]) shapes.push([M, N, K]);
  // K = 16384 makes row blocks 16 rows long, so M = 37 spans three blocks, the last one partial.
  shapes.push([37, 9, 16384], [40, 17, 2048], [7, 130, 300], [1, 256, 1024], [64, 64, 64]);
  for (const [M, N, K] of shapes) {
    const x = randn(M * K, M * 1000 + K), w = randn(N * K, N * 7 + K * 13);
    const [got, want] = await both([x, w], M * N, (o, out, [xb, wb]) => o.matmul(out, xb, wb, M, N, K));
    // Rounding error scales with Σ|x·w|, not with the (possibly cancelled) result.
    const bound = new Float64Array(M * N);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += Math.abs(x[m * K + k] * w[n * K + k]);
      bound[m * N + n] = 1e-5 * s + 1e-30;
    }
    assertClose(got, want, `matmul M=${M} N=${N} K=${K}`, { bound });
  }
});

test('matmul on a 3-thread pool gives the 1-thread bits (columns split by 8s, each share its own panel)', async () => {
  const pooled = await createWasmOps({ threads: 3, poolMinMacs: 0 });
  assert.equal(pooled.caps.device, 'WebAssembly relaxed SIMD (fused multiply-add) (3 threads)');
  try {
    for (const [M, N, K] of [[1, 16, 8], [1, 100, 67], [3, 256, 1024], [31, 65, 17], [33, 65, 67], [37, 129, 300], [64, 24, 64]] as const) {
      const x = randn(M * K, M + K), w = randn(N * K, N + 3 * K);
      const outs: Float32Array[] = [];
      for (const o of [wasm, pooled]) {
        const [xb, wb, ob] = [o.upload(x), o.upload(w), o.alloc(M * N)];
        o.matmul(ob, xb, wb, M, N, K);
        outs.push(await o.read(ob));
        for (const b of [xb, wb, ob]) o.free(b);
      }
      assert.deepEqual(outs[1], outs[0], `matmul M=${M} N=${N} K=${K}: 3 threads differ from 1`);
    }
  } finally { pooled.destroy(); }
});

// q/k/v and gate/up in one dispatch: every part's columns are split as matmul splits them, so the bits are matmul's
test('matmuls (several products of one input, one dispatch) on 3 threads give matmul\'s bits for every part', async () => {
  const pooled = await createWasmOps({ threads: 3, poolMinMacs: 0 });
  try {
    for (const [M, K, Ns] of [[1, 64, [40, 8, 8]], [1, 300, [100, 67, 3]], [5, 67, [129, 16]], [40, 33, [65, 24, 200]]] as const) {
      const x = randn(M * K, M + K), ws = Ns.map((N, i) => randn(N * K, N + 7 * i));
      const xb = pooled.upload(x), parts = Ns.map((N, i) => ({ out: pooled.alloc(M * N), w: pooled.upload(ws[i]), N }));
      pooled.matmuls(xb, M, K, parts);
      for (const [i, p] of parts.entries()) {
        const [xw, ww, ow] = [wasm.upload(x), wasm.upload(ws[i]), wasm.alloc(M * p.N)];
        wasm.matmul(ow, xw, ww, M, p.N, K);
        assert.deepEqual(await pooled.read(p.out), await wasm.read(ow), `matmuls M=${M} K=${K} part ${i} (N=${p.N}) differs from matmul`);
        for (const b of [xw, ww, ow]) wasm.free(b);
      }
    }
  } finally { pooled.destroy(); }
});

// --torch_dtype float16/bfloat16 on WasmOps: matrices stored as 16-bit patterns and widened exactly as the kernels
// load them, so every product equals the f32 kernels' on the rounded weights bit for bit (those are checked against
// the reference above), at half the bytes; WasmTrainOps keeps f32 storage (its training GEMMs read f32).
test('16-bit weights: 2 bytes an element, the rounded values read back, matmul/matmuls/embedding equal the f32 kernels on them', async () => {
  const pooled = await createWasmOps({ threads: 3, poolMinMacs: 0 });
  try {
    for (const half of ['f16', 'bf16'] as const) {
      // specials: f16 subnormals, the largest half, values that overflow f16 to ±Inf, a value that rounds to 0
      const specials = Float32Array.of(3e-6, -1e-7, 6e-8, 65504, -70000, 1e5, 1e-9, 0, -0);
      const stored = wasm.upload(specials, undefined, half);
      assert.deepEqual(await wasm.read(stored), roundToHalf(specials, half), `${half}: the rounded values read back`);
      wasm.write(stored, Float32Array.of(1.0009765625, -2));
      assert.deepEqual((await wasm.read(stored)).subarray(0, 2), roundToHalf(Float32Array.of(1.0009765625, -2), half), `${half}: write rounds`);
      wasm.free(stored);
      for (const o of [wasm, pooled]) {
        for (const [M, N, K] of [[1, 7, 5], [1, 100, 300], [3, 65, 67], [5, 16, 64], [33, 65, 67], [40, 24, 1024]] as const) {
          const x = randn(M * K, M + K), w = randn(N * K, N + 3 * K, 3);
          if (M === 3) { w[1] = 1e5; w[K + 2] = 2e-6; }  // f16: an Inf (the kernels' patched widening) and a subnormal
          const r = roundToHalf(w, half);
          const outs: Float32Array[] = [];
          for (const [data, h] of [[w, half], [r, false]] as const) {
            const [xb, wb, ob] = [o.upload(x), o.upload(data, K, h), o.alloc(M * N)];
            o.matmul(ob, xb, wb, M, N, K);
            outs.push(await o.read(ob));
            for (const b of [xb, wb, ob]) o.free(b);
          }
          assert.deepEqual(outs[0], outs[1], `${half} matmul M=${M} N=${N} K=${K} (${o.threads} threads)`);
        }
        const K = 67, x = o.upload(randn(5 * K, 9)), ws = [40, 8, 130].map((N, i) => randn(N * K, 50 + i));
        const parts = ws.map((w, i) => ({ out: o.alloc(5 * (w.length / K)), w: o.upload(w, K, i === 1 ? false : half), N: w.length / K }));
        o.matmuls(x, 5, K, parts);
        for (const [i, p] of parts.entries()) {
          const ow = o.alloc(5 * p.N), wr = o.upload(i === 1 ? ws[i] : roundToHalf(ws[i], half));
          o.matmul(ow, x, wr, 5, p.N, K);
          assert.deepEqual(await o.read(p.out), await o.read(ow), `${half} matmuls part ${i} (${o.threads} threads)`);
        }
      }
      const dim = 13, table = randn(20 * dim, 77), ids = Int32Array.of(3, 19, 0, 3);
      const tb = wasm.upload(table, dim, half), idb = wasm.upload(ids), out = wasm.alloc(ids.length * dim);
      wasm.embedding(out, tb, idb, ids.length, dim);
      const r = roundToHalf(table, half);
      assert.deepEqual(await wasm.read(out), Float32Array.from({ length: ids.length * dim }, (_, j) => r[ids[Math.floor(j / dim)] * dim + (j % dim)]), `${half} embedding`);
      assert.throws(() => wasm.rmsnorm(out, out, tb, 1, dim, 1e-5), /reads f32, not a 16-bit weight/);
      {  // the kernels' own widening (vector lanes and scalar tails) on the specials, NaN included
        // with Inf/NaN, and (f16: the faster widening for tensors without them) only finite ones, subnormals included
        const finite = specials.filter((v) => Math.abs(v) < 65520);
        for (const vals of [[...specials, NaN, ...[...specials].reverse(), -Infinity], [...finite, ...[...finite].reverse().map((v) => -v)]]) {
          const rows = Float32Array.from(vals), sd = rows.length / 2;
          const sb = wasm.upload(rows, sd, half), sid = wasm.upload(Int32Array.of(1, 0)), so = wasm.alloc(2 * sd);
          wasm.embedding(so, sb, sid, 2, sd);
          const want = roundToHalf(rows, half);
          assert.deepEqual(await wasm.read(so), Float32Array.from([...want.subarray(sd), ...want.subarray(0, sd)]), `${half}: ${vals.length} values widened by the kernel`);
          for (const b of [sb, sid, so]) wasm.free(b);
        }
      }
      // half the bytes: 4096 weights take 8 KiB of wasm memory, not 16
      const k = (wasm as unknown as { k: { heapUsed(): number } }).k, before = k.heapUsed(), big = wasm.upload(randn(4096, 5), 64, half);
      assert.ok(k.heapUsed() - before <= 8192 + 64, `${half}: ${k.heapUsed() - before} bytes for 4096 weights`);
      for (const b of [tb, idb, out, big]) wasm.free(b);
    }
  } finally { pooled.destroy(); }
  const train = await createWasmTrainOps();
  assert.equal(train.caps.f16Storage, false);
  assert.deepEqual(await train.read(train.upload(Float32Array.of(1.0009765625), undefined, 'bf16')), Float32Array.of(1), 'training: f32 holding rounded values');
  train.destroy();
  assert.equal(wasm.caps.f16Storage, true);
});

test('rmsnorm matches the reference', async () => {
  for (const T of [1, 3]) for (const dim of [1, 3, 8, 17, 67, 256]) for (const eps of [1e-5, 1e-6]) {
    const x = randn(T * dim, dim + T, 3), w = randn(dim, dim * 3);
    const [got, want] = await both([x, w], T * dim, (o, out, [xb, wb]) => o.rmsnorm(out, xb, wb, T, dim, eps));
    assertClose(got, want, `rmsnorm T=${T} dim=${dim}`, { atol: 1e-7, rtol: 1e-6 });
  }
});

test('rope matches the reference (positions up to 4000, several thetas)', async () => {
  for (const headDim of [2, 6, 8, 64]) for (const nHeads of [1, 3]) for (const theta of [10000, 500000]) {
    const pos = Int32Array.from([0, 5, 4000, 1, 77]), T = pos.length;
    const x = randn(T * nHeads * headDim, headDim * 10 + nHeads);
    const [got, want] = await both([x, pos], 0, (o, out, [, pb]) => o.rope(out, pb, T, nHeads, headDim, theta), 0);
    assertClose(got, want, `rope headDim=${headDim} nHeads=${nHeads} theta=${theta}`, { atol: 1e-6, rtol: 1e-6 });
    assert.notDeepEqual(got, x, 'rope changed x');
  }
});

test('kvStore writes rows at scattered positions', async () => {
  for (const width of [1, 6, 17]) {
    const maxSeq = 12, pos = Int32Array.from([3, 0, 11, 7]), T = pos.length;
    const cache = randn(maxSeq * width, width), src = randn(T * width, width + 1);
    const [got, want] = await both([cache, src, pos], 0, (o, c, [, sb, pb]) => o.kvStore(c, sb, pb, T, width), 0);
    assert.deepEqual(got, want, `kvStore width=${width}`);
  }
});

test('attention matches the reference (GQA, odd headDim tails, scattered positions, T>1)', async () => {
  const cases: [number, number, number, number[]][] = [
    // nHeads, nKvHeads, headDim, positions
    [2, 1, 8, [0]],
    [4, 2, 8, [5, 2, 9]],
    [4, 4, 6, [13, 0, 7]],
    [6, 3, 6, [1, 2, 3, 4, 5]],
    [3, 1, 64, [40, 63]],
    [8, 2, 10, [30, 17, 3, 60, 22]],
  ];
  const maxSeq = 64;
  for (const [nHeads, nKvHeads, headDim, p] of cases) for (const qScale of [1, 8]) {
    const T = p.length, kvWidth = nKvHeads * headDim, pos = Int32Array.from(p);
    // Larger query scale gives peaked softmaxes (exercises the max subtraction).
    const q = randn(T * nHeads * headDim, nHeads * 100 + headDim, qScale);
    const k = randn(maxSeq * kvWidth, headDim + 1), v = randn(maxSeq * kvWidth, headDim + 2);
    const [got, want] = await both([q, k, v, pos], T * nHeads * headDim,
      (o, out, [qb, kb, vb, pb]) => o.attention(out, qb, kb, vb, pb, T, nHeads, nKvHeads, headDim));
    assertClose(got, want, `attention H=${nHeads} KV=${nKvHeads} hd=${headDim} pos=${p} qScale=${qScale}`, { atol: 2e-6, rtol: 1e-5 });
  }
});

test('swiglu matches the reference', async () => {
  for (const n of [1, 3, 17, 1000]) {
    const g = randn(n, n, 20), u = randn(n, n + 1, 2);
    const [got, want] = await both([g, u], n, (o, out, [gb, ub]) => o.swiglu(out, gb, ub, n));
    assertClose(got, want, `swiglu n=${n}`, { atol: 1e-30, rtol: 1e-6 });
  }
});

test('add matches the reference, also in place', async () => {
  for (const n of [1, 3, 4, 17, 100]) {
    const a = randn(n, n), b = randn(n, n + 5);
    const [got, want] = await both([a, b], n, (o, out, [ab, bb]) => o.add(out, ab, bb, n));
    assert.deepEqual(got, want, `add n=${n}`);
    const [gotIn, wantIn] = await both([a, b], 0, (o, out, [, bb]) => o.add(out, out, bb, n), 0);
    assert.deepEqual(gotIn, wantIn, `add in place n=${n}`);
  }
});

test('embedding gathers rows (repeated ids)', async () => {
  for (const dim of [1, 5, 16]) {
    const vocab = 11, ids = Int32Array.from([4, 0, 10, 4, 7]), T = ids.length;
    const table = randn(vocab * dim, dim);
    const [got, want] = await both([table, ids], T * dim, (o, out, [tb, ib]) => o.embedding(out, tb, ib, T, dim));
    assert.deepEqual(got, want, `embedding dim=${dim}`);
  }
});

test('kernels refuse out-of-range shapes and indices instead of corrupting memory', () => {
  const x = wasm.alloc(6), w = wasm.alloc(6), out = wasm.alloc(4);
  assert.throws(() => wasm.matmul(out, x, w, 2, 3, 3), /needs 6 elements/);
  const table = wasm.alloc(12), ids = wasm.upload(Int32Array.from([4]));
  assert.throws(() => wasm.embedding(out, table, ids, 1, 3), /token id 4/);
  const cache = wasm.alloc(8);
  assert.throws(() => wasm.kvStore(cache, x, ids, 1, 2), /position 4/);
  for (const b of [x, w, out, table, ids, cache]) wasm.free(b);
});

test('addBias adds the bias to every row, in place', async () => {
  for (const [rows, dim] of [[1, 1], [3, 5], [4, 64], [2, 67]]) {
    const x = randn(rows * dim, rows + dim), b = randn(dim, dim);
    const [got, want] = await both([x, b], 0, (o, out, [, bb]) => o.addBias(out, bb, rows, dim), 0);
    assert.deepEqual(got, want, `addBias rows=${rows} dim=${dim}`);
  }
});
