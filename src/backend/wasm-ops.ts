// The WASM CPU backend: Ops on top of the AssemblyScript SIMD kernels in asm/kernels (build/kernels.wasm).
// Each WasmOps owns one module instance; a Buf is a 16-byte aligned region of that instance's linear memory
// and ops run synchronously as they are called. Memory growth detaches the old ArrayBuffer, so typed-array
// views are always taken fresh from memory.buffer.
import { gluAfter, halfBits, halfValue, roundToHalf, ropeInvFreqTable, ropeKey, type BackendCaps, type Buf, type DType, type GluStore, type Half, type MatmulPart, type Ops, type RopeFreqs } from '../../core/ops.ts';
import { instantiateWasm, kernelsRelaxed, wasmModule } from '../../runtime/wasm.ts';
import { createWasmPool, threadsUnavailable, type WasmPool } from './wasm-pool.ts';

/** The raw kernel exports; pointers are byte offsets (u32, arriving in JS as possibly negative i32). */
export interface Kernels {
  memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  free(ptr: number): void;
  /** wt: the weights' format, 0 f32, 1 f16, 2 bf16 (WEIGHT_FORMAT) */
  matmul(out: number, x: number, w: number, M: number, N: number, K: number, wt: number): void;
  matmulShare(out: number, x: number, w: number, M: number, N: number, K: number, n0: number, n1: number, scratch: number, wt: number): void;
  matmulScratchBytes(K: number): number;
  matmulShareList(table: number, count: number, x: number, M: number, K: number, scratch: number): void;
  embedding(out: number, table: number, ids: number, T: number, dim: number): void;
  embeddingHalf(out: number, table: number, ids: number, T: number, dim: number, wt: number): void;
  kvStore(cache: number, src: number, pos: number, T: number, width: number): void;
  rmsnorm(out: number, x: number, w: number, T: number, dim: number, eps: number): void;
  rope(x: number, pos: number, T: number, nHeads: number, headDim: number, invFreq: number): void;
  swiglu(out: number, gate: number, up: number, n: number): void;
  add(out: number, a: number, b: number, n: number): void;
  addBias(x: number, bias: number, rows: number, dim: number): void;
  attention(out: number, q: number, k: number, v: number, pos: number,
    T: number, nHeads: number, nKvHeads: number, headDim: number): void;
}

class WasmBuf implements Buf {
  /** half: a 16-bit tensor (Ops.upload's half, allocCache's): its values are rounded to that format */
  half: Half | false = false;
  /**
   * packed: stored as 16-bit patterns, 2 bytes an element (Ops.upload's half on WasmOps: the matrices a model
   * reads, which matmul and embedding widen as they load). Otherwise f32 storage (holding rounded values where half).
   */
  packed = false;
  /** packed f16 with no Inf or NaN (the kernels then skip patching them) */
  finite = false;
  constructor(readonly owner: WasmOps, public ptr: number, readonly length: number, readonly dtype: DType) {}
}

/** The asm kernels' weight format codes (asm/kernels/half.ts): f16 with Inf/NaN, bf16, f16 without (a faster widening). */
const W_F16 = 1, W_BF16 = 2, W_F16_FINITE = 3;

/** Below this many multiply-adds a product is not worth waking the pool for (tests lower it to split small shapes). */
export const POOL_MIN_MACS = 1 << 18;

export class WasmOps implements Ops {
  readonly name = 'wasm' as const;
  get caps(): BackendCaps {
    const n = this.threads;
    return { train: false, f16Storage: this.packHalf, computesApart: false, subgroupSize: 0, maxBindingBytes: 0xffff0000, device: `WebAssembly ${kernelsRelaxed() ? 'relaxed SIMD (fused multiply-add)' : 'SIMD'} (${n} thread${n > 1 ? 's' : ''})` };
  }
  protected readonly ropeTables = new Map<string, number>();
  /**
   * Whether upload's half stores 16-bit patterns (the inference kernels widen them); WasmTrainOps keeps f32 storage
   * holding rounded values, as its training GEMMs read f32 only.
   */
  protected get packHalf(): boolean { return true; }
  /** pool: workers over this instance's shared memory (the threads build), or null for one thread. */
  constructor(protected k: Kernels, protected readonly pool: WasmPool | null = null, protected readonly poolMinMacs = POOL_MIN_MACS) {}

  /** threads including the calling one */
  get threads(): number { return this.pool?.threads ?? 1; }

  /** Byte address of a live buffer (throws on a freed or foreign one). */
  protected p(b: Buf): number {
    if (!(b instanceof WasmBuf) || b.owner !== this || b.ptr === 0) {
      throw new Error('webtune wasm: buffer is freed or not from this backend');
    }
    return b.ptr;
  }

  /** A fresh view of a buffer in its own dtype (memory.buffer changes whenever memory grows). */
  protected view(b: Buf, length = b.length): Float32Array | Int32Array {
    if (length > b.length) throw new Error(`webtune wasm: ${length} elements requested from a buffer of ${b.length}`);
    return b.dtype === 'i32' ? new Int32Array(this.k.memory.buffer, this.p(b), length)
      : new Float32Array(this.k.memory.buffer, this.p(b), length);
  }

  /** Byte addresses of buffers, checked to hold at least the elements a kernel will touch (f32 or i32 storage). */
  protected ptrs(...pairs: [Buf, number][]): number[] {
    return pairs.map(([b, n]) => {
      if (n > b.length) throw new Error(`webtune wasm: kernel needs ${n} elements, buffer has ${b.length}`);
      if ((b as WasmBuf).packed) throw new Error('webtune wasm: this kernel reads f32, not a 16-bit weight (Ops.upload\'s half)');
      return this.p(b);
    });
  }

  /** A weight's byte address and format code (0 f32, else WEIGHT_FORMAT), checked to hold n elements. */
  protected weight(w: Buf, n: number): [number, number] {
    if (n > w.length) throw new Error(`webtune wasm: kernel needs ${n} elements, buffer has ${w.length}`);
    const b = w as WasmBuf;
    return [this.p(b), !b.packed ? 0 : b.half === 'bf16' ? W_BF16 : b.finite ? W_F16_FINITE : W_F16];
  }

  /** Check index values (token ids, positions) before a kernel uses them as row offsets. */
  protected checkIndices(idx: Buf, T: number, limit: number, what: string): void {
    const v = new Int32Array(this.k.memory.buffer, this.p(idx), T);
    for (let t = 0; t < T; t++) {
      if (v[t] < 0 || v[t] >= limit) throw new Error(`webtune wasm: ${what} ${v[t]} out of range [0, ${limit})`);
    }
  }

  private allocRaw(length: number, dtype: DType): WasmBuf {
    // wasm32 addresses 4 GiB; a larger size would wrap when passed as an i32.
    if (!Number.isInteger(length) || length < 0 || length * 4 > 0xffff0000) {
      throw new Error(`webtune wasm: cannot allocate ${length} elements (wasm memory is limited to 4 GiB)`);
    }
    const ptr = this.k.alloc(length * 4) >>> 0;
    if (ptr === 0) throw new Error(`webtune wasm: out of memory allocating ${length * 4} bytes`);
    return new WasmBuf(this, ptr, length, dtype);
  }

  alloc(length: number, dtype: DType = 'f32'): Buf {
    const b = this.allocRaw(length, dtype);
    this.view(b).fill(0); // blocks can be reused, so zero explicitly
    return b;
  }

  allocCache(length: number, half: Half | false): Buf {
    const b = this.alloc(length) as WasmBuf;
    b.half = half;
    return b;
  }

  upload(data: Float32Array | Int32Array, _rowLength?: number, half: Half | false = false): Buf {
    if (half && data instanceof Float32Array && this.packHalf) {
      // 16-bit patterns, 2 bytes an element (bf16: a checkpoint's values exactly)
      const ptr = data.length ? this.k.alloc(data.length * 2) >>> 0 : this.k.alloc(16) >>> 0;
      if (ptr === 0) throw new Error(`webtune wasm: out of memory allocating ${data.length * 2} bytes`);
      const b = new WasmBuf(this, ptr, data.length, 'f32');
      b.half = half;
      b.packed = true;
      this.setBits(b, data);
      return b;
    }
    if (half && data instanceof Float32Array) data = roundToHalf(data, half);  // 16-bit values in f32 storage (see Ops.upload)
    const b = this.allocRaw(data.length, data instanceof Int32Array ? 'i32' : 'f32');
    if (data instanceof Float32Array) b.half = half;
    this.view(b).set(data); // one bulk copy
    return b;
  }

  private setBits(b: WasmBuf, data: Float32Array | Int32Array): void {
    const bits = new Uint16Array(this.k.memory.buffer, this.p(b), data.length), f = halfBits(b.half as Half);
    let finite = true;
    for (let i = 0; i < data.length; i++) { const h = (bits[i] = f(data[i])); if ((h & 0x7c00) === 0x7c00) finite = false; }
    b.finite = finite && data.length === b.length;  // a partial write leaves the rest unchecked
  }

  // Like the reference: values convert between dtypes (an Int32Array written to an f32 buffer stays numeric).
  write(buf: Buf, data: Float32Array | Int32Array): void {
    if (data.length > buf.length) throw new Error(`webtune wasm: ${data.length} elements written to a buffer of ${buf.length}`);
    if ((buf as WasmBuf).packed) { this.setBits(buf as WasmBuf, data); return; }
    const half = (buf as WasmBuf).half;
    this.view(buf, data.length).set(half ? roundToHalf(Float32Array.from(data), half) : data);
  }

  // Copies (a bulk slice when the dtype matches, converting values otherwise, as the reference does).
  async read(buf: Buf, length = buf.length): Promise<Float32Array> {
    const b = buf as WasmBuf;
    if (b.packed) {
      if (length > b.length) throw new Error(`webtune wasm: ${length} elements requested from a buffer of ${b.length}`);
      const bits = new Uint16Array(this.k.memory.buffer, this.p(b), length), f = halfValue(b.half as Half);
      return Float32Array.from(bits, (h) => f(h));
    }
    const v = this.view(buf, length);
    return v instanceof Float32Array ? v.slice() : Float32Array.from(v);
  }
  async readI32(buf: Buf, length = buf.length): Promise<Int32Array> {
    const v = this.view(buf, length);
    return v instanceof Int32Array ? v.slice() : Int32Array.from(v);
  }

  free(buf: Buf): void {
    const b = buf as WasmBuf;
    if (b.ptr === 0) return; // freeing twice is harmless
    this.k.free(this.p(b));
    b.ptr = 0;
  }

  destroy(): void {
    this.pool?.destroy();
    // Dropping the instance releases its memory; make later use fail loudly instead of touching freed state.
    this.k = null as unknown as Kernels;
  }

  embedding(out: Buf, table: Buf, ids: Buf, T: number, dim: number): void {
    const [o, id] = this.ptrs([out, T * dim], [ids, T]), [tb, wt] = this.weight(table, dim);
    this.checkIndices(ids, T, Math.floor(table.length / dim), 'token id');
    if (wt) this.k.embeddingHalf(o, tb, id, T, dim, wt);
    else this.k.embedding(o, tb, id, T, dim);
  }
  rmsnorm(out: Buf, x: Buf, w: Buf, T: number, dim: number, eps: number): void {
    const [o, xp, wp] = this.ptrs([out, T * dim], [x, T * dim], [w, dim]);
    this.k.rmsnorm(o, xp, wp, T, dim, eps);
  }
  matmul(out: Buf, x: Buf, w: Buf, M: number, N: number, K: number, bias: Buf | null = null, glu: GluStore | null = null): void {
    this.matmulOnly(out, x, w, M, N, K);
    if (bias) this.addBias(out, bias, M, N);
    gluAfter(this, out, glu, M * N);
  }
  private matmulOnly(out: Buf, x: Buf, w: Buf, M: number, N: number, K: number): void {
    const [o, xp] = this.ptrs([out, M * N], [x, M * K]), [wp, wt] = this.weight(w, N * K);
    if (!this.pool || M * N * K < this.poolMinMacs || N < 16) { this.k.matmul(o, xp, wp, M, N, K, wt); return; }
    // Columns in multiples of 8 per thread; each share computes its outputs exactly as the whole call would.
    const t = this.threads, per = Math.ceil(N / 8 / t) * 8, bytes = this.k.matmulScratchBytes(K);
    const scratch = this.k.alloc(t * bytes) >>> 0;
    if (scratch === 0) throw new Error('webtune wasm: out of memory in matmul');
    try {
      const shares: number[][] = [];
      for (let i = 0; i < t && i * per < N; i++) shares.push([o, xp, wp, M, N, K, i * per, Math.min(N, (i + 1) * per), scratch + i * bytes, wt]);
      this.pool.run('matmulShare', shares);
    } finally { this.k.free(scratch); }
  }
  /**
   * One dispatch for all parts: thread i takes the i-th column range of every part (as matmul splits each), listed in
   * a table of (out, w, N, n0, n1, weight format) records that matmulShareList walks. Saves the pool round trips of separate calls
   * (decode: q/k/v and gate/up are short products, so a round trip is a visible share of each).
   */
  matmuls(x: Buf, M: number, K: number, parts: readonly MatmulPart[]): void {
    const macs = parts.reduce((s, p) => s + M * p.N * K, 0);
    if (!this.pool || parts.length === 1 || macs < this.poolMinMacs) { for (const p of parts) this.matmul(p.out, x, p.w, M, p.N, K, p.bias, p.glu); return; }
    const [xp] = this.ptrs([x, M * K]);
    const ps = parts.map((p) => {
      const [o] = this.ptrs([p.out, M * p.N]), [w, wt] = this.weight(p.w, p.N * K);
      return { o, w, wt, N: p.N, per: Math.ceil(p.N / 8 / this.threads) * 8 };
    });
    const t = this.threads, bytes = this.k.matmulScratchBytes(K), rec = 24;
    const block = this.k.alloc(t * bytes + t * parts.length * rec) >>> 0;
    if (block === 0) throw new Error('webtune wasm: out of memory in matmuls');
    try {
      const shares: number[][] = [];
      for (let i = 0; i < t; i++) {
        const table = block + t * bytes + i * parts.length * rec, view = new Int32Array(this.k.memory.buffer, table, parts.length * 6);
        let count = 0;
        for (const p of ps) {
          const n0 = i * p.per, n1 = Math.min(p.N, (i + 1) * p.per);
          if (n0 < n1) view.set([p.o, p.w, p.N, n0, n1, p.wt], 6 * count++);
        }
        if (count) shares.push([table, count, xp, M, K, block + i * bytes]);
      }
      this.pool.run('matmulShareList', shares);
    } finally { this.k.free(block); }
    for (const p of parts) { if (p.bias) this.addBias(p.out, p.bias, M, p.N); gluAfter(this, p.out, p.glu, M * p.N); }
  }
  rope(x: Buf, pos: Buf, T: number, nHeads: number, headDim: number, freqs: RopeFreqs): void {
    if (headDim % 2) throw new Error(`webtune wasm: rope needs an even headDim, got ${headDim}`);
    const [xp, p] = this.ptrs([x, T * nHeads * headDim], [pos, T]);
    this.k.rope(xp, p, T, nHeads, headDim, this.ropeTable(freqs, headDim));
  }
  /** Byte address of the f64 inverse-frequency table in wasm memory, one per distinct table (kept until destroy). */
  protected ropeTable(freqs: RopeFreqs, headDim: number): number {
    const key = ropeKey(freqs, headDim);
    let ptr = this.ropeTables.get(key);
    if (ptr === undefined) {
      const inv = ropeInvFreqTable(freqs, headDim);
      ptr = this.k.alloc(Math.max(8, inv.length * 8)) >>> 0;
      if (ptr === 0) throw new Error('webtune wasm: out of memory allocating a RoPE table');
      new Float64Array(this.k.memory.buffer, ptr, inv.length).set(inv);
      this.ropeTables.set(key, ptr);
    }
    return ptr;
  }
  kvStore(cache: Buf, src: Buf, pos: Buf, T: number, width: number): void {
    const [c, s, p] = this.ptrs([cache, width], [src, T * width], [pos, T]);
    this.checkIndices(pos, T, Math.floor(cache.length / width), 'position');
    this.k.kvStore(c, s, p, T, width);
    const half = (cache as WasmBuf).half;
    if (half) {  // round the rows just stored (a decode step: one row per layer)
      const rows = this.view(cache) as Float32Array, positions = this.view(pos, T) as Int32Array;
      for (let t = 0; t < T; t++) {
        const at = positions[t] * width;
        rows.set(roundToHalf(rows.subarray(at, at + width), half), at);
      }
    }
  }
  attention(out: Buf, q: Buf, kCache: Buf, vCache: Buf, pos: Buf,
    T: number, nHeads: number, nKvHeads: number, headDim: number): void {
    if (nHeads % nKvHeads) throw new Error(`webtune wasm: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
    const kvWidth = nKvHeads * headDim;
    const [o, qp, k, v, p] = this.ptrs([out, T * nHeads * headDim], [q, T * nHeads * headDim],
      [kCache, kvWidth], [vCache, kvWidth], [pos, T]);
    this.checkIndices(pos, T, Math.floor(Math.min(kCache.length, vCache.length) / kvWidth), 'position');
    this.k.attention(o, qp, k, v, p, T, nHeads, nKvHeads, headDim);
  }
  swiglu(out: Buf, gate: Buf, up: Buf, n: number): void {
    const [o, g, u] = this.ptrs([out, n], [gate, n], [up, n]);
    this.k.swiglu(o, g, u, n);
  }
  add(out: Buf, a: Buf, b: Buf, n: number): void {
    const [o, ap, bp] = this.ptrs([out, n], [a, n], [b, n]);
    this.k.add(o, ap, bp, n);
  }
  addBias(x: Buf, bias: Buf, rows: number, dim: number): void {
    const [xp, bp] = this.ptrs([x, rows * dim], [bias, dim]);
    this.k.addBias(xp, bp, rows, dim);
  }
}

/** The kernels a thread pool splits (the rest are memory-bound or small and run on the calling thread). */
const POOLED = ['matmulShare', 'matmulShareList', 'gemm', 'attentionTrain', 'attentionBackward'];

/**
 * The kernels for `threads` threads: > 1 (where the runtime has threads), the threads build on one shared memory
 * with a worker pool (wasm-pool.ts); otherwise the single-threaded build and no pool.
 */
export async function instantiateKernels(threads = 1): Promise<{ exports: WebAssembly.Exports; pool: WasmPool | null }> {
  if (Math.floor(threads) > 1 && !threadsUnavailable()) {
    const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
    const instance = await instantiateWasm('kernels-threads', { env: { memory } });
    const pool = await createWasmPool(await wasmModule('kernels-threads'), memory, instance.exports, POOLED, Math.floor(threads));
    if (pool) return { exports: { ...instance.exports, memory }, pool };
  }
  return { exports: (await instantiateWasm('kernels')).exports, pool: null };
}

/** Inference Ops on WASM SIMD; threads > 1 splits the matrix products across a worker pool. */
export async function createWasmOps(opts: { threads?: number; poolMinMacs?: number } = {}): Promise<WasmOps> {
  const { exports, pool } = await instantiateKernels(opts.threads);
  return new WasmOps(exports as unknown as Kernels, pool, opts.poolMinMacs);
}
