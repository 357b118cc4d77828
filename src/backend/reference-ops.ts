// Plain TypeScript implementation of Ops: the readable reference every kernel is tested against.
// Straightforward loops, f32 storage, f64 accumulation where it keeps the reference honest.
import { gluAfter, matmulsInTurn, roundToHalf, ropeInvFreqTable, type BackendCaps, type Buf, type DType, type GluStore, type Half, type MatmulPart, type Ops, type RopeFreqs } from '../../core/ops.ts';

class HostBuf implements Buf {
  /** half: a 16-bit tensor (Ops.upload's half, allocCache's), held as f32 values rounded to it on every store */
  constructor(readonly data: Float32Array | Int32Array, readonly dtype: DType, readonly half: Half | false = false) {}
  get length() { return this.data.length; }
}

const f = (b: Buf) => (b as HostBuf).data as Float32Array;
const i = (b: Buf) => (b as HostBuf).data as Int32Array;

export class ReferenceOps implements Ops {
  readonly name = 'reference' as const;
  get caps(): BackendCaps {
    return { train: false, f16Storage: false, computesApart: false, subgroupSize: 0, maxBindingBytes: Number.MAX_SAFE_INTEGER, device: 'reference CPU kernels (plain TypeScript)' };
  }

  alloc(length: number, dtype: DType = 'f32'): Buf {
    return new HostBuf(dtype === 'f32' ? new Float32Array(length) : new Int32Array(length), dtype);
  }
  allocCache(length: number, half: Half | false): Buf { return new HostBuf(new Float32Array(length), 'f32', half); }
  upload(data: Float32Array | Int32Array, _rowLength?: number, half: Half | false = false): Buf {
    if (half && data instanceof Float32Array) return new HostBuf(roundToHalf(data, half), 'f32', half);  // 16-bit values, f32 arithmetic
    return new HostBuf(data.slice(), data instanceof Int32Array ? 'i32' : 'f32');
  }
  write(buf: Buf, data: Float32Array | Int32Array): void {
    const half = (buf as HostBuf).half;
    (buf as HostBuf).data.set(half ? roundToHalf(Float32Array.from(data), half) : data);
  }
  async read(buf: Buf, length = buf.length) { return Float32Array.from(f(buf).subarray(0, length)); }
  async readI32(buf: Buf, length = buf.length) { return Int32Array.from(i(buf).subarray(0, length)); }
  free(_buf: Buf): void {}
  destroy(): void {}

  embedding(out: Buf, table: Buf, ids: Buf, T: number, dim: number): void {
    for (let t = 0; t < T; t++) f(out).set(f(table).subarray(i(ids)[t] * dim, (i(ids)[t] + 1) * dim), t * dim);
  }

  rmsnorm(out: Buf, x: Buf, w: Buf, T: number, dim: number, eps: number): void {
    const o = f(out), xs = f(x), ws = f(w);
    for (let t = 0; t < T; t++) {
      let ss = 0;
      for (let j = 0; j < dim; j++) ss += xs[t * dim + j] ** 2;
      const scale = 1 / Math.sqrt(ss / dim + eps);
      for (let j = 0; j < dim; j++) o[t * dim + j] = xs[t * dim + j] * scale * ws[j];
    }
  }

  matmul(out: Buf, x: Buf, w: Buf, M: number, N: number, K: number, bias: Buf | null = null, glu: GluStore | null = null): void {
    const o = f(out), xs = f(x), ws = f(w), b = bias && f(bias);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += xs[m * K + k] * ws[n * K + k];
        o[m * N + n] = b ? acc + b[n] : acc;
      }
    }
    gluAfter(this, out, glu, M * N);
  }

  matmuls(x: Buf, M: number, K: number, parts: readonly MatmulPart[]): void { matmulsInTurn(this, x, M, K, parts); }

  rope(x: Buf, pos: Buf, T: number, nHeads: number, headDim: number, freqs: RopeFreqs): void {
    const xs = f(x), half = headDim / 2, inv = ropeInvFreqTable(freqs, headDim);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < nHeads; h++) {
        const base = (t * nHeads + h) * headDim;
        for (let j = 0; j < half; j++) {
          const angle = i(pos)[t] * inv[j];
          const c = Math.cos(angle), s = Math.sin(angle);
          const a = xs[base + j], b = xs[base + j + half];
          xs[base + j] = a * c - b * s;
          xs[base + j + half] = b * c + a * s;
        }
      }
    }
  }

  kvStore(cache: Buf, src: Buf, pos: Buf, T: number, width: number): void {
    for (let t = 0; t < T; t++) {
      const row = f(src).subarray(t * width, (t + 1) * width);
      const half = (cache as HostBuf).half;
      f(cache).set(half ? roundToHalf(row, half) : row, i(pos)[t] * width);
    }
  }

  attention(out: Buf, q: Buf, kCache: Buf, vCache: Buf, pos: Buf,
    T: number, nHeads: number, nKvHeads: number, headDim: number): void {
    const o = f(out), qs = f(q), ks = f(kCache), vs = f(vCache);
    const group = nHeads / nKvHeads, kvWidth = nKvHeads * headDim, scale = 1 / Math.sqrt(headDim);
    for (let t = 0; t < T; t++) {
      const len = i(pos)[t] + 1;
      for (let h = 0; h < nHeads; h++) {
        const qo = (t * nHeads + h) * headDim, kvo = Math.floor(h / group) * headDim;
        const scores = new Float64Array(len);
        let max = -Infinity;
        for (let s = 0; s < len; s++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += qs[qo + d] * ks[s * kvWidth + kvo + d];
          scores[s] = dot * scale;
          max = Math.max(max, scores[s]);
        }
        let sum = 0;
        for (let s = 0; s < len; s++) sum += (scores[s] = Math.exp(scores[s] - max));
        for (let d = 0; d < headDim; d++) {
          let acc = 0;
          for (let s = 0; s < len; s++) acc += scores[s] * vs[s * kvWidth + kvo + d];
          o[qo + d] = acc / sum;
        }
      }
    }
  }

  addBias(x: Buf, bias: Buf, rows: number, dim: number): void {
    const xs = f(x), b = f(bias);
    for (let r = 0; r < rows; r++) for (let j = 0; j < dim; j++) xs[r * dim + j] += b[j];
  }

  swiglu(out: Buf, gate: Buf, up: Buf, n: number): void {
    const o = f(out), g = f(gate), u = f(up);
    for (let j = 0; j < n; j++) o[j] = (g[j] / (1 + Math.exp(-g[j]))) * u[j];
  }

  add(out: Buf, a: Buf, b: Buf, n: number): void {
    const o = f(out), as = f(a), bs = f(b);
    for (let j = 0; j < n; j++) o[j] = as[j] + bs[j];
  }
}
