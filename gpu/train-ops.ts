/// <reference types="@webgpu/types" />
// WebGPU TrainOps: the backward kernels and optimizer updates, on WebGpuOps' pipeline/uniform/bind-group caches and
// its single command encoder. Kernels: gpu/ops/ (forward and backward of each operator side by side).
//
// Choices that shape this file:
// - One strided GEMM description (WebGpuOps.gemm, gpu/gemm/: operand layouts, offsets, leading dimensions, beta,
//   dropout mask) serves dX = dY·W, dW += dYᵀ·X and the vocabulary chunks of the fused cross-entropy, as it serves
//   the forward matmul; gemm/policy.ts picks the kernel: CPU adapters' kernels without workgroup memory, shared-memory
//   tiles on GPUs (tile config from KernelConfig.tiled). Attention follows the same split: no barriers on CPU adapters
//   (several query rows per invocation, shared across a subgroup's lanes where there are subgroups), one workgroup
//   per (row, head) sharing the keys across invocations on GPUs: attention/kernel.ts, chosen by attention/policy.ts.
// - CPU adapters (lavapipe), measured: a storage load costs far more than the arithmetic it feeds and barriers are
//   dear, so where operands allow it the GEMMs read vec4s with TM×TN blocks of unrolled accumulators
//   (gemm/vec4.ts; dX = dY·W as dY·(Wᵀ)ᵀ after a transpose), RMSNorm runs a row per invocation and add/SwiGLU a
//   vec4 per step. GPUs keep WebGpuOps' kernels for these. Where the adapter has subgroups of one fixed size
//   (lavapipe: 8) the GEMMs share loads across lanes by broadcast instead (gemm/subgroup.ts, 2–4× the vec4
//   kernels' GFLOP/s), dX = dY·W included without the transpose.
// - WGSL has no float atomics, so every reduction has a single writer: dk/dv are computed per key (not scattered
//   from queries), embedding rows are summed per distinct id, the RMSNorm weight gradient per column.
// - Scratch buffers (RMSNorm 1/rms, attention (lse, D), cross-entropy logits chunk and stats, ...) are kept per
//   purpose and grown on demand; dispatches are ordered, so one scratch serves every call.
// - Step-dependent scalars (AdamW bias corrections, lr, clip factor) live in a small pool of storage buffers
//   rather than in uniforms, whose cache would otherwise gain new objects every step.
// - Weights larger than one binding come split into pieces of whole rows (webgpu-ops.ts create): the GEMMs run per
//   piece with offsets, cross-entropy's vocabulary chunks end at piece boundaries, the embedding gradient is
//   scattered per piece and the optimizers walk the pieces (AdamW's moments may be split differently: by segments).
import type { BackendCaps, Buf, DType, GluStore, RopeFreqs } from '../core/ops.ts';
import type { AttentionShape, DropMask, TrainOps } from '../core/train-ops.ts';
import type { GpuContext } from '../runtime/webgpu.ts';
import { GBuf, WebGpuOps, storageOf, type GemmCall, type WebGpuOpsOptions } from './webgpu-ops.ts';
import { nnViaTranspose } from './gemm/policy.ts';
import { attentionGrid, attentionKernelName, attentionSource, type AttentionKernel } from './attention/kernel.ts';
import { chooseAttention } from './attention/policy.ts';
import { rope } from './ops/rope.ts';
import { dropKeepFn, dropout } from './ops/dropout.ts';
import { rmsnormBackward, rmsnormBackwardRows, rmsnormBackwardWeight, rmsnormForwardRows } from './ops/rmsnorm.ts';
import { elementwiseForwardVec4, swigluBackward } from './ops/elementwise.ts';
import { transpose } from './ops/transpose.ts';
import { embeddingBackward, embeddingLinks } from './ops/embedding.ts';
import { crossEntropyGrad, crossEntropyLoss, crossEntropyStats } from './ops/cross-entropy.ts';
import { adamwStep, scaleInPlace, sgdStep, sumOfSquares } from './ops/optimizer.ts';
import { castHalfKernel } from './ops/half.ts';

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

export class WebGpuTrainOps extends WebGpuOps implements TrainOps {
  get caps(): BackendCaps { return { ...super.caps, train: true }; }
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

  /**
   * Whether the kernel gemm() picks for this whole (unsplit) product draws its dropout mask itself; else the caller
   * materializes the masked operand (dropped) or product.
   */
  private drawsMask(g: GemmCall) {
    if ([g.out, g.a, g.b].some((x) => (x as GBuf).parts)) return false;
    return this.gemmPlan(g).mask;
  }

  /** MODE 0: dst = mask(src); MODE 1: dst = beta·dst + mask(src), over n elements (ops/dropout.ts). */
  private dropout(dst: Buf, src: Buf, n: number, mask: DropMask, mode: 0 | 1, beta = 0) {
    this.dispatch(this.kernel('train-dropout', dropKeepFn + dropout, { MODE: mode }), [n, mask.index, mask.threshold, f32bits(beta)],
      [dst, src, mask.salts], this.strideGrid(n, 256));
  }

  /** mask(x) in a scratch buffer, for the kernels that cannot drop on the fly (GPUs, f16 or split operands). */
  private dropped(x: Buf, n: number, mask: DropMask): Buf {
    const d = this.scratchBuf('dropped-operand', n);
    this.dropout(d, x, n, mask, 0);
    return d;
  }

  matmulNT(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta = 0, aMask: DropMask | null = null, alpha = 1,
    glu: GluStore | null = null): void {
    check('matmulNT', [out, M * N], [a, M * K], [b, N * K]);
    const g: GemmCall = { out, a, b, M, N, K, layout: 'NT', lda: K, ldb: K, ldo: N, beta, mask: aMask, alpha, glu };
    if (aMask && !this.drawsMask(g)) { g.a = this.dropped(a, M * K, aMask); g.mask = null; }
    this.gemm(g);
  }

  matmulNN(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta = 0, outMask: DropMask | null = null, alpha = 1): void {
    check('matmulNN', [out, M * N], [a, M * K], [b, K * N]);
    if (outMask && !this.drawsMask({ out, a, b, M, N, K, layout: 'NN', lda: K, ldb: N, ldo: N, mask: outMask })) {
      const product = this.scratchBuf('dropped-product', M * N);
      this.matmulNN(product, a, b, M, N, K, 0, null, alpha);
      this.dropout(out, product, M * N, outMask, 1, beta);
      return;
    }
    const g = b as GBuf, dtype = { a: storageOf(a), b: storageOf(b) };
    if (!g.parts && nnViaTranspose(this.gemmProfile, { layout: 'NN', M, N, K, lda: K, ldb: N, ldo: N, aOff: 0, bOff: 0, oOff: 0, dtype, mask: false })) {
      // CPU adapters: bᵀ into a scratch, then the vec4 dot-product GEMM (gemm/policy.ts nnViaTranspose)
      const bt = this.scratchBuf('nn-transpose', K * N);
      this.dispatch(this.kernel('train-transpose', transpose), [K, N], [bt, b], this.strideGrid(K * N, 64));
      this.gemm({ out, a, b: bt, M, N, K, layout: 'NT', lda: K, ldb: K, ldo: N, beta, alpha });
      return;
    }
    // b split by rows (dX = dY·W with W's out-rows split): sum the pieces' products over k
    for (const [i, p] of this.rowPieces(b, N).entries()) {
      const k0 = p.start / N, kc = Math.min(p.length / N, K - k0);
      if (kc > 0) this.gemm({ out, a, b: p.buf, M, N, K: kc, layout: 'NN', lda: K, ldb: N, ldo: N, aOff: k0, beta: i === 0 ? beta : 1, mask: outMask, alpha });
    }
  }

  matmulTNAcc(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta: number, bMask: DropMask | null = null): void {
    check('matmulTNAcc', [out, M * N], [a, K * M], [b, K * N]);
    if (bMask && !this.drawsMask({ out, a, b, M, N, K, layout: 'TN', lda: M, ldb: N, ldo: N, beta, mask: bMask })) { b = this.dropped(b, K * N, bMask); bMask = null; }
    // out split by rows (a weight gradient): each piece is rows [m0, m0 + mc) of the product
    for (const p of this.rowPieces(out, N)) {
      const m0 = p.start / N, mc = Math.min(p.length / N, M - m0);
      if (mc > 0) this.gemm({ out: p.buf, a, b, M: mc, N, K, layout: 'TN', lda: M, ldb: N, ldo: N, aOff: m0, beta, mask: bMask });
    }
  }

  /** The pieces of a tensor of rows of `row` elements, checked to split at row boundaries. */
  private rowPieces(b: Buf, row: number) {
    const pieces = this.pieces(b);
    for (const p of pieces) {
      if (pieces.length > 1 && (p.start % row || (p.length % row && p !== pieces.at(-1)))) {
        throw new Error(`webgpu: a tensor of rows of ${row} is split at element ${p.start}, not a row boundary`);
      }
    }
    return pieces;
  }

  /** Where `n` elements of each buffer are held: segments [start, end) lying within one piece of every buffer. */
  private segments(n: number, bufs: Buf[]): { start: number; n: number; at: { buf: Buf; off: number }[] }[] {
    const lists = bufs.map((b) => this.pieces(b));
    const cuts = [...new Set([0, n, ...lists.flatMap((l) => l.map((p) => p.start)).filter((c) => c < n)])].sort((x, y) => x - y);
    return cuts.slice(0, -1).map((start, i) => ({ start, n: cuts[i + 1] - start, at: lists.map((l) => {
      let p = l[0];
      for (const q of l) if (q.start <= start) p = q;
      return { buf: p.buf, off: start - p.start };
    }) }));
  }

  // ---- layers ----

  /** On CPU adapters a vec4 per step (n a multiple of 4, unsplit buffers); else WebGpuOps'. */
  override add(out: Buf, a: Buf, b: Buf, n: number): void { if (!this.elementwise4(0, out, a, b, n)) super.add(out, a, b, n); }
  override swiglu(out: Buf, gate: Buf, up: Buf, n: number): void { if (!this.elementwise4(1, out, gate, up, n)) super.swiglu(out, gate, up, n); }

  private elementwise4(OP: number, out: Buf, a: Buf, b: Buf, n: number): boolean {
    if (this.strategy !== 'register' || n % 4 || [out, a, b].some((x) => (x as GBuf).parts || (x as GBuf).half)) return false;
    check(OP ? 'swiglu' : 'add', [out, n], [a, n], [b, n]);
    const aOut = a === out, bOut = b === out;
    const input = (name: string, binding: number, aliased: boolean) => (aliased
      ? `fn load_${name}(i: u32) -> vec4<f32> { return dst[i]; }\n`
      : `@group(0) @binding(${binding}) var<storage, read> ${name}: array<vec4<f32>>;\nfn load_${name}(i: u32) -> vec4<f32> { return ${name}[i]; }\n`);
    const src = input('a', 2, aOut) + input('b', 3, bOut) + elementwiseForwardVec4;
    this.dispatch(this.kernel(`train-elementwise-vec4-${+aOut}${+bOut}`, src, { OP }), [n / 4], [out, aOut ? null : a, bOut ? null : b],
      this.strideGrid(n / 4, 64));
    return true;
  }

  /** On CPU adapters (not in place, whole f32 weight) a row per invocation without barriers; else WebGpuOps'. */
  override rmsnorm(out: Buf, x: Buf, w: Buf, T: number, dim: number, eps: number): void {
    const g = w as GBuf;
    const split = [out, x, w].some((b) => (b as GBuf).parts);
    if (this.strategy !== 'register' || out === x || split || g.half) { super.rmsnorm(out, x, w, T, dim, eps); return; }
    check('rmsnorm', [out, T * dim], [x, T * dim], [w, dim]);
    if (T === 0) return;
    this.dispatch(this.kernel('train-rmsnorm-rows', rmsnormForwardRows), [dim, f32bits(eps), T], [out, x, w], this.strideGrid(T, 64));
  }

  rmsnormBackward(dx: Buf, dwAcc: Buf, dy: Buf, x: Buf, w: Buf, rows: number, dim: number, eps: number): void {
    check('rmsnormBackward', [dx, rows * dim], [dwAcc, dim], [dy, rows * dim], [x, rows * dim], [w, dim]);
    noAlias('rmsnormBackward', [dx, dwAcc], [dy, x, w]);
    if (rows === 0) return;
    const rstd = this.scratchBuf('rstd', rows);
    if (this.strategy === 'register') {  // CPU adapters: a row per invocation, no barriers
      this.dispatch(this.kernel('train-rmsnorm-backward-rows', rmsnormBackwardRows), [dim, f32bits(eps), rows], [dx, rstd, dy, x, w],
        this.strideGrid(rows, 64));
    } else {
      this.dispatch(this.kernel('train-rmsnorm-backward', rmsnormBackward, { WG: this.config.rmsnormWG }),
        [dim, f32bits(eps), rows], [dx, rstd, dy, x, w], ...this.rowGrid(rows));
    }
    this.dispatch(this.kernel('train-rmsnorm-dw', rmsnormBackwardWeight), [dim, rows], [dwAcc, dy, x, rstd], Math.ceil(dim / 64));
  }

  ropeBackward(dx: Buf, pos: Buf, rows: number, nHeads: number, headDim: number, freqs: RopeFreqs): void {
    check('ropeBackward', [dx, rows * nHeads * headDim], [pos, rows, 'i32']);
    if (headDim % 2) throw new Error(`webgpu: rope needs an even headDim, got ${headDim}`);
    // The forward kernel with the negated frequency table: rotation by −θ is the transpose of rotation by θ.
    const half = headDim / 2;
    this.dispatch(this.kernel('rope', rope), [nHeads, half], [dx, pos, this.ropeTable(freqs, headDim, true)],
      Math.ceil((nHeads * half) / 64), rows);
  }

  /** The attention kernel of `phase` as chooseAttention plans it for this device, and its grid. */
  private attnKernel(phase: 'forward' | 'dq' | 'dkv', s: AttentionShape) {
    const plan = chooseAttention(this.attentionDevice, { phase, headDim: s.headDim });
    const desc: AttentionKernel = { ...plan, phase, headDim: s.headDim, mask: s.seg ? 'packed' : 'causal', kv: 'f32', inPlace: false };
    return { k: this.kernel(attentionKernelName(desc), attentionSource(desc)), grid: attentionGrid(desc, s.B, s.T, s.nHeads, s.nKvHeads, this.maxGroups) };
  }

  private attnCommon(op: string, B: number, T: number, nHeads: number, nKvHeads: number, headDim: number) {
    if (nHeads % nKvHeads) throw new Error(`webgpu: ${op} needs nHeads (${nHeads}) divisible by nKvHeads (${nKvHeads})`);
    return {
      params: [T, nHeads, nHeads / nKvHeads, nKvHeads * headDim, f32bits(1 / Math.sqrt(headDim)), B],
      rows: B * T, qw: nHeads * headDim, kvw: nKvHeads * headDim,
    };
  }

  attentionTrain({ out, lse, q, k, v }: { out: Buf; lse: Buf; q: Buf; k: Buf; v: Buf }, shape: AttentionShape): void {
    const { B, T, nHeads, nKvHeads, headDim, pos, seg } = shape;
    const c = this.attnCommon('attentionTrain', B, T, nHeads, nKvHeads, headDim);
    check('attentionTrain', [out, c.rows * c.qw], [lse, c.rows * nHeads], [q, c.rows * c.qw], [k, c.rows * c.kvw], [v, c.rows * c.kvw]);
    if (seg) check('attentionTrain', [seg, c.rows, 'i32']);
    if (pos) check('attentionTrain', [pos, c.rows, 'i32']);
    noAlias('attentionTrain', [out, lse], [q, k, v]);
    const fwd = this.attnKernel('forward', shape);
    this.dispatch(fwd.k, c.params, [out, lse, q, k, v, seg], ...fwd.grid);
  }

  attentionBackward({ dq, dk, dv, dout, q, k, v, out, lse }: { dq: Buf; dk: Buf; dv: Buf; dout: Buf; q: Buf; k: Buf; v: Buf; out: Buf; lse: Buf },
    shape: AttentionShape): void {
    const { B, T, nHeads, nKvHeads, headDim, pos, seg } = shape;
    const c = this.attnCommon('attentionBackward', B, T, nHeads, nKvHeads, headDim);
    check('attentionBackward', [dq, c.rows * c.qw], [dk, c.rows * c.kvw], [dv, c.rows * c.kvw], [dout, c.rows * c.qw],
      [q, c.rows * c.qw], [k, c.rows * c.kvw], [v, c.rows * c.kvw], [out, c.rows * c.qw], [lse, c.rows * nHeads]);
    if (seg) check('attentionBackward', [seg, c.rows, 'i32']);
    if (pos) check('attentionBackward', [pos, c.rows, 'i32']);
    noAlias('attentionBackward', [dq, dk, dv], [dout, q, k, v, out, lse]);
    const n = c.rows * nHeads, stats = this.scratchBuf('attn-stats', 2 * n);
    const pre: AttentionKernel = { phase: 'stats', strategy: 'serial', lanes: 1, rows: 1, wg: 64, tile: 0, headDim, mask: 'causal', kv: 'f32', inPlace: false };
    this.dispatch(this.kernel(attentionKernelName(pre), attentionSource(pre)), [n, headDim], [stats, dout, out, lse], this.strideGrid(n, 64));
    const kq = this.attnKernel('dq', shape), kkv = this.attnKernel('dkv', shape);
    this.dispatch(kq.k, c.params, [dq, q, k, v, dout, stats, seg], ...kq.grid);
    this.dispatch(kkv.k, c.params, [dk, dv, q, k, v, dout, stats, seg], ...kkv.grid);
  }

  swigluBackward(dgate: Buf, dup: Buf, dout: Buf, gate: Buf, up: Buf, n: number): void {
    check('swigluBackward', [dgate, n], [dup, n], [dout, n], [gate, n], [up, n]);
    noAlias('swigluBackward', [dgate, dup], [dout, gate, up]);
    this.dispatch(this.kernel('train-swiglu-backward', swigluBackward), [n], [dgate, dup, dout, gate, up], this.strideGrid(n, 256));
  }

  embeddingBackward(dtableAcc: Buf, dout: Buf, ids: Buf, rows: number, dim: number): void {
    check('embeddingBackward', [dout, rows * dim], [ids, rows, 'i32']);
    noAlias('embeddingBackward', [dtableAcc], [dout, ids]);
    if (rows === 0) return;
    const links = this.scratchBuf('emb-links', 2 * rows, 'i32');
    this.dispatch(this.kernel('train-embedding-links', embeddingLinks), [rows, Math.floor(dtableAcc.length / dim)],
      [links, ids], this.strideGrid(rows, 64));
    for (const p of this.rowPieces(dtableAcc, dim)) {
      this.dispatch(this.kernel('train-embedding-backward', embeddingBackward), [rows, dim, p.start / dim, Math.floor(p.length / dim)],
        [p.buf, dout, ids, links], Math.ceil(dim / 64), ...this.rowGrid(rows));
    }
  }

  crossEntropyFused({ lossOut, dhidden, dheadAcc, hidden, head, labels }: { lossOut: Buf; dhidden: Buf; dheadAcc: Buf | null; hidden: Buf; head: Buf; labels: Buf },
    { rows, dim, vocab, chunk, scale }: { rows: number; dim: number; vocab: number; chunk: number; scale: number }): void {
    check('crossEntropyFused', [lossOut, rows], [dhidden, rows * dim], [hidden, rows * dim], [head, vocab * dim], [labels, rows, 'i32']);
    if (dheadAcc) check('crossEntropyFused', [dheadAcc, vocab * dim]);
    noAlias('crossEntropyFused', dheadAcc ? [lossOut, dhidden, dheadAcc] : [lossOut, dhidden], [hidden, head, labels]);
    if (!(chunk >= 1)) throw new Error(`webgpu: crossEntropyFused needs chunk ≥ 1, got ${chunk}`);
    if (rows === 0) return;
    const C = Math.min(Math.floor(chunk), vocab);
    const logits = this.scratchBuf('ce-logits', rows * C), stats = this.scratchBuf('ce-stats', 4 * rows);
    const wg = this.config.rmsnormWG;
    // Vocabulary chunks of ≤ C rows, each within one piece of head and of dheadAcc (split tensors); hp/gp: the piece
    // of head/dheadAcc holding the chunk and the chunk's element offset in it.
    const chunks: { c0: number; n: number; hp: { buf: Buf; off: number }; gp: { buf: Buf; off: number } | null }[] = [];
    this.rowPieces(head, dim); if (dheadAcc) this.rowPieces(dheadAcc, dim);
    for (const seg of this.segments(vocab * dim, dheadAcc ? [head, dheadAcc] : [head])) {
      for (let r = seg.start / dim; r < (seg.start + seg.n) / dim; r += C) {
        const n = Math.min(C, (seg.start + seg.n) / dim - r), d = (r * dim - seg.start);
        chunks.push({ c0: r, n, hp: { buf: seg.at[0].buf, off: seg.at[0].off + d }, gp: dheadAcc ? { buf: seg.at[1].buf, off: seg.at[1].off + d } : null });
      }
    }
    // logits[:, 0..n) = hidden · head[c0..c0+n)ᵀ
    const chunkLogits = (c: typeof chunks[number]) => this.gemm({ out: logits, a: hidden, b: c.hp.buf, M: rows, N: c.n, K: dim, layout: 'NT', lda: dim, ldb: dim, ldo: C, bOff: c.hp.off });
    for (const c of chunks) {  // pass 1: online logsumexp and the label logit
      const { c0, n } = c;
      chunkLogits(c);
      this.dispatch(this.kernel('train-ce-stats', crossEntropyStats, { WG: wg }), [C, n, c0, rows], [stats, logits, labels], ...this.rowGrid(rows));
    }
    this.dispatch(this.kernel('train-ce-finish', crossEntropyLoss), [rows, vocab], [lossOut, stats, labels], this.strideGrid(rows, 64));
    for (const c of chunks) {  // pass 2: recompute, g = scale·(softmax − onehot), then both products
      const { c0, n } = c;
      if (chunks.length > 1) chunkLogits(c);  // one chunk: its logits are still in the scratch
      this.dispatch(this.kernel('train-ce-grad', crossEntropyGrad), [C, n, c0, rows, vocab, f32bits(scale)], [logits, stats, labels],
        this.strideGrid(rows * n, 256));
      this.gemm({ out: dhidden, a: logits, b: c.hp.buf, M: rows, N: dim, K: n, layout: 'NN', lda: C, ldb: dim, ldo: dim, bOff: c.hp.off, beta: c0 === 0 ? 0 : 1 });
      if (c.gp) this.gemm({ out: c.gp.buf, a: logits, b: hidden, M: n, N: dim, K: rows, layout: 'TN', lda: C, ldb: dim, ldo: dim, oOff: c.gp.off, beta: 1 });  // frozen head: none
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
    for (const g of this.segments(n, [param, m, v, grad])) {
      const [P, Mo, V, G] = g.at;
      this.dispatch(this.kernel('train-adamw', adamwStep), [g.n, P.off, Mo.off, V.off, G.off], [P.buf, Mo.buf, V.buf, G.buf, hp],
        this.strideGrid(g.n, 256));
    }
  }

  /** The pieces of the first n elements of a tensor, or of two tensors split alike (param and gradient). */
  private alike(op: string, n: number, bufs: Buf[]) {
    const segs = this.segments(n, bufs);
    if (segs.some((g) => g.at.some((a) => a.off))) throw new Error(`webgpu: ${op}: its tensors are split across bindings differently`);
    return segs;
  }

  sgd(param: Buf, grad: Buf, n: number, lr: number): void {
    check('sgd', [param, n], [grad, n]);
    for (const g of this.alike('sgd', n, [param, grad])) {
      this.dispatch(this.kernel('train-sgd', sgdStep), [g.n], [g.at[0].buf, g.at[1].buf, this.hyper([lr])], this.strideGrid(g.n, 256));
    }
  }

  scale(x: Buf, s: number, n: number): void {
    check('scale', [x, n]);
    for (const g of this.alike('scale', n, [x])) {
      this.dispatch(this.kernel('train-scale', scaleInPlace), [g.n], [g.at[0].buf, this.hyper([s])], this.strideGrid(g.n, 256));
    }
  }

  zero(x: Buf, n: number): void {
    check('zero', [x, n]);
    for (const p of this.pieces(x)) {
      const len = Math.min(p.length, n - p.start);
      if (len > 0) this.clear(p.buf, 0, len);
    }
  }

  castHalf(dst: Buf, src: Buf, n: number): void {
    check('castHalf', [dst, n], [src, n, 'f32']);
    const h = (dst as GBuf).half;
    if (!h || (src as GBuf).half) throw new Error('webgpu: castHalf writes a 16-bit buffer from an f32 one');
    for (const g of this.segments(n, [dst, src])) {
      const [D, S] = g.at;
      if (D.off % 2 || (g.n % 2 && D.off + g.n < D.buf.length)) throw new Error('webgpu: castHalf: the 16-bit tensor is split at an odd element');
      this.dispatch(this.kernel(`train-cast-${h}`, castHalfKernel(h)), [g.n, D.off, S.off], [D.buf, S.buf], this.strideGrid(Math.ceil(g.n / 2), 256));
    }
  }

  sumSquares(out1: Buf, x: Buf, n: number): void {
    check('sumSquares', [out1, 1], [x, n]);
    for (const g of this.alike('sumSquares', n, [x])) {  // each piece adds its share into out1
      if (g.n === 0) continue;
      const WG = this.config.rmsnormWG, groups = Math.min(Math.ceil(g.n / WG), SUMSQ_GROUPS);
      const part = this.scratchBuf('sumsq', SUMSQ_GROUPS);
      this.dispatch(this.kernel('train-sumsq', sumOfSquares, { STAGE: 0, WG }), [g.n], [part, g.at[0].buf], groups);
      this.dispatch(this.kernel('train-sumsq', sumOfSquares, { STAGE: 1, WG }), [groups], [out1, part], 1);
    }
  }
}

export async function createWebGpuTrainOps(gpu: GpuContext, options: WebGpuOpsOptions = {}): Promise<WebGpuTrainOps> {
  return new WebGpuTrainOps(gpu, options);
}
