// The kernel interface every compute backend implements (WebGPU, WASM, plain TypeScript reference).
// Model code (models/llama.ts) is written once against it; a backend decides how to run each op.
//
// Conventions (Hugging Face / PyTorch):
// - Tensors are row-major f32, or i32 for ids/positions. A Buf is an opaque handle to device memory.
// - Linear weights are [out_features, in_features]; matmul computes out[M,N] = x[M,K] · W[N,K]ᵀ.
// - RoPE is rotate-half (HF Llama): within each head, element i pairs with i + headDim/2.
// - Ops may be recorded lazily (WebGPU batches them per submit); `read` flushes and returns host data.

export type DType = 'f32' | 'i32';

export interface Buf {
  /** number of 4-byte elements */
  readonly length: number;
  readonly dtype: DType;
}

export interface Ops {
  readonly name: 'webgpu' | 'wasm' | 'reference';

  /** Allocate a zero-filled buffer of `length` elements. */
  alloc(length: number, dtype?: DType): Buf;
  /** Allocate and fill from host data (weights, inputs). */
  upload(data: Float32Array | Int32Array): Buf;
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
  /** out[M,N] = x[M,K] · w[N,K]ᵀ */
  matmul(out: Buf, x: Buf, w: Buf, M: number, N: number, K: number): void;
  /**
   * In place rotate-half RoPE on x [T, nHeads*headDim] at positions pos (i32 [T]):
   * for i < headDim/2, θ = pos · theta^(-2i/headDim); (a, b) = (x[i], x[i+h/2]) → (a cosθ − b sinθ, b cosθ + a sinθ).
   */
  rope(x: Buf, pos: Buf, T: number, nHeads: number, headDim: number, theta: number): void;
  /** cache[pos[t], :] = src[t, :]   cache [maxSeq, width], src [T, width] */
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
