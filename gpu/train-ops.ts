/// <reference types="@webgpu/types" />
// WebGPU TrainOps: the backward kernels and optimizer updates, on WebGpuOps' pipeline/uniform/bind-group caches and
// its single command encoder. Kernels are the gpu/train-*.wgsl files beside this one.
//
// Choices that shape this file:
// - One strided GEMM (train-gemm.wgsl) with the operand layouts as pipeline constants serves dX = dY·W,
//   dW += dYᵀ·X and the vocabulary chunks of the fused cross-entropy; register-blocked on CPU adapters and
//   shared-memory tiled on GPUs, following the forward matmul's strategy and tile config. Attention follows the
//   same split: one invocation per (row, head) without barriers on CPU adapters (train-attention-serial*.wgsl),
//   one workgroup per (row, head) sharing the keys across invocations on GPUs.
// - WGSL has no float atomics, so every reduction has a single writer: dk/dv are computed per key (not scattered
//   from queries), embedding rows are summed per distinct id, the RMSNorm weight gradient per column.
// - Scratch buffers (RMSNorm 1/rms, attention (lse, D), cross-entropy logits chunk and stats, ...) are kept per
//   purpose and grown on demand; dispatches are ordered, so one scratch serves every call.
// - Step-dependent scalars (AdamW bias corrections, lr, clip factor) live in a small pool of storage buffers
//   rather than in uniforms, whose cache would otherwise gain new objects every step.
import type { Buf, DType } from '../src/backend/ops.ts';
import type { TrainOps } from '../src/backend/train-ops.ts';
import type { GpuContext } from '../runtime/webgpu.ts';
import { WebGpuOps, type WebGpuOpsOptions } from './webgpu-ops.ts';
import ropeSrc from './rope.wgsl';
import gemmSrc from './train-gemm.wgsl';
import gemmRegister from './train-gemm-register.wgsl';
import gemmTiled from './train-gemm-tiled.wgsl';
import rmsBackSrc from './train-rmsnorm-backward.wgsl';
import rmsDwSrc from './train-rmsnorm-dw.wgsl';
import attnSrc from './train-attention.wgsl';
import attnSerialSrc from './train-attention-serial.wgsl';
import attnSerialDqSrc from './train-attention-serial-dq.wgsl';
import attnSerialDkvSrc from './train-attention-serial-dkv.wgsl';
import attnPreSrc from './train-attention-pre.wgsl';
import attnDqSrc from './train-attention-dq.wgsl';
import attnDkvSrc from './train-attention-dkv.wgsl';
import swigluBackSrc from './train-swiglu-backward.wgsl';
import embLinksSrc from './train-embedding-links.wgsl';
import embBackSrc from './train-embedding-backward.wgsl';
import ceStatsSrc from './train-ce-stats.wgsl';
import ceFinishSrc from './train-ce-finish.wgsl';
import ceGradSrc from './train-ce-grad.wgsl';
import adamwSrc from './train-adamw.wgsl';
import sgdSrc from './train-sgd.wgsl';
import scaleSrc from './train-scale.wgsl';
import sumsqSrc from './train-sumsq.wgsl';

const F32 = new Float32Array(1), U32 = new Uint32Array(F32.buffer);
const f32bits = (v: number) => { F32[0] = v; return U32[0]; };
const GRID = 65535;  // the guaranteed workgroups per dimension; row grids spill into y (see the WGSL)
const HYPER_POOL = 16;
const SUMSQ_GROUPS = 256;

/** Host-side shape checks: a too-small buffer would otherwise read or drop data silently on the GPU. */
function check(op: string, ...items: [Buf, number, DType?][]) {
  for (const [b, n, dtype] of items) {
    if (b.length < n) throw new Error(`webgpu: ${op} needs a buffer of ${n} elements, got ${b.length}`);
    if (dtype && b.dtype !== dtype) throw new Error(`webgpu: ${op} needs an ${dtype} buffer, got ${b.dtype}`);
  }
}

/** Outputs may alias nothing (WebGPU rejects a writable binding of a buffer bound twice); inputs may repeat. */
function noAlias(op: string, outputs: Buf[], inputs: Buf[]) {
  const all = [...outputs, ...inputs];
  for (const o of outputs) {
    if (all.indexOf(o) !== all.lastIndexOf(o)) throw new Error(`webgpu: ${op}: an output buffer is also another argument`);
  }
}

/** WGSL for the attention kernels' packing mask: sameSeg(a, b) compares two rows' segment ids (true without seg). */
function maskPrelude(segBinding: number | null): string {
  return segBinding === null ? 'fn sameSeg(a: u32, b: u32) -> bool { return true; }\n'
    : `@group(0) @binding(${segBinding}) var<storage, read> seg: array<i32>;\n` +
      'fn sameSeg(a: u32, b: u32) -> bool { return seg[a] == seg[b]; }\n';
}

export class WebGpuTrainOps extends WebGpuOps implements TrainOps {
  private readonly scratch = new Map<string, Buf>();
  private hyperPool: { key: string; buf: Buf; used: number }[] = [];
  private clock = 0;

  /** The scratch buffer for `purpose`, at least n elements. */
  private scratchBuf(purpose: string, n: number, dtype: DType = 'f32'): Buf {
    let b = this.scratch.get(purpose);
    if (!b || b.length < n) {
      if (b) this.free(b);
      b = this.alloc(Math.max(n, 4), dtype);
      this.scratch.set(purpose, b);
    }
    return b;
  }

  /** A storage buffer holding `values` (≤ 8 f32), from a small LRU pool keyed by the values. */
  private hyper(values: number[]): Buf {
    const data = new Float32Array(8);
    data.set(values);
    const key = data.join(',');
    let e = this.hyperPool.find((h) => h.key === key);
    if (!e) {
      if (this.hyperPool.length < HYPER_POOL) this.hyperPool.push(e = { key, buf: this.alloc(8), used: 0 });
      else e = this.hyperPool.reduce((a, b) => (a.used <= b.used ? a : b));
      e.key = key;
      this.write(e.buf, data);  // ordered after the recorded ops that read the old values (write flushes them)
    }
    e.used = ++this.clock;
    return e.buf;
  }

  private rowGrid(rows: number): [number, number] { return [Math.min(rows, GRID), Math.ceil(rows / GRID)]; }
  private strideGrid(n: number, wg: number) { return Math.max(1, Math.min(Math.ceil(n / wg), this.maxGroups)); }

  destroy(): void {
    super.destroy();  // frees every buffer this instance made, scratch and pool included
    this.scratch.clear();
    this.hyperPool = [];
  }

  // ---- matrix products ----

  /** dst[oOff + m·ldo + n] = beta·dst + Σ_k A(m,k)·B(k,n); layouts as in train-gemm.wgsl. */
  private gemm(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, ta: 0 | 1, tb: 0 | 1,
    lda: number, ldb: number, ldo: number, aOff: number, bOff: number, oOff: number, beta: number) {
    if (M === 0 || N === 0) return;
    const params = [M, N, K, lda, ldb, ldo, aOff, bOff, oOff, f32bits(beta)];
    if (this.strategy === 'register') {
      const c = this.config.register;
      this.dispatch(this.kernel('train-gemm-register', gemmSrc + gemmRegister, { TA: ta, TB: tb, ...c }), params,
        [out, a, b], Math.ceil(N / (c.TN * c.WGX)), Math.ceil(M / (c.TM * c.WGY)));
    } else {
      const c = this.config.tiled;
      const consts = { TA: ta, TB: tb, ...c, WGX: c.BN / c.TN, WGY: c.BM / c.TM };
      this.dispatch(this.kernel('train-gemm-tiled', gemmSrc + gemmTiled, consts), params, [out, a, b],
        Math.ceil(N / c.BN), Math.ceil(M / c.BM));
    }
  }

  matmulNN(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta = 0): void {
    check('matmulNN', [out, M * N], [a, M * K], [b, K * N]);
    this.gemm(out, a, b, M, N, K, 0, 0, K, N, N, 0, 0, 0, beta);
  }

  matmulTNAcc(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta: number): void {
    check('matmulTNAcc', [out, M * N], [a, K * M], [b, K * N]);
    this.gemm(out, a, b, M, N, K, 1, 0, M, N, N, 0, 0, 0, beta);
  }

  // ---- layers ----

  rmsnormBackward(dx: Buf, dwAcc: Buf, dy: Buf, x: Buf, w: Buf, rows: number, dim: number, eps: number): void {
    check('rmsnormBackward', [dx, rows * dim], [dwAcc, dim], [dy, rows * dim], [x, rows * dim], [w, dim]);
    noAlias('rmsnormBackward', [dx, dwAcc], [dy, x, w]);
    if (rows === 0) return;
    const rstd = this.scratchBuf('rstd', rows);
    this.dispatch(this.kernel('train-rmsnorm-backward', rmsBackSrc, { WG: this.config.rmsnormWG }),
      [dim, f32bits(eps), rows], [dx, rstd, dy, x, w], ...this.rowGrid(rows));
    this.dispatch(this.kernel('train-rmsnorm-dw', rmsDwSrc), [dim, rows], [dwAcc, dy, x, rstd], Math.ceil(dim / 64));
  }

  ropeBackward(dx: Buf, pos: Buf, rows: number, nHeads: number, headDim: number, theta: number): void {
    check('ropeBackward', [dx, rows * nHeads * headDim], [pos, rows, 'i32']);
    if (headDim % 2) throw new Error(`webgpu: rope needs an even headDim, got ${headDim}`);
    // The forward kernel with the negated frequency table: rotation by −θ is the transpose of rotation by θ.
    const half = headDim / 2;
    this.dispatch(this.kernel('rope', ropeSrc), [nHeads, half], [dx, pos, this.ropeTable(theta, headDim, true)],
      Math.ceil((nHeads * half) / 64), rows);
  }

  private attnCommon(op: string, B: number, T: number, nHeads: number, nKvHeads: number, headDim: number) {
    if (nHeads % nKvHeads) throw new Error(`webgpu: ${op} needs nHeads (${nHeads}) divisible by nKvHeads (${nKvHeads})`);
    return {
      params: [T, nHeads, nHeads / nKvHeads, nKvHeads * headDim, f32bits(1 / Math.sqrt(headDim))],
      consts: { WG: this.config.attentionWG, HEAD_DIM: headDim },
      rows: B * T, qw: nHeads * headDim, kvw: nKvHeads * headDim,
    };
  }

  attentionTrain(out: Buf, lse: Buf, q: Buf, k: Buf, v: Buf, pos: Buf | null, seg: Buf | null,
    B: number, T: number, nHeads: number, nKvHeads: number, headDim: number): void {
    const c = this.attnCommon('attentionTrain', B, T, nHeads, nKvHeads, headDim);
    check('attentionTrain', [out, c.rows * c.qw], [lse, c.rows * nHeads], [q, c.rows * c.qw], [k, c.rows * c.kvw], [v, c.rows * c.kvw]);
    if (seg) check('attentionTrain', [seg, c.rows, 'i32']);
    if (pos) check('attentionTrain', [pos, c.rows, 'i32']);
    noAlias('attentionTrain', [out, lse], [q, k, v]);
    if (this.strategy === 'register') {
      const k0 = this.kernel(`train-attention-serial-${+!!seg}`, maskPrelude(seg ? 6 : null) + attnSerialSrc, { HEAD_DIM: headDim });
      this.dispatch(k0, [...c.params, B], [out, lse, q, k, v, seg], Math.ceil((c.rows * nHeads) / 64));
      return;
    }
    const k0 = this.kernel(`train-attention-${+!!seg}`, maskPrelude(seg ? 6 : null) + attnSrc, c.consts);
    this.dispatch(k0, c.params, [out, lse, q, k, v, seg], nHeads, T, B);
  }

  attentionBackward(dq: Buf, dk: Buf, dv: Buf, dout: Buf, q: Buf, k: Buf, v: Buf, out: Buf, lse: Buf,
    pos: Buf | null, seg: Buf | null, B: number, T: number, nHeads: number, nKvHeads: number, headDim: number): void {
    const c = this.attnCommon('attentionBackward', B, T, nHeads, nKvHeads, headDim);
    check('attentionBackward', [dq, c.rows * c.qw], [dk, c.rows * c.kvw], [dv, c.rows * c.kvw], [dout, c.rows * c.qw],
      [q, c.rows * c.qw], [k, c.rows * c.kvw], [v, c.rows * c.kvw], [out, c.rows * c.qw], [lse, c.rows * nHeads]);
    if (seg) check('attentionBackward', [seg, c.rows, 'i32']);
    if (pos) check('attentionBackward', [pos, c.rows, 'i32']);
    noAlias('attentionBackward', [dq, dk, dv], [dout, q, k, v, out, lse]);
    const n = c.rows * nHeads, stats = this.scratchBuf('attn-stats', 2 * n);
    this.dispatch(this.kernel('train-attention-pre', attnPreSrc), [n, headDim], [stats, dout, out, lse], this.strideGrid(n, 64));
    if (this.strategy === 'register') {
      const hd = { HEAD_DIM: headDim }, params = [...c.params, B];
      const kq = this.kernel(`train-attention-serial-dq-${+!!seg}`, maskPrelude(seg ? 7 : null) + attnSerialDqSrc, hd);
      this.dispatch(kq, params, [dq, q, k, v, dout, stats, seg], Math.ceil(n / 64));
      const kkv = this.kernel(`train-attention-serial-dkv-${+!!seg}`, maskPrelude(seg ? 8 : null) + attnSerialDkvSrc, hd);
      this.dispatch(kkv, params, [dk, dv, q, k, v, dout, stats, seg], Math.ceil((c.rows * nKvHeads) / 64));
      return;
    }
    const kq = this.kernel(`train-attention-dq-${+!!seg}`, maskPrelude(seg ? 7 : null) + attnDqSrc, c.consts);
    this.dispatch(kq, c.params, [dq, q, k, v, dout, stats, seg], nHeads, T, B);
    const kkv = this.kernel(`train-attention-dkv-${+!!seg}`, maskPrelude(seg ? 8 : null) + attnDkvSrc, c.consts);
    this.dispatch(kkv, c.params, [dk, dv, q, k, v, dout, stats, seg], nKvHeads, T, B);
  }

  swigluBackward(dgate: Buf, dup: Buf, dout: Buf, gate: Buf, up: Buf, n: number): void {
    check('swigluBackward', [dgate, n], [dup, n], [dout, n], [gate, n], [up, n]);
    noAlias('swigluBackward', [dgate, dup], [dout, gate, up]);
    this.dispatch(this.kernel('train-swiglu-backward', swigluBackSrc), [n], [dgate, dup, dout, gate, up], this.strideGrid(n, 256));
  }

  embeddingBackward(dtableAcc: Buf, dout: Buf, ids: Buf, rows: number, dim: number): void {
    check('embeddingBackward', [dout, rows * dim], [ids, rows, 'i32']);
    noAlias('embeddingBackward', [dtableAcc], [dout, ids]);
    if (rows === 0) return;
    const links = this.scratchBuf('emb-links', 2 * rows, 'i32');
    this.dispatch(this.kernel('train-embedding-links', embLinksSrc), [rows, Math.floor(dtableAcc.length / dim)],
      [links, ids], this.strideGrid(rows, 64));
    this.dispatch(this.kernel('train-embedding-backward', embBackSrc), [rows, dim], [dtableAcc, dout, ids, links],
      Math.ceil(dim / 64), ...this.rowGrid(rows));
  }

  crossEntropyFused(lossOut: Buf, dhidden: Buf, dheadAcc: Buf, hidden: Buf, head: Buf, labels: Buf,
    rows: number, dim: number, vocab: number, chunk: number, scale: number): void {
    check('crossEntropyFused', [lossOut, rows], [dhidden, rows * dim], [dheadAcc, vocab * dim], [hidden, rows * dim],
      [head, vocab * dim], [labels, rows, 'i32']);
    noAlias('crossEntropyFused', [lossOut, dhidden, dheadAcc], [hidden, head, labels]);
    if (!(chunk >= 1)) throw new Error(`webgpu: crossEntropyFused needs chunk ≥ 1, got ${chunk}`);
    if (rows === 0) return;
    const C = Math.min(Math.floor(chunk), vocab);
    const logits = this.scratchBuf('ce-logits', rows * C), stats = this.scratchBuf('ce-stats', 4 * rows);
    const wg = this.config.rmsnormWG;
    // logits[:, 0..n) = hidden · head[c0..c0+n)ᵀ
    const chunkLogits = (c0: number, n: number) => this.gemm(logits, hidden, head, rows, n, dim, 0, 1, dim, dim, C, 0, c0 * dim, 0, 0);
    for (let c0 = 0; c0 < vocab; c0 += C) {  // pass 1: online logsumexp and the label logit
      const n = Math.min(C, vocab - c0);
      chunkLogits(c0, n);
      this.dispatch(this.kernel('train-ce-stats', ceStatsSrc, { WG: wg }), [C, n, c0, rows], [stats, logits, labels], ...this.rowGrid(rows));
    }
    this.dispatch(this.kernel('train-ce-finish', ceFinishSrc), [rows, vocab], [lossOut, stats, labels], this.strideGrid(rows, 64));
    for (let c0 = 0; c0 < vocab; c0 += C) {  // pass 2: recompute, g = scale·(softmax − onehot), then both products
      const n = Math.min(C, vocab - c0);
      chunkLogits(c0, n);
      this.dispatch(this.kernel('train-ce-grad', ceGradSrc), [C, n, c0, rows, vocab, f32bits(scale)], [logits, stats, labels],
        this.strideGrid(rows * n, 256));
      this.gemm(dhidden, logits, head, rows, dim, n, 0, 0, C, dim, dim, 0, c0 * dim, 0, c0 === 0 ? 0 : 1);
      this.gemm(dheadAcc, logits, hidden, n, dim, rows, 1, 0, C, dim, dim, 0, 0, c0 * dim, 1);
    }
  }

  // ---- optimizer ----

  adamw(param: Buf, grad: Buf, m: Buf, v: Buf, n: number, step: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number): void {
    check('adamw', [param, n], [grad, n], [m, n], [v, n]);
    noAlias('adamw', [param, m, v], [grad]);
    if (!(step >= 1)) throw new Error(`webgpu: adamw steps count from 1, got ${step}`);
    // The scalars torch computes in double precision, rounded to f32 once here.
    const hp = this.hyper([1 - lr * weightDecay, beta1, beta2, eps, lr / (1 - beta1 ** step), Math.sqrt(1 - beta2 ** step)]);
    this.dispatch(this.kernel('train-adamw', adamwSrc), [n], [param, m, v, grad, hp], this.strideGrid(n, 256));
  }

  sgd(param: Buf, grad: Buf, n: number, lr: number): void {
    check('sgd', [param, n], [grad, n]);
    this.dispatch(this.kernel('train-sgd', sgdSrc), [n], [param, grad, this.hyper([lr])], this.strideGrid(n, 256));
  }

  scale(x: Buf, s: number, n: number): void {
    check('scale', [x, n]);
    this.dispatch(this.kernel('train-scale', scaleSrc), [n], [x, this.hyper([s])], this.strideGrid(n, 256));
  }

  sumSquares(out1: Buf, x: Buf, n: number): void {
    check('sumSquares', [out1, 1], [x, n]);
    if (n === 0) return;
    const WG = this.config.rmsnormWG, groups = Math.min(Math.ceil(n / WG), SUMSQ_GROUPS);
    const part = this.scratchBuf('sumsq', SUMSQ_GROUPS);
    this.dispatch(this.kernel('train-sumsq', sumsqSrc, { STAGE: 0, WG }), [n], [part, x], groups);
    this.dispatch(this.kernel('train-sumsq', sumsqSrc, { STAGE: 1, WG }), [groups], [out1, part], 1);
  }
}

export async function createWebGpuTrainOps(gpu: GpuContext, options: WebGpuOpsOptions = {}): Promise<WebGpuTrainOps> {
  return new WebGpuTrainOps(gpu, options);
}
