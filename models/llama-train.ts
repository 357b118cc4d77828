// Full-parameter training of the Llama architecture (models/llama.ts) on any TrainOps backend, llm.c-style:
// the forward saves each layer's activations, and the backward walks the layers in reverse with every op's
// gradient written beside the op it inverts. Gradients accumulate across micro-batches until zeroGrad().
// Not covered yet: q/k/v biases (Qwen2), q/k norm (Qwen3), LoRA adapters, activation recomputation.
import type { Buf } from '../src/backend/ops.ts';
import type { TrainOps } from '../src/backend/train-ops.ts';
import { validateWeights, type LlamaConfig, type LlamaLayerWeights, type LlamaModel } from './llama.ts';

/** One micro-batch of B sequences of T tokens, row-major [B, T] (as src/data/collate.ts makes them). */
export interface TrainBatch {
  ids: Int32Array;
  /** next-token targets per row, −100 where not trained */
  labels: Int32Array;
  positions: Int32Array;
  /** packing: attention only within equal ids (null or absent: one document per sequence) */
  segments?: Int32Array | null;
}

export interface AdamWOptions { lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; maxGradNorm?: number }

export interface Param { name: string; size: number; value: Buf; grad: Buf; m?: Buf; v?: Buf }

const LAYER_PARAMS = ['inputNorm', 'q', 'k', 'v', 'o', 'postNorm', 'gate', 'up', 'down'] as const;
type LayerParams = Record<(typeof LAYER_PARAMS)[number], Param>;

/** Activations of one layer, saved by the forward for the backward. */
interface Saved { x: Buf; xn1: Buf; q: Buf; k: Buf; v: Buf; att: Buf; lse: Buf; xmid: Buf; xn2: Buf; gate: Buf; up: Buf; act: Buf }

export class LlamaTrainer {
  readonly config: LlamaConfig;
  readonly B: number;
  readonly T: number;
  /** every trainable tensor with its gradient, in a fixed order (named as in LlamaWeights) */
  readonly params: Param[] = [];
  private readonly ops: TrainOps;
  private readonly ceChunk: number;
  private readonly embed: Param;
  private readonly head: Param;
  private readonly norm: Param;
  private readonly layers: LayerParams[];
  private readonly saved: Saved[];
  private readonly xFinal: Buf;
  private readonly xnFinal: Buf;
  private readonly io: { ids: Buf; labels: Buf; pos: Buf; seg: Buf; loss: Buf; norm2: Buf };
  private readonly tmp: Record<'proj' | 'dx' | 'dtmp' | 'dxn' | 'datt' | 'dq' | 'dk' | 'dv' | 'dact' | 'dgate' | 'dup', Buf>;
  private steps = 0;

  constructor(ops: TrainOps, model: LlamaModel, opts: { B: number; T: number; ceChunk?: number }) {
    validateWeights(model);
    const c = (this.config = model.config);
    if (c.attentionBias || c.qkNorm) throw new Error(`training ${c.modelType} (q/k/v biases or q/k norm) is not supported yet`);
    this.ops = ops;
    this.B = opts.B;
    this.T = opts.T;
    this.ceChunk = opts.ceChunk ?? 4096;
    const rows = this.B * this.T, D = c.hiddenSize, F = c.intermediateSize;
    const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
    const param = (name: string, data: Float32Array): Param => {
      const p = { name, size: data.length, value: ops.upload(data), grad: ops.alloc(data.length) };
      this.params.push(p);
      return p;
    };
    const w = model.weights;
    this.embed = param('embedTokens', w.embedTokens);
    this.layers = w.layers.map((l, i) => Object.fromEntries(LAYER_PARAMS.map((n) =>
      [n, param(`layers.${i}.${n}`, l[n as keyof LlamaLayerWeights] as Float32Array)])) as LayerParams);
    this.norm = param('norm', w.norm);
    this.head = c.tieWordEmbeddings || !w.lmHead ? this.embed : param('lmHead', w.lmHead);
    const a = (n: number) => ops.alloc(n);
    this.saved = w.layers.map(() => ({
      x: a(rows * D), xn1: a(rows * D), q: a(rows * qDim), k: a(rows * kvDim), v: a(rows * kvDim), att: a(rows * qDim),
      lse: a(rows * c.numHeads), xmid: a(rows * D), xn2: a(rows * D), gate: a(rows * F), up: a(rows * F), act: a(rows * F),
    }));
    this.xFinal = a(rows * D);
    this.xnFinal = a(rows * D);
    this.io = { ids: ops.alloc(rows, 'i32'), labels: ops.alloc(rows, 'i32'), pos: ops.alloc(rows, 'i32'), seg: ops.alloc(rows, 'i32'), loss: a(rows), norm2: a(1) };
    this.tmp = {
      proj: a(rows * D), dx: a(rows * D), dtmp: a(rows * D), dxn: a(rows * D), datt: a(rows * qDim), dq: a(rows * qDim),
      dk: a(rows * kvDim), dv: a(rows * kvDim), dact: a(rows * F), dgate: a(rows * F), dup: a(rows * F),
    };
  }

  zeroGrad(): void {
    for (const p of this.params) this.ops.write(p.grad, new Float32Array(p.size));
  }

  /**
   * Forward and backward of one micro-batch, adding scale·∂loss/∂θ into the gradients, where loss is the sum of
   * the batch's per-token cross-entropies; pass scale = 1 / (trained tokens in the whole accumulated batch).
   * Returns that micro-batch's share of the mean loss (Σ per-token loss · scale).
   */
  async forwardBackward(batch: TrainBatch, scale: number): Promise<number> {
    const { ops, config: c, B, T } = this;
    const rows = B * T, D = c.hiddenSize, F = c.intermediateSize, H = c.numHeads, KV = c.numKvHeads, HD = c.headDim;
    const qDim = H * HD, kvDim = KV * HD, eps = c.rmsNormEps, t = this.tmp;
    for (const [name, arr] of [['ids', batch.ids], ['labels', batch.labels], ['positions', batch.positions]] as const) {
      if (arr.length !== rows) throw new Error(`batch ${name} has ${arr.length} entries, expected B·T = ${rows}`);
    }
    ops.write(this.io.ids, batch.ids);
    ops.write(this.io.labels, batch.labels);
    ops.write(this.io.pos, batch.positions);
    const seg = batch.segments ? this.io.seg : null;
    if (batch.segments) ops.write(this.io.seg, batch.segments);
    const pos = this.io.pos;

    // ---- forward ----
    ops.embedding(this.saved.length ? this.saved[0].x : this.xFinal, this.embed.value, this.io.ids, rows, D);
    this.layers.forEach((l, i) => {
      const s = this.saved[i], xNext = i + 1 < this.saved.length ? this.saved[i + 1].x : this.xFinal;
      ops.rmsnorm(s.xn1, s.x, l.inputNorm.value, rows, D, eps);
      ops.matmul(s.q, s.xn1, l.q.value, rows, qDim, D);
      ops.matmul(s.k, s.xn1, l.k.value, rows, kvDim, D);
      ops.matmul(s.v, s.xn1, l.v.value, rows, kvDim, D);
      ops.rope(s.q, pos, rows, H, HD, c.ropeTheta);
      ops.rope(s.k, pos, rows, KV, HD, c.ropeTheta);
      ops.attentionTrain(s.att, s.lse, s.q, s.k, s.v, pos, seg, B, T, H, KV, HD);
      ops.matmul(t.proj, s.att, l.o.value, rows, D, qDim);
      ops.add(s.xmid, s.x, t.proj, rows * D);
      ops.rmsnorm(s.xn2, s.xmid, l.postNorm.value, rows, D, eps);
      ops.matmul(s.gate, s.xn2, l.gate.value, rows, F, D);
      ops.matmul(s.up, s.xn2, l.up.value, rows, F, D);
      ops.swiglu(s.act, s.gate, s.up, rows * F);
      ops.matmul(t.proj, s.act, l.down.value, rows, D, F);
      ops.add(xNext, s.xmid, t.proj, rows * D);
    });
    ops.rmsnorm(this.xnFinal, this.xFinal, this.norm.value, rows, D, eps);

    // ---- loss and backward (t.dx is the gradient of the residual stream) ----
    ops.crossEntropyFused(this.io.loss, t.dxn, this.head.grad, this.xnFinal, this.head.value, this.io.labels,
      rows, D, c.vocabSize, this.ceChunk, scale);
    ops.rmsnormBackward(t.dx, this.norm.grad, t.dxn, this.xFinal, this.norm.value, rows, D, eps);
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i], s = this.saved[i];
      // MLP: x_next = xmid + down(silu(gate(xn2)) · up(xn2)), xn2 = norm(xmid)
      ops.matmulNN(t.dact, t.dx, l.down.value, rows, F, D);
      ops.matmulTNAcc(l.down.grad, t.dx, s.act, D, F, rows, 1);
      ops.swigluBackward(t.dgate, t.dup, t.dact, s.gate, s.up, rows * F);
      ops.matmulNN(t.dxn, t.dgate, l.gate.value, rows, D, F);
      ops.matmulNN(t.dxn, t.dup, l.up.value, rows, D, F, 1);
      ops.matmulTNAcc(l.gate.grad, t.dgate, s.xn2, F, D, rows, 1);
      ops.matmulTNAcc(l.up.grad, t.dup, s.xn2, F, D, rows, 1);
      ops.rmsnormBackward(t.dtmp, l.postNorm.grad, t.dxn, s.xmid, l.postNorm.value, rows, D, eps);
      ops.add(t.dx, t.dx, t.dtmp, rows * D);
      // attention: xmid = x + o(attn(rope(q(xn1)), rope(k(xn1)), v(xn1))), xn1 = norm(x)
      ops.matmulNN(t.datt, t.dx, l.o.value, rows, qDim, D);
      ops.matmulTNAcc(l.o.grad, t.dx, s.att, D, qDim, rows, 1);
      ops.attentionBackward(t.dq, t.dk, t.dv, t.datt, s.q, s.k, s.v, s.att, s.lse, pos, seg, B, T, H, KV, HD);
      ops.ropeBackward(t.dq, pos, rows, H, HD, c.ropeTheta);
      ops.ropeBackward(t.dk, pos, rows, KV, HD, c.ropeTheta);
      ops.matmulNN(t.dxn, t.dq, l.q.value, rows, D, qDim);
      ops.matmulNN(t.dxn, t.dk, l.k.value, rows, D, kvDim, 1);
      ops.matmulNN(t.dxn, t.dv, l.v.value, rows, D, kvDim, 1);
      ops.matmulTNAcc(l.q.grad, t.dq, s.xn1, qDim, D, rows, 1);
      ops.matmulTNAcc(l.k.grad, t.dk, s.xn1, kvDim, D, rows, 1);
      ops.matmulTNAcc(l.v.grad, t.dv, s.xn1, kvDim, D, rows, 1);
      ops.rmsnormBackward(t.dtmp, l.inputNorm.grad, t.dxn, s.x, l.inputNorm.value, rows, D, eps);
      ops.add(t.dx, t.dx, t.dtmp, rows * D);
    }
    ops.embeddingBackward(this.embed.grad, t.dx, this.io.ids, rows, D);
    const loss = await ops.read(this.io.loss, rows);
    let sum = 0;
    for (const v of loss) sum += v;
    return sum * scale;
  }

  /** Clips the gradients to maxGradNorm (global L2, as torch.nn.utils.clip_grad_norm_) and takes one AdamW step. */
  async step(o: AdamWOptions): Promise<{ gradNorm: number }> {
    const ops = this.ops;
    ops.write(this.io.norm2, new Float32Array(1));
    for (const p of this.params) ops.sumSquares(this.io.norm2, p.grad, p.size);
    const gradNorm = Math.sqrt((await ops.read(this.io.norm2))[0]);
    const coef = o.maxGradNorm === undefined ? 1 : o.maxGradNorm / (gradNorm + 1e-6);
    if (coef < 1) for (const p of this.params) ops.scale(p.grad, coef, p.size);
    this.steps++;
    for (const p of this.params) {
      p.m ??= ops.alloc(p.size);
      p.v ??= ops.alloc(p.size);
      ops.adamw(p.value, p.grad, p.m, p.v, p.size, this.steps, o.lr, o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.eps ?? 1e-8, o.weightDecay ?? 0);
    }
    return { gradNorm };
  }

  /** Host copies of every parameter's value or gradient, by name. */
  async read(what: 'value' | 'grad'): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const p of this.params) out.set(p.name, await this.ops.read(p[what], p.size));
    return out;
  }
}
