// TrainOps on the WASM SIMD kernels (asm/kernels/gemm.ts, asm/kernels/train.ts): every training op, forward and
// backward, on the CPU without a GPU or a Vulkan driver. The three GEMM layouts are one strided, packed kernel;
// the fused cross-entropy streams the vocabulary through it chunk by chunk, as the WebGPU backend does.
import { gluAfter, roundToHalf, ropeInvFreqTable, ropeKey, type BackendCaps, type Buf, type GluStore, type Half, type RopeFreqs } from '../../core/ops.ts';
import type { AttentionShape, DropMask, TrainOps } from '../../core/train-ops.ts';
import { instantiateKernels, WasmOps, type Kernels } from './wasm-ops.ts';
import type { WasmPool } from './wasm-pool.ts';

/** The training exports of build/kernels.wasm (pointers are byte offsets). */
interface TrainKernels extends Kernels {
  gemm(c: number, a: number, b: number, M: number, N: number, K: number, beta: number,
    ams: number, aks: number, bks: number, bns: number, mask: number, salt: number, threshold: number,
    mBegin: number, mEnd: number, nBegin: number, nEnd: number, scratch: number): void;
  gemmScratchBytes(): number;
  rmsnormBackward(dx: number, dw: number, dy: number, x: number, w: number, rows: number, dim: number, eps: number): void;
  swigluBackward(dgate: number, dup: number, dout: number, gate: number, up: number, n: number): void;
  embeddingBackward(dtable: number, dout: number, ids: number, rows: number, dim: number, vocab: number): void;
  attentionTrain(out: number, lse: number, q: number, k: number, v: number, seg: number,
    B: number, T: number, nHeads: number, nKv: number, hd: number, kvBegin: number, kvEnd: number, scratch: number): void;
  attentionBackward(dq: number, dk: number, dv: number, dout: number, q: number, k: number, v: number, out: number, lse: number,
    seg: number, B: number, T: number, nHeads: number, nKv: number, hd: number, kvBegin: number, kvEnd: number, scratch: number): void;
  ceStats(logits: number, rows: number, cols: number, c0: number, labels: number, vocab: number, mx: number, sm: number, zl: number): void;
  ceFinish(loss: number, rows: number, labels: number, vocab: number, mx: number, sm: number, zl: number): void;
  ceGrad(logits: number, rows: number, cols: number, c0: number, labels: number, vocab: number, lse: number, scale: number): void;
  adamw(param: number, grad: number, m: number, v: number, n: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, bc1: number, bc2: number): void;
  sgd(param: number, grad: number, n: number, lr: number): void;
  sumSquares(x: number, n: number): number;
  scale(x: number, s: number, n: number): void;
}

/** Which gemm operand a DropMask applies to (asm/kernels/gemm.ts). */
const MASK = { a: 1, b: 2, c: 3 } as const;
/** Element strides of A(m,k) and B(k,n) per layout: [ams, aks, bks, bns] for shapes M, N, K. */
const LAYOUT = {
  NT: (M: number, N: number, K: number) => [K, 1, 1, K],  // a [M,K], b [N,K]
  NN: (M: number, N: number, K: number) => [K, 1, N, 1],  // a [M,K], b [K,N]
  TN: (M: number, N: number, K: number) => [1, M, N, 1],  // a [K,M], b [K,N]
} as const;

export class WasmTrainOps extends WasmOps implements TrainOps {
  override get caps(): BackendCaps { return { ...super.caps, train: true }; }
  /** f32 storage holding rounded values: the training GEMMs (asm/kernels/gemm.ts) read f32 only */
  protected override get packHalf(): boolean { return false; }
  private kt: TrainKernels;
  private readonly negRopeTables = new Map<string, number>();
  /** per-thread GEMM scratch (pool only) */
  private readonly scratch: number[] = [];

  constructor(k: TrainKernels, pool: WasmPool | null = null, poolMinMacs?: number) {
    super(k, pool, poolMinMacs);
    this.kt = k;
    if (pool) {
      for (let t = 0; t < pool.threads; t++) {
        const p = k.alloc(k.gemmScratchBytes()) >>> 0;
        if (p === 0) throw new Error('webtune wasm: out of memory allocating thread scratch');
        this.scratch.push(p);
      }
    }
  }

  override destroy(): void {
    super.destroy();
    this.kt = null as unknown as TrainKernels;
  }

  /** The raw GEMM (gemm.ts), its rows (or, when there are too few, its columns) split across the pool. */
  private gemmRaw(c: number, a: number, b: number, M: number, N: number, K: number, beta: number,
    ams: number, aks: number, bks: number, bns: number, mask: number, salt: number, thr: number): void {
    const args = [c, a, b, M, N, K, beta, ams, aks, bks, bns, mask, salt, thr];
    const t = this.threads;
    if (!this.pool || M * N * K < this.poolMinMacs) { (this.kt.gemm as (...a: number[]) => void)(...args, 0, M, 0, N, 0); return; }
    const shares: number[][] = [];
    const byRows = M >= 8 * t || N < 16 * t, step = byRows ? 4 : 8, extent = byRows ? M : N;
    const per = Math.ceil(extent / step / t) * step;
    for (let i = 0, from = 0; i < t && from < extent; i++, from += per) {
      const to = Math.min(extent, from + per);
      shares.push(byRows ? [...args, from, to, 0, N, this.scratch[i]] : [...args, 0, M, from, to, this.scratch[i]]);
    }
    this.pool.run('gemm', shares);
  }

  /** Attention kernels split by kv heads (each thread owns its heads' dk/dv): per-thread scratch of T floats. */
  private attentionRaw(name: 'attentionTrain' | 'attentionBackward', args: number[], T: number, nKv: number): void {
    const t = Math.min(this.threads, nKv);
    const scratch = this.k.alloc(t * T * 4 + 16) >>> 0;
    if (scratch === 0) throw new Error('webtune wasm: out of memory in attention');
    try {
      if (!this.pool || t === 1) {
        (this.kt[name] as (...a: number[]) => void)(...args, 0, nKv, scratch);
        return;
      }
      const per = Math.ceil(nKv / t), shares: number[][] = [];
      for (let i = 0; i < t && i * per < nKv; i++) shares.push([...args, i * per, Math.min(nKv, (i + 1) * per), scratch + i * T * 4]);
      this.pool.run(name, shares);
    } finally { this.k.free(scratch); }
  }

  private noAlias(out: Buf, ...inputs: (Buf | null)[]): void {
    if (inputs.includes(out)) throw new Error('webtune wasm: an output buffer is also an input of the same op');
  }

  /**
   * One GEMM C[M,N] = beta·C + alpha·A·B in a layout; mask: a DropMask on operand a, b or the product c. The kernel
   * has beta only: alpha ≠ 1 scales C by beta/alpha before and by alpha after (alpha = 0: C scaled by beta alone).
   */
  private gemm(layout: keyof typeof LAYOUT, out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta: number,
    mask: DropMask | null, on: keyof typeof MASK, alpha = 1): void {
    this.noAlias(out, a, b);
    if (alpha === 0) { if (beta === 0) this.zero(out, M * N); else this.scale(out, beta, M * N); return; }
    if (alpha !== 1 && beta !== 0) { this.scale(out, beta / alpha, M * N); beta = 1; }
    const [c, ap, bp] = this.ptrs([out, M * N], [a, M * K], [b, N * K]);
    const [ams, aks, bks, bns] = LAYOUT[layout](M, N, K);
    const salt = mask ? (this.view(mask.salts, mask.index + 1) as Int32Array)[mask.index] : 0;
    this.gemmRaw(c, ap, bp, M, N, K, beta, ams, aks, bks, bns, mask ? MASK[on] : 0, salt, mask ? mask.threshold : 0);
    if (alpha !== 1) this.scale(out, alpha, M * N);
  }

  matmulNT(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta = 0, aMask: DropMask | null = null, alpha = 1,
    glu: GluStore | null = null): void {
    this.gemm('NT', out, a, b, M, N, K, beta, aMask, 'a', alpha);
    gluAfter(this, out, glu, M * N);
  }
  matmulNN(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta = 0, outMask: DropMask | null = null, alpha = 1): void {
    this.gemm('NN', out, a, b, M, N, K, beta, outMask, 'c', alpha);
  }
  matmulTNAcc(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta: number, bMask: DropMask | null = null): void {
    this.gemm('TN', out, a, b, M, N, K, beta, bMask, 'b');
  }

  rmsnormBackward(dx: Buf, dwAcc: Buf, dy: Buf, x: Buf, w: Buf, rows: number, dim: number, eps: number): void {
    this.noAlias(dx, dwAcc, dy, x, w);
    const [dxp, dwp, dyp, xp, wp] = this.ptrs([dx, rows * dim], [dwAcc, dim], [dy, rows * dim], [x, rows * dim], [w, dim]);
    this.kt.rmsnormBackward(dxp, dwp, dyp, xp, wp, rows, dim, eps);
  }

  // The inverse rotation is the forward one by −θ: the rope kernel over a negated frequency table.
  ropeBackward(dx: Buf, pos: Buf, rows: number, nHeads: number, headDim: number, freqs: RopeFreqs): void {
    if (headDim % 2) throw new Error(`webtune wasm: rope needs an even headDim, got ${headDim}`);
    const [xp, p] = this.ptrs([dx, rows * nHeads * headDim], [pos, rows]);
    const key = ropeKey(freqs, headDim);
    let table = this.negRopeTables.get(key);
    if (table === undefined) {
      const inv = ropeInvFreqTable(freqs, headDim).map((f) => -f);
      table = this.k.alloc(Math.max(8, inv.length * 8)) >>> 0;
      if (table === 0) throw new Error('webtune wasm: out of memory allocating a RoPE table');
      new Float64Array(this.k.memory.buffer, table, inv.length).set(inv);
      this.negRopeTables.set(key, table);
    }
    this.k.rope(xp, p, rows, nHeads, headDim, table);
  }

  private attnCheck({ B, T, nHeads, nKvHeads, seg }: AttentionShape): number {
    if (nHeads % nKvHeads) throw new Error(`webtune wasm: nHeads ${nHeads} is not divisible by nKvHeads ${nKvHeads}`);
    return seg ? this.ptrs([seg, B * T])[0] : 0;
  }
  attentionTrain({ out, lse, q, k, v }: { out: Buf; lse: Buf; q: Buf; k: Buf; v: Buf }, shape: AttentionShape): void {
    const { B, T, nHeads: H, nKvHeads: KV, headDim: HD } = shape, rows = B * T, seg = this.attnCheck(shape);
    this.noAlias(out, q, k, v);
    const [o, l, qp, kp, vp] = this.ptrs([out, rows * H * HD], [lse, rows * H], [q, rows * H * HD], [k, rows * KV * HD], [v, rows * KV * HD]);
    this.attentionRaw('attentionTrain', [o, l, qp, kp, vp, seg, B, T, H, KV, HD], T, KV);
  }
  attentionBackward(io: { dq: Buf; dk: Buf; dv: Buf; dout: Buf; q: Buf; k: Buf; v: Buf; out: Buf; lse: Buf }, shape: AttentionShape): void {
    const { B, T, nHeads: H, nKvHeads: KV, headDim: HD } = shape, rows = B * T, seg = this.attnCheck(shape);
    for (const o of [io.dq, io.dk, io.dv]) this.noAlias(o, io.dout, io.q, io.k, io.v, io.out, io.lse);
    const qn = rows * H * HD, kvn = rows * KV * HD;
    const [dq, dk, dv, dout, q, k, v, out, lse] = this.ptrs([io.dq, qn], [io.dk, kvn], [io.dv, kvn], [io.dout, qn], [io.q, qn],
      [io.k, kvn], [io.v, kvn], [io.out, qn], [io.lse, rows * H]);
    this.attentionRaw('attentionBackward', [dq, dk, dv, dout, q, k, v, out, lse, seg, B, T, H, KV, HD], T, KV);
  }

  swigluBackward(dgate: Buf, dup: Buf, dout: Buf, gate: Buf, up: Buf, n: number): void {
    this.noAlias(dgate, dout, gate, up);
    this.noAlias(dup, dout, gate, up);
    const [dg, du, d, g, u] = this.ptrs([dgate, n], [dup, n], [dout, n], [gate, n], [up, n]);
    this.kt.swigluBackward(dg, du, d, g, u, n);
  }

  embeddingBackward(dtableAcc: Buf, dout: Buf, ids: Buf, rows: number, dim: number): void {
    const [dt, d, id] = this.ptrs([dtableAcc, dim], [dout, rows * dim], [ids, rows]);
    this.kt.embeddingBackward(dt, d, id, rows, dim, Math.floor(dtableAcc.length / dim));
  }

  crossEntropyFused({ lossOut, dhidden, dheadAcc, hidden, head, labels }: { lossOut: Buf; dhidden: Buf; dheadAcc: Buf | null; hidden: Buf; head: Buf; labels: Buf },
    { rows, dim, vocab, chunk, scale }: { rows: number; dim: number; vocab: number; chunk: number; scale: number }): void {
    const [lossP, , hid, hd, lab] = this.ptrs([lossOut, rows], [dhidden, rows * dim], [hidden, rows * dim], [head, vocab * dim], [labels, rows]);
    if (dheadAcc) this.ptrs([dheadAcc, vocab * dim]);
    const cols = Math.max(1, Math.min(chunk, vocab));
    // scratch: one chunk of logits (f32) and the per-row running max, sum (f64) and label logit (f32)
    const logits = this.alloc(rows * cols), stats = this.k.alloc(rows * 16 + 16) >>> 0, zl = this.alloc(rows);
    if (stats === 0) throw new Error('webtune wasm: out of memory in crossEntropyFused');
    try {
      const mx = stats, sm = stats + rows * 8;
      new Float64Array(this.k.memory.buffer, mx, rows).fill(-Infinity);
      new Float64Array(this.k.memory.buffer, sm, rows).fill(0);
      const lg = this.p(logits);
      // pass 1: logits chunk by chunk, online logsumexp and the label's logit
      for (let c0 = 0; c0 < vocab; c0 += cols) {
        const n = Math.min(cols, vocab - c0), hc = hd + c0 * dim * 4;
        this.gemmRaw(lg, hid, hc, rows, n, dim, 0, dim, 1, 1, dim, 0, 0, 0);
        this.kt.ceStats(lg, rows, n, c0, lab, vocab, mx, sm, this.p(zl));
      }
      this.kt.ceFinish(lossP, rows, lab, vocab, mx, sm, this.p(zl));
      // pass 2: recompute each chunk, turn it into g = scale·(softmax − onehot), then dhidden = g·head, dhead += gᵀ·hidden
      const dh = this.p(dhidden), dw = dheadAcc ? this.p(dheadAcc) : 0;
      for (let c0 = 0; c0 < vocab; c0 += cols) {
        const n = Math.min(cols, vocab - c0), hc = hd + c0 * dim * 4;
        this.gemmRaw(lg, hid, hc, rows, n, dim, 0, dim, 1, 1, dim, 0, 0, 0);
        this.kt.ceGrad(lg, rows, n, c0, lab, vocab, mx, scale);
        this.gemmRaw(dh, lg, hc, rows, dim, n, c0 === 0 ? 0 : 1, n, 1, dim, 1, 0, 0, 0);
        if (dw) this.gemmRaw(dw + c0 * dim * 4, lg, hid, n, dim, rows, 1, 1, n, dim, 1, 0, 0, 0);
      }
    } finally {
      this.free(logits); this.free(zl); this.k.free(stats);
    }
  }

  adamw(param: Buf, grad: Buf, m: Buf, v: Buf, n: number, step: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number): void {
    const [p, g, mp, vp] = this.ptrs([param, n], [grad, n], [m, n], [v, n]);
    this.kt.adamw(p, g, mp, vp, n, lr, beta1, beta2, eps, weightDecay, 1 - beta1 ** step, 1 - beta2 ** step);
  }
  sgd(param: Buf, grad: Buf, n: number, lr: number): void {
    const [p, g] = this.ptrs([param, n], [grad, n]);
    this.kt.sgd(p, g, n, lr);
  }
  sumSquares(out1: Buf, x: Buf, n: number): void {
    const [o, xp] = this.ptrs([out1, 1], [x, n]);
    const acc = new Float32Array(this.k.memory.buffer, o, 1);
    acc[0] += this.kt.sumSquares(xp, n);
  }
  scale(x: Buf, s: number, n: number): void {
    const [xp] = this.ptrs([x, n]);
    this.kt.scale(xp, s, n);
  }
  zero(x: Buf, n: number): void { this.view(x, n).fill(0); }
  /** On the host: WASM keeps 16-bit tensors as f32 values rounded to them (Ops.upload), once per optimizer step. */
  castHalf(dst: Buf, src: Buf, n: number): void {
    const half = (dst as unknown as { half: Half | false }).half;
    if (!half) throw new Error('wasm: castHalf writes a 16-bit buffer (Ops.upload\'s half)');
    (this.view(dst, n) as Float32Array).set(roundToHalf(this.view(src, n) as Float32Array, half));
  }
}

/** TrainOps on WASM SIMD; threads > 1 splits GEMMs and attention across a worker pool (see instantiateKernels). */
export async function createWasmTrainOps(opts: { threads?: number; poolMinMacs?: number } = {}): Promise<WasmTrainOps> {
  const { exports, pool } = await instantiateKernels(opts.threads);
  return new WasmTrainOps(exports as unknown as TrainKernels, pool, opts.poolMinMacs);
}
