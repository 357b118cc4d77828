// The kernel interface every compute backend implements (WebGPU, WASM, plain TypeScript reference).
// Model code (models/llama.ts) is written once against it; a backend decides how to run each op.
//
// Conventions (Hugging Face / PyTorch):
// - Tensors are row-major f32, or i32 for ids/positions. A Buf is an opaque handle to device memory.
// - Linear weights are [out_features, in_features]; matmul computes out[M,N] = x[M,K] · W[N,K]ᵀ.
// - RoPE is rotate-half (HF Llama): within each head, element i pairs with i + headDim/2.
// - Ops may be recorded lazily (WebGPU batches them per submit); `read` flushes and returns host data.

export type DType = 'f32' | 'i32';

/**
 * 16-bit storage of an f32 tensor (arithmetic stays f32): IEEE binary16, or bfloat16 (an f32's upper 16 bits, as
 * torch.bfloat16 holds it: the same exponent range, 8 bits of mantissa). Rounding is to nearest even, as torch's.
 */
export type Half = 'f16' | 'bf16';

/**
 * RoPE frequencies: a base theta (unscaled, θ_i = theta^(−2i/headDim)), or the inverse frequency of each rotated
 * pair, length headDim/2 (scaled RoPE: models/llama.ts ropeInvFreq builds it from config.json's rope_scaling).
 */
export type RopeFreqs = number | Float64Array;

const ropeKeys = new WeakMap<Float64Array, string>();
/** A cache key for a backend's RoPE table (tables are made once per model, keyed per call: memoised by identity). */
export function ropeKey(freqs: RopeFreqs, headDim: number): string {
  if (typeof freqs === 'number') return `${freqs}:${headDim}`;
  let k = ropeKeys.get(freqs);
  if (k === undefined) ropeKeys.set(freqs, (k = `${freqs.join(',')}:${headDim}`));
  return k;
}

/** The inverse frequency of each of the headDim/2 rotated pairs (radians per position). */
export function ropeInvFreqTable(freqs: RopeFreqs, headDim: number): Float64Array {
  const half = headDim / 2;
  if (typeof freqs !== 'number') {
    if (freqs.length !== half) throw new Error(`rope: ${freqs.length} inverse frequencies for headDim ${headDim}`);
    return freqs;
  }
  return Float64Array.from({ length: half }, (_, j) => Math.pow(freqs, (-2 * j) / headDim));
}

/**
 * The SwiGLU finished as an up projection's product is stored (Ops.matmul's and TrainOps.matmulNT's glu): with v the
 * final value of out's element i, act[i] = silu(gate[i]) · v; without act (inference, which keeps no up), out[i]
 * itself becomes silu(gate[i]) · v. gate and act are laid out as out. The GPU kernels apply it in the GEMM's store
 * (no pass of its own over the activations); other backends run Ops.swiglu after (gluAfter).
 */
export interface GluStore { gate: Buf; act?: Buf }

/** A GluStore as a pass after the product, for backends whose GEMMs do not apply it. */
export function gluAfter(ops: Pick<Ops, 'swiglu'>, out: Buf, glu: GluStore | null | undefined, n: number): void {
  if (glu) ops.swiglu(glu.act ?? out, glu.gate, out, n);
}

/** One product of Ops.matmuls: out [M, N] = x · w[N, K]ᵀ (+ bias [N] per row); glu's gate may be an earlier part's out. */
export interface MatmulPart { out: Buf; w: Buf; N: number; bias?: Buf | null; glu?: GluStore | null }

/** Ops.matmuls as one matmul call per part (for backends that gain nothing from one job). */
export function matmulsInTurn(ops: Pick<Ops, 'matmul'>, x: Buf, M: number, K: number, parts: readonly MatmulPart[]): void {
  for (const p of parts) ops.matmul(p.out, x, p.w, M, p.N, K, p.bias, p.glu);
}

export interface Buf {
  /** number of 4-byte elements */
  readonly length: number;
  readonly dtype: DType;
}

/** What a backend can do: commands choose and configure by these (src/backend/select.ts), not by name or by probing. */
export interface BackendCaps {
  /** implements TrainOps (core/train-ops.ts) */
  train: boolean;
  /** Ops.upload's half and allocCache store 16 bits (else f32 holding values rounded to them) */
  f16Storage: boolean;
  /** the device computes on its own while the JS thread is free (WebGPU), so host work can overlap recorded ops;
   *  else (WASM, reference) each op runs on the calling thread */
  computesApart: boolean;
  /** lanes of every subgroup where the device has one fixed size, else 0 */
  subgroupSize: number;
  /** the largest buffer one kernel binding may address, bytes (weights past it are split by rows) */
  maxBindingBytes: number;
  /** the device in words, for the `device:` line on stderr */
  device: string;
}

export interface Ops {
  readonly name: 'webgpu' | 'wasm' | 'reference';
  readonly caps: BackendCaps;

  /**
   * Allocate a zero-filled buffer of `length` elements. rowLength: the tensor is [length / rowLength, rowLength]
   * rows that a backend may split across several device buffers when it exceeds a binding (WebGPU); give it for
   * weights and their gradients, which the ops below then accept split (as matmul's w, embedding's table, ...).
   */
  alloc(length: number, dtype?: DType, rowLength?: number): Buf;
  /**
   * A zero-filled KV cache of `length` f32 elements; half: 16-bit storage (where the backend can, else f32 holding
   * values rounded to it, so every backend computes the same thing). Only kvStore writes it and attention reads it.
   */
  allocCache(length: number, half: Half | false): Buf;
  /**
   * Allocate and fill from host data (weights, inputs); rowLength as in alloc. half: an f32 weight stored in 16 bits
   * where the backend can (WebGPU: packed two to a u32 word, computed in f32), else kept f32 with its values rounded
   * so that every backend computes the same thing. Such a buffer is read only as matmul's w, embedding's table,
   * TrainOps.matmulNN's b or crossEntropyFused's head, and written only by TrainOps.castHalf.
   */
  upload(data: Float32Array | Int32Array, rowLength?: number, half?: Half | false): Buf;
  /** Overwrite a buffer (or its prefix) from host data; ordered before ops recorded after it. */
  write(buf: Buf, data: Float32Array | Int32Array): void;
  /** Flush pending work and copy `length` elements (default: all) back to the host. */
  read(buf: Buf, length?: number): Promise<Float32Array>;
  readI32(buf: Buf, length?: number): Promise<Int32Array>;
  /** Release device memory. */
  free(buf: Buf): void;
  /** Release the buffers and caches this instance made (a shared GPU device stays; see releaseGPU). */
  destroy(): void;

  /** out[t, :] = table[ids[t], :]   table [vocab, dim], ids i32 [T], out [T, dim] */
  embedding(out: Buf, table: Buf, ids: Buf, T: number, dim: number): void;
  /** out[t] = x[t] / sqrt(mean(x[t]²) + eps) * w   x,out [T, dim], w [dim] */
  rmsnorm(out: Buf, x: Buf, w: Buf, T: number, dim: number, eps: number): void;
  /**
   * out[M,N] = x[M,K] · w[N,K]ᵀ (+ bias[N] on every row: Qwen2's q/k/v biases, added in the GEMM's store where
   * the backend can, else as addBias does); glu: the SwiGLU finished on the result (GluStore)
   */
  matmul(out: Buf, x: Buf, w: Buf, M: number, N: number, K: number, bias?: Buf | null, glu?: GluStore | null): void;
  /**
   * Several products of one input x [M, K] (q/k/v, gate/up), each output exactly what matmul gives; a backend may
   * run them as one job (WASM: one dispatch to its threads, whose shares cover all parts).
   */
  matmuls(x: Buf, M: number, K: number, parts: readonly MatmulPart[]): void;
  /**
   * In place rotate-half RoPE on x [T, nHeads*headDim] at positions pos (i32 [T]):
   * for i < headDim/2, θ = pos · invFreq[i] (ropeInvFreqTable(freqs)); (a, b) = (x[i], x[i+h/2]) → (a cosθ − b sinθ, b cosθ + a sinθ).
   */
  rope(x: Buf, pos: Buf, T: number, nHeads: number, headDim: number, freqs: RopeFreqs): void;
  /** cache[pos[t], :] = src[t, :]   cache [maxSeq, width], src [T, width] (rounded to f16 in a half cache) */
  kvStore(cache: Buf, src: Buf, pos: Buf, T: number, width: number): void;
  /**
   * Causal grouped-query attention against a KV cache.
   * q, out [T, nHeads*headDim]; kCache, vCache [maxSeq, nKvHeads*headDim]; pos i32 [T].
   * Query t attends to cache rows 0..pos[t] inclusive; head h reads kv head floor(h / (nHeads/nKvHeads)).
   * Scores scaled by 1/sqrt(headDim), softmax in f32.
   */
  attention(out: Buf, q: Buf, kCache: Buf, vCache: Buf, pos: Buf,
    T: number, nHeads: number, nKvHeads: number, headDim: number): void;
  /** In place x[r, :] += bias[:] for r < rows   x [rows, dim], bias [dim] (Qwen2's q/k/v biases) */
  addBias(x: Buf, bias: Buf, rows: number, dim: number): void;
  /** out = silu(gate) * up, elementwise over n */
  swiglu(out: Buf, gate: Buf, up: Buf, n: number): void;
  /** out = a + b, elementwise over n (out may alias a) */
  add(out: Buf, a: Buf, b: Buf, n: number): void;
}

// IEEE binary16 conversions (no Float16Array in Node 20): round to nearest even, as torch's .half() does.
const F = new Float32Array(1), U = new Uint32Array(F.buffer);

/** The f16 bit pattern nearest to v. */
export function f32ToF16Bits(v: number): number {
  F[0] = v;
  const x = U[0], sign = (x >>> 16) & 0x8000, exp = (x >>> 23) & 0xff, mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);  // Inf, NaN
  const e = exp - 112;  // the f16 exponent field
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {  // subnormal (or zero): value = h · 2^-24
    if (e < -10) return sign;
    const m = mant | 0x800000, shift = 14 - e, rem = m & ((1 << shift) - 1), halfway = 1 << (shift - 1);
    let h = m >>> shift;
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;  // a carry rolls into the exponent (up to Inf): still nearest
  return sign | h;
}

export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The values rounded to f16 (what a half-precision copy of them holds). */
export function roundToF16(data: Float32Array): Float32Array {
  return data.map((v) => f16BitsToF32(f32ToF16Bits(v)));
}

/** The bfloat16 bit pattern nearest to v (ties to even, as torch's .bfloat16(); NaN stays NaN). */
export function f32ToBf16Bits(v: number): number {
  F[0] = v;
  const x = U[0];
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number { U[0] = (h & 0xffff) << 16; return F[0]; }

/** The 16-bit pattern of v in `half` storage, and back. */
export const halfBits = (half: Half): ((v: number) => number) => (half === 'f16' ? f32ToF16Bits : f32ToBf16Bits);
export const halfValue = (half: Half): ((h: number) => number) => (half === 'f16' ? f16BitsToF32 : bf16BitsToF32);

/** The values rounded to `half` storage (what a 16-bit copy of them holds). */
export function roundToHalf(data: Float32Array, half: Half): Float32Array {
  if (half === 'f16') return roundToF16(data);
  // bf16 in place on the bit patterns (a training step rounds every weight this way: no per-element calls)
  const out = Float32Array.from(data), u = new Uint32Array(out.buffer);
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    u[i] = (x & 0x7fffffff) > 0x7f800000 ? (x | 0x400000) & 0xffff0000 : ((x + 0x7fff + ((x >>> 16) & 1)) & 0xffff0000) >>> 0;
  }
  return out;
}
