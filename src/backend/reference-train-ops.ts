// Plain TypeScript TrainOps: the readable reference for the training kernels (tested against PyTorch autograd,
// and the WebGPU kernels against it). Straightforward loops over f32 storage with f64 accumulation.
import { gluAfter, roundToHalf, ropeInvFreqTable, type BackendCaps, type Buf, type GluStore, type Half, type RopeFreqs } from '../../core/ops.ts';
import { ReferenceOps } from './reference-ops.ts';
import { dropKeep, type AttentionShape, type DropMask, type TrainOps } from '../../core/train-ops.ts';

const f = (b: Buf) => (b as unknown as { data: Float32Array }).data;
const i32 = (b: Buf) => (b as unknown as { data: Int32Array }).data;
/** keep(j) of a DropMask (always true without one) */
const keeper = (mask: DropMask | null) => {
  if (!mask) return () => true;
  const salt = i32(mask.salts)[mask.index] >>> 0;
  return (j: number) => dropKeep(salt, j, mask.threshold);
};
/** A copy of b's data with the mask's dropped elements zeroed (b's own data without a mask). */
const masked = (b: Buf, mask: DropMask | null) => {
  if (!mask) return f(b);
  const keep = keeper(mask);
  return f(b).map((v, j) => (keep(j) ? v : 0));
};

export class ReferenceTrainOps extends ReferenceOps implements TrainOps {
  get caps(): BackendCaps { return { ...super.caps, train: true }; }

  matmulNT(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta = 0, aMask: DropMask | null = null, alpha = 1,
    glu: GluStore | null = null): void {
    const o = f(out), as = masked(a, aMask), bs = f(b);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += as[m * K + k] * bs[n * K + k];
        o[m * N + n] = beta === 0 ? alpha * acc : beta * o[m * N + n] + alpha * acc;
      }
    }
    gluAfter(this, out, glu, M * N);
  }

  matmulNN(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta = 0, outMask: DropMask | null = null, alpha = 1): void {
    const o = f(out), as = f(a), bs = f(b), keep = keeper(outMask);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += as[m * K + k] * bs[k * N + n];
        if (!keep(m * N + n)) acc = 0;
        o[m * N + n] = beta === 0 ? alpha * acc : beta * o[m * N + n] + alpha * acc;
      }
    }
  }

  matmulTNAcc(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta: number, bMask: DropMask | null = null): void {
    const o = f(out), as = f(a), bs = masked(b, bMask);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += as[k * M + m] * bs[k * N + n];
        o[m * N + n] = beta === 0 ? acc : beta * o[m * N + n] + acc;
      }
    }
  }

  rmsnormBackward(dx: Buf, dwAcc: Buf, dy: Buf, x: Buf, w: Buf, rows: number, dim: number, eps: number): void {
    const dxs = f(dx), dws = f(dwAcc), dys = f(dy), xs = f(x), ws = f(w);
    const dw = new Float64Array(dim);
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      let ss = 0, dot = 0;
      for (let j = 0; j < dim; j++) { ss += xs[o + j] ** 2; dot += ws[j] * dys[o + j] * xs[o + j]; }
      const rs = 1 / Math.sqrt(ss / dim + eps);
      for (let j = 0; j < dim; j++) {
        dxs[o + j] = rs * ws[j] * dys[o + j] - xs[o + j] * rs ** 3 / dim * dot;
        dw[j] += dys[o + j] * xs[o + j] * rs;
      }
    }
    for (let j = 0; j < dim; j++) dws[j] += dw[j];
  }

  ropeBackward(dx: Buf, pos: Buf, rows: number, nHeads: number, headDim: number, freqs: RopeFreqs): void {
    const xs = f(dx), half = headDim / 2, inv = ropeInvFreqTable(freqs, headDim);
    for (let t = 0; t < rows; t++) {
      for (let h = 0; h < nHeads; h++) {
        const base = (t * nHeads + h) * headDim;
        for (let j = 0; j < half; j++) {
          const angle = i32(pos)[t] * inv[j];
          const c = Math.cos(angle), s = Math.sin(angle);
          const a = xs[base + j], b = xs[base + j + half];
          xs[base + j] = a * c + b * s;
          xs[base + j + half] = b * c - a * s;
        }
      }
    }
  }

  /** Softmax probabilities of query row (b, t), head h over keys 0..t of the sequence (0 where masked). */
  private probs(q: Float32Array, k: Float32Array, seg: Int32Array | null, b: number, t: number, h: number,
    T: number, nHeads: number, nKvHeads: number, headDim: number) {
    const group = nHeads / nKvHeads, kvw = nKvHeads * headDim, scale = 1 / Math.sqrt(headDim);
    const qo = ((b * T + t) * nHeads + h) * headDim, kvo = Math.floor(h / group) * headDim;
    const p = new Float64Array(t + 1);
    let max = -Infinity;
    for (let s = 0; s <= t; s++) {
      if (seg && seg[b * T + s] !== seg[b * T + t]) { p[s] = -Infinity; continue; }
      let dot = 0;
      for (let d = 0; d < headDim; d++) dot += q[qo + d] * k[(b * T + s) * kvw + kvo + d];
      max = Math.max(max, (p[s] = dot * scale));
    }
    let sum = 0;
    for (let s = 0; s <= t; s++) sum += (p[s] = Math.exp(p[s] - max));
    for (let s = 0; s <= t; s++) p[s] /= sum;
    return { p, lse: max + Math.log(sum), qo, kvo, kvw, scale };
  }

  attentionTrain({ out, lse, q, k, v }: { out: Buf; lse: Buf; q: Buf; k: Buf; v: Buf },
    { B, T, nHeads, nKvHeads, headDim, seg }: AttentionShape): void {
    const o = f(out), vs = f(v), segs = seg ? i32(seg) : null;
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = 0; h < nHeads; h++) {
      const { p, lse: l, qo, kvo, kvw } = this.probs(f(q), f(k), segs, b, t, h, T, nHeads, nKvHeads, headDim);
      f(lse)[(b * T + t) * nHeads + h] = l;
      for (let d = 0; d < headDim; d++) {
        let acc = 0;
        for (let s = 0; s <= t; s++) acc += p[s] * vs[(b * T + s) * kvw + kvo + d];
        o[qo + d] = acc;
      }
    }
  }

  attentionBackward({ dq, dk, dv, dout, q, k, v }: { dq: Buf; dk: Buf; dv: Buf; dout: Buf; q: Buf; k: Buf; v: Buf; out: Buf; lse: Buf },
    { B, T, nHeads, nKvHeads, headDim, seg }: AttentionShape): void {
    // Recomputes the probabilities (the reference needs neither out nor lse): dS = P∘(dP − rowsum(P∘dP)).
    const dqs = f(dq), dks = f(dk), dvs = f(dv), dos = f(dout), qs = f(q), ks = f(k), vs = f(v), segs = seg ? i32(seg) : null;
    const gk = new Float64Array(dks.length), gv = new Float64Array(dvs.length);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = 0; h < nHeads; h++) {
      const { p, qo, kvo, kvw, scale } = this.probs(qs, ks, segs, b, t, h, T, nHeads, nKvHeads, headDim);
      const dp = new Float64Array(t + 1);
      let rowDot = 0;
      for (let s = 0; s <= t; s++) {
        for (let d = 0; d < headDim; d++) dp[s] += dos[qo + d] * vs[(b * T + s) * kvw + kvo + d];
        rowDot += p[s] * dp[s];
      }
      const gq = new Float64Array(headDim);
      for (let s = 0; s <= t; s++) {
        const ds = p[s] * (dp[s] - rowDot) * scale, ko = (b * T + s) * kvw + kvo;
        for (let d = 0; d < headDim; d++) {
          gq[d] += ds * ks[ko + d];
          gk[ko + d] += ds * qs[qo + d];
          gv[ko + d] += p[s] * dos[qo + d];
        }
      }
      for (let d = 0; d < headDim; d++) dqs[qo + d] = gq[d];
    }
    dks.set(gk.subarray(0, B * T * nKvHeads * headDim));
    dvs.set(gv.subarray(0, B * T * nKvHeads * headDim));
  }

  swigluBackward(dgate: Buf, dup: Buf, dout: Buf, gate: Buf, up: Buf, n: number): void {
    const dg = f(dgate), du = f(dup), d = f(dout), g = f(gate), u = f(up);
    for (let j = 0; j < n; j++) {
      const s = 1 / (1 + Math.exp(-g[j]));
      dg[j] = d[j] * u[j] * s * (1 + g[j] * (1 - s));
      du[j] = d[j] * g[j] * s;
    }
  }

  embeddingBackward(dtableAcc: Buf, dout: Buf, ids: Buf, rows: number, dim: number): void {
    const dt = f(dtableAcc), d = f(dout), vocab = dt.length / dim;
    for (let t = 0; t < rows; t++) {
      const id = i32(ids)[t];
      if (id < 0 || id >= vocab) continue;
      for (let j = 0; j < dim; j++) dt[id * dim + j] += d[t * dim + j];
    }
  }

  crossEntropyFused({ lossOut, dhidden, dheadAcc, hidden, head, labels }: { lossOut: Buf; dhidden: Buf; dheadAcc: Buf | null; hidden: Buf; head: Buf; labels: Buf },
    { rows, dim, vocab, scale }: { rows: number; dim: number; vocab: number; chunk: number; scale: number }): void {
    // The reference materialises one row of logits at a time; chunking is a device-memory concern.
    const hs = f(hidden), ws = f(head), dh = f(dhidden), dw = dheadAcc ? f(dheadAcc) : null, ls = f(lossOut);
    const logits = new Float64Array(vocab);
    for (let r = 0; r < rows; r++) {
      const label = i32(labels)[r];
      dh.fill(0, r * dim, (r + 1) * dim);
      if (label < 0 || label >= vocab) { ls[r] = 0; continue; }
      let max = -Infinity;
      for (let c = 0; c < vocab; c++) {
        let z = 0;
        for (let j = 0; j < dim; j++) z += hs[r * dim + j] * ws[c * dim + j];
        max = Math.max(max, (logits[c] = z));
      }
      let sum = 0;
      for (let c = 0; c < vocab; c++) sum += Math.exp(logits[c] - max);
      const lse = max + Math.log(sum);
      ls[r] = lse - logits[label];
      for (let c = 0; c < vocab; c++) {
        const g = scale * (Math.exp(logits[c] - lse) - (c === label ? 1 : 0));
        for (let j = 0; j < dim; j++) {
          dh[r * dim + j] += g * ws[c * dim + j];
          if (dw) dw[c * dim + j] += g * hs[r * dim + j];
        }
      }
    }
  }

  adamw(param: Buf, grad: Buf, m: Buf, v: Buf, n: number, step: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number): void {
    const p = f(param), g = f(grad), ms = f(m), vs = f(v);
    const bc1 = 1 - beta1 ** step, bc2 = 1 - beta2 ** step;
    for (let j = 0; j < n; j++) {
      p[j] *= 1 - lr * weightDecay;
      ms[j] = beta1 * ms[j] + (1 - beta1) * g[j];
      vs[j] = beta2 * vs[j] + (1 - beta2) * g[j] * g[j];
      p[j] -= (lr / bc1) * ms[j] / (Math.sqrt(vs[j]) / Math.sqrt(bc2) + eps);
    }
  }

  sgd(param: Buf, grad: Buf, n: number, lr: number): void {
    const p = f(param), g = f(grad);
    for (let j = 0; j < n; j++) p[j] -= lr * g[j];
  }

  sumSquares(out1: Buf, x: Buf, n: number): void {
    const xs = f(x);
    let acc = 0;
    for (let j = 0; j < n; j++) acc += xs[j] * xs[j];
    f(out1)[0] += acc;
  }

  scale(x: Buf, s: number, n: number): void {
    const xs = f(x);
    for (let j = 0; j < n; j++) xs[j] *= s;
  }
  zero(x: Buf, n: number): void { f(x).fill(0, 0, n); }
  castHalf(dst: Buf, src: Buf, n: number): void {
    const half = (dst as unknown as { half: Half | false }).half;
    if (!half) throw new Error('reference: castHalf writes a 16-bit buffer (Ops.upload\'s half)');
    f(dst).set(roundToHalf(f(src).subarray(0, n), half));
  }
}
