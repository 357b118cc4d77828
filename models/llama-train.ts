// Training of the Llama architecture (models/llama.ts; also Qwen2's q/k/v biases and Qwen3's q/k norms) on any
// TrainOps backend, llm.c-style: the forward saves each layer's activations, and the backward walks the layers in
// reverse with every op's gradient written beside the op it inverts. Full training updates every weight; LoRA
// (models/lora.ts) freezes the base and trains adapters only. Gradients accumulate until zeroGrad(). The block is its
// own copy of llama.ts's (that file says why there are three).
// Gradient checkpointing (opts.gradientCheckpointing): the forward keeps only each layer's input, and the backward
// recomputes that layer's activations into one shared set just before the layer's own backward (the same kernels on
// the same inputs, so the gradients are bitwise those without it). Cost: one more forward of every layer but the
// down projection. LoRA adapters keep their small saved [rows, rank] tensors (and dropout inputs) either way.
// Parameter residency (ZeRO-3, src/dist/data-parallel.ts): the weights, trainable and frozen, come in groups
// (embedding, each layer, final norm and head); with a `residency` set, the trainer asks for a group before using its
// values, forward and backward, and hands it back after, so that only the groups in use are whole in memory.
import type { Buf, GluStore, Half } from '../core/ops.ts';
import type { TrainOps } from '../core/train-ops.ts';
import { ropeInvFreq, validateWeights, type LlamaConfig, type LlamaLayerWeights, type LlamaModel } from './llama.ts';
import type { LossScaler } from './loss-scaler.ts';
import { LoraAdapter, dropoutSalt, loraLinearKey, type LinearKey, type LoraConfig, type LoraScratch, type Param } from './lora.ts';

export type { Param } from './lora.ts';

/** One micro-batch of B sequences of T tokens, row-major [B, T] (as src/data/collate.ts makes them). */
export interface TrainBatch {
  ids: Int32Array;
  /** next-token targets per row, −100 where not trained */
  labels: Int32Array;
  positions: Int32Array;
  /** packing: attention only within equal ids (null or absent: one document per sequence) */
  segments?: Int32Array | null;
}

/** What an optimizer step did: the true gradient norm; skipped: not applied, the gradients overflowed under loss scaling. */
export interface StepResult { gradNorm: number; skipped?: boolean }

export interface AdamWOptions {
  lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number;
  /** global L2 clipping; 0 or absent: off */
  maxGradNorm?: number;
  optim?: 'adamw' | 'sgd';
}

/**
 * ZeRO-3's hook. The trainer calls fetch(g, phase) before it reads group g's values (phase 'backward': and fresh zero
 * gradients for it) and release(g, phase) when it is done with them ('backward': its gradients for this micro-batch
 * are complete). Parameters' value/grad buffers may change between calls, so the trainer reads them from Param.
 */
export interface ParamResidency {
  fetch(group: number, phase: 'forward' | 'backward'): Promise<void>;
  release(group: number, phase: 'forward' | 'backward'): Promise<void>;
}

const LINEARS: readonly LinearKey[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
/** A weight and, when trained, its gradient: read at each use (trained: from its Param, see ParamResidency). */
interface Ref { readonly w: Buf; readonly g?: Buf }
/** A frozen weight (LoRA's base): like a Param's value, ZeRO-3 may free its buffer between uses and gather it back
 *  (half: uploaded as Ops.upload's half). */
export interface FrozenWeight { name: string; size: number; value: Buf; row?: number; half: Half | false }
/** A linear layer: frozen or trainable weight, optional bias (Qwen2 q/k/v) and LoRA adapter. */
interface Lin { N: number; K: number; weight: Ref; bias?: Ref; lora?: LoraAdapter }
/** An RMSNorm weight; g is a shared sink when the weight is frozen (the kernel always writes dw). */
interface Norm { readonly w: Buf; readonly g: Buf }
interface Layer { lin: Record<LinearKey, Lin>; inputNorm: Norm; postNorm: Norm; qNorm?: Norm; kNorm?: Norm }

/** Activations of one layer (besides its input), saved by the forward for the backward (qr/kr: before the q/k norm). */
interface Saved { xn1: Buf; qr?: Buf; kr?: Buf; q: Buf; k: Buf; v: Buf; att: Buf; lse: Buf; xmid: Buf; xn2: Buf; gate: Buf; up: Buf; act: Buf }

export class LlamaTrainer {
  readonly config: LlamaConfig;
  readonly B: number;
  readonly T: number;
  /** every trainable tensor with its gradient, in a fixed order (named as in LlamaWeights; LoRA: `….q.loraA`) */
  readonly params: Param[] = [];
  /** the same parameters by residency group: 0 embedding (and a tied head), 1…L the layers (with their adapters),
   *  L+1 the final norm and an untied head; some may be empty (LoRA) */
  readonly groups: Param[][];
  /** the frozen weights (LoRA's base) by the same groups; empty in full training */
  readonly frozen: FrozenWeight[][];
  /** float16 training's dynamic loss scaling (null: none) */
  readonly scaler: LossScaler | null;
  /** ZeRO-3 sets it (see ParamResidency); absent, every parameter stays resident */
  residency?: ParamResidency;
  readonly lora?: LoraConfig;
  /** optimizer steps taken (AdamW bias correction); micro-batches seen (dropout masks). Restored on resume. */
  steps = 0;
  micro = 0;
  /** recompute each layer's activations in the backward instead of keeping them all (--gradient_checkpointing) */
  readonly checkpointing: boolean;
  /** bytes of the activations the forward keeps for the backward (layer inputs, per-layer activations, final norm in and out) */
  readonly savedBytes: number;
  private readonly ops: TrainOps;
  private readonly ceChunk: number;
  private readonly invFreq: Float64Array;
  private readonly embed: Ref;
  /** g: the head's gradient, absent when it is frozen (LoRA): the loss then computes no [vocab × dim] product */
  private readonly head: Ref;
  /** the head shares the embedding's parameter (group 0) rather than group L+1 */
  private readonly tied: boolean;
  private readonly norm: Norm;
  private readonly layers: Layer[];
  private readonly adapters: LoraAdapter[] = [];
  /** each adapter's dropout salt for the current micro-batch (i32, LoraScratch.salts) */
  private readonly salts: Buf;
  /** the input of each layer (the residual stream) */
  private readonly layerIn: Buf[];
  /** each layer's activations, or (checkpointing) one set that every layer's forward and recomputation share */
  private readonly saved: Saved[];
  private readonly xFinal: Buf;
  private readonly xnFinal: Buf;
  private readonly io: { ids: Buf; labels: Buf; pos: Buf; seg: Buf; loss: Buf; norm2: Buf; ones: Buf };
  private readonly tmp: Record<'proj' | 'dx' | 'dtmp' | 'dxn' | 'datt' | 'dq' | 'dk' | 'dv' | 'dqr' | 'dkr' | 'dact' | 'dgate' | 'dup', Buf>;
  private logits?: Buf;
  /** the squared gradient norm read back with the last micro-batch's loss (forwardBackward's opts.norm), for step() */
  private normRead: Promise<Float32Array> | null = null;

  /**
   * opts.half: the matrices (linear weights, embedding, lm_head) in 16-bit storage (Ops.upload's half; f32
   * arithmetic). LoRA: the frozen base so stored, about half its memory; adapters and optimizer stay f32. Full
   * training (mixed precision): the kernels read 16-bit copies of the matrices while AdamW updates f32 masters
   * (Param.half, refreshed after each step); norms and biases stay f32.
   * opts.lossScaler: dynamic loss scaling (float16): gradients are accumulated scaled, unscaled in step(), and a step
   * whose gradients overflow is skipped.
   */
  constructor(ops: TrainOps, model: LlamaModel, opts: { B: number; T: number; ceChunk?: number; lora?: LoraConfig; gradientCheckpointing?: boolean;
    half?: Half | false; lossScaler?: LossScaler }) {
    validateWeights(model);
    const c = (this.config = model.config);
    this.ops = ops;
    this.B = opts.B;
    this.T = opts.T;
    this.lora = opts.lora;
    this.ceChunk = opts.ceChunk ?? 4096;
    this.invFreq = ropeInvFreq(c);
    const full = !opts.lora, rows = this.B * this.T, D = c.hiddenSize, F = c.intermediateSize, HD = c.headDim;
    const qDim = c.numHeads * HD, kvDim = c.numKvHeads * HD;
    const a = (n: number) => ops.alloc(n);
    const sink = a(Math.max(D, HD));
    /** the weight's buffer, and its gradient when it is trained (full training); row: its row length (may split it, see Ops.alloc) */
    const half = opts.half ?? false;
    this.scaler = opts.lossScaler ?? null;
    const groups: Param[][] = (this.groups = Array.from({ length: c.numLayers + 2 }, () => []));
    const frozen: FrozenWeight[][] = (this.frozen = Array.from({ length: c.numLayers + 2 }, () => []));
    let group = 0;
    const add = (p: Param) => { this.params.push(p); groups[group].push(p); };
    const weight = (name: string, data: Float32Array, decay: boolean, row?: number): Ref => {
      const matrix = row !== undefined && half;  // the matrices (given a row length): 16-bit when asked
      if (!full) {
        const f: FrozenWeight = { name, size: data.length, value: ops.upload(data, row, matrix), row, half: matrix };
        frozen[group].push(f);
        return { get w() { return f.value; } };
      }
      const p: Param = { name, size: data.length, value: ops.upload(data, row), grad: ops.alloc(data.length, 'f32', row), decay, row };
      if (matrix) { p.half = ops.upload(data, row, matrix); p.halfType = matrix; }
      add(p);
      return { get w() { return p.half ?? p.value; }, get g() { return p.grad; } };
    };
    const norm = (name: string, data: Float32Array): Norm => { const r = weight(name, data, false); return full ? r as Norm : { get w() { return r.w; }, g: sink }; };
    const wts = model.weights;
    const scratch: LoraScratch = { du: a(rows * (opts.lora?.rank ?? 1)), salts: ops.alloc(Math.max(1, c.numLayers * LINEARS.length), 'i32') };
    this.salts = scratch.salts;
    const dims: Record<LinearKey, [number, number]> = { q: [qDim, D], k: [kvDim, D], v: [kvDim, D], o: [D, qDim], gate: [F, D], up: [F, D], down: [D, F] };
    const targets = new Set<string>((opts.lora?.targets ?? []).map((m) => loraLinearKey(c, m)));
    this.embed = weight('embedTokens', wts.embedTokens, true, D);
    this.layers = wts.layers.map((l, i) => {
      group = i + 1;
      const lin = Object.fromEntries(LINEARS.map((k) => {
        const [N, K] = dims[k], b: Lin = { N, K, weight: weight(`layers.${i}.${k}`, l[k], true, K) };
        const bias = (k === 'q' || k === 'k' || k === 'v') && c.attentionBias ? l[`${k}Bias` as keyof LlamaLayerWeights] : undefined;
        if (bias) b.bias = weight(`layers.${i}.${k}Bias`, bias, false);
        if (targets.has(k)) {
          b.lora = new LoraAdapter(ops, `layers.${i}.${k}`, N, K, rows, opts.lora!, scratch, this.adapters.length);
          this.adapters.push(b.lora);
          add(b.lora.A); add(b.lora.B);
        }
        return [k, b];
      })) as Record<LinearKey, Lin>;
      const layer: Layer = { lin, inputNorm: norm(`layers.${i}.inputNorm`, l.inputNorm), postNorm: norm(`layers.${i}.postNorm`, l.postNorm) };
      if (c.qkNorm) { layer.qNorm = norm(`layers.${i}.qNorm`, l.qNorm!); layer.kNorm = norm(`layers.${i}.kNorm`, l.kNorm!); }
      return layer;
    });
    group = c.numLayers + 1;
    this.norm = norm('norm', wts.norm);
    this.tied = c.tieWordEmbeddings || !wts.lmHead;
    this.head = this.tied ? this.embed : weight('lmHead', wts.lmHead!, true, D);
    this.checkpointing = !!opts.gradientCheckpointing;
    this.layerIn = wts.layers.map(() => a(rows * D));
    this.saved = (this.checkpointing ? wts.layers.slice(0, 1) : wts.layers).map(() => ({
      xn1: a(rows * D), q: a(rows * qDim), k: a(rows * kvDim), v: a(rows * kvDim), att: a(rows * qDim),
      lse: a(rows * c.numHeads), xmid: a(rows * D), xn2: a(rows * D), gate: a(rows * F), up: a(rows * F), act: a(rows * F),
      ...(c.qkNorm ? { qr: a(rows * qDim), kr: a(rows * kvDim) } : {}),
    }));
    this.xFinal = a(rows * D);
    const perLayer = rows * (3 * D + 2 * qDim + 2 * kvDim + 3 * F + c.numHeads + (c.qkNorm ? qDim + kvDim : 0));
    this.savedBytes = 4 * (this.layerIn.length * rows * D + this.saved.length * perLayer + 2 * rows * D);
    this.xnFinal = a(rows * D);
    this.io = { ids: ops.alloc(rows, 'i32'), labels: ops.alloc(rows, 'i32'), pos: ops.alloc(rows, 'i32'), seg: ops.alloc(rows, 'i32'),
      loss: a(rows), norm2: a(1), ones: ops.upload(new Float32Array(rows).fill(1)) };
    this.tmp = {
      proj: a(rows * D), dx: a(rows * D), dtmp: a(rows * D), dxn: a(rows * D), datt: a(rows * qDim), dq: a(rows * qDim),
      dk: a(rows * kvDim), dv: a(rows * kvDim), dqr: a(c.qkNorm ? rows * qDim : 1), dkr: a(c.qkNorm ? rows * kvDim : 1),
      dact: a(rows * F), dgate: a(rows * F), dup: a(rows * F),
    };
  }

  zeroGrad(): void {
    this.normRead = null;
    for (const p of this.params) this.ops.zero(p.grad, p.size);
  }

  // ---- a linear layer y = x·Wᵀ + b + LoRA, forward and backward ----
  /** y = x·Wᵀ (+ bias) (+ LoRA's share); glu: the SwiGLU finished by the last product to write y (GluStore). */
  private linF(l: Lin, y: Buf, x: Buf, train: boolean, glu: GluStore | null = null): void {
    const rows = this.B * this.T;
    // the bias added in the GEMM's store where the backend can
    this.ops.matmul(y, x, l.weight.w, rows, l.N, l.K, l.bias?.w, l.lora ? null : glu);
    l.lora?.forward(y, x, train, glu);
  }
  /** dx = beta·dx + dy·W (+ LoRA's share); weight and bias gradients accumulate when trained. */
  private linB(l: Lin, dx: Buf, dy: Buf, x: Buf, beta: 0 | 1): void {
    const ops = this.ops, rows = this.B * this.T;
    ops.matmulNN(dx, dy, l.weight.w, rows, l.K, l.N, beta);
    if (l.weight.g) ops.matmulTNAcc(l.weight.g, dy, x, l.N, l.K, rows, 1);
    if (l.bias?.g) ops.matmulTNAcc(l.bias.g, this.io.ones, dy, 1, l.N, rows, 1);  // db = Σ_rows dy
    l.lora?.backward(dx, dy, x);
  }

  private upload(batch: TrainBatch): void {
    const { ops, B, T } = this, rows = B * T;
    for (const [name, arr] of [['ids', batch.ids], ['labels', batch.labels], ['positions', batch.positions]] as const) {
      if (arr.length !== rows) throw new Error(`batch ${name} has ${arr.length} entries, expected B·T = ${rows}`);
    }
    ops.write(this.io.ids, batch.ids);
    ops.write(this.io.labels, batch.labels);
    ops.write(this.io.pos, batch.positions);
    if (batch.segments) ops.write(this.io.seg, batch.segments);
  }

  /** Activations of layer i (checkpointing: the shared set). */
  private act(i: number): Saved { return this.saved[this.checkpointing ? 0 : i]; }

  /**
   * Layer l's forward from its input x into s; the layer output goes to xNext. xNext null (recomputation in the
   * backward): stops after the SwiGLU, as the down projection's output is not needed for the gradients.
   */
  private layerForward(l: Layer, x: Buf, s: Saved, xNext: Buf | null, seg: Buf | null, train: boolean): void {
    const { ops, config: c } = this, rows = this.B * this.T, D = c.hiddenSize, H = c.numHeads, KV = c.numKvHeads;
    const HD = c.headDim, eps = c.rmsNormEps, t = this.tmp, pos = this.io.pos;
    ops.rmsnorm(s.xn1, x, l.inputNorm.w, rows, D, eps);
    this.linF(l.lin.q, s.qr ?? s.q, s.xn1, train);
    this.linF(l.lin.k, s.kr ?? s.k, s.xn1, train);
    this.linF(l.lin.v, s.v, s.xn1, train);
    if (l.qNorm && l.kNorm) {  // Qwen3: RMSNorm over each head before RoPE
      ops.rmsnorm(s.q, s.qr!, l.qNorm.w, rows * H, HD, eps);
      ops.rmsnorm(s.k, s.kr!, l.kNorm.w, rows * KV, HD, eps);
    }
    ops.rope(s.q, pos, rows, H, HD, this.invFreq);
    ops.rope(s.k, pos, rows, KV, HD, this.invFreq);
    ops.attentionTrain({ out: s.att, lse: s.lse, q: s.q, k: s.k, v: s.v }, { B: this.B, T: this.T, nHeads: H, nKvHeads: KV, headDim: HD, pos, seg });
    this.linF(l.lin.o, t.proj, s.att, train);
    ops.add(s.xmid, x, t.proj, rows * D);
    ops.rmsnorm(s.xn2, s.xmid, l.postNorm.w, rows, D, eps);
    this.linF(l.lin.gate, s.gate, s.xn2, train);
    this.linF(l.lin.up, s.up, s.xn2, train, { gate: s.gate, act: s.act });  // act = silu(gate)·up as up is stored
    if (!xNext) return;
    this.linF(l.lin.down, t.proj, s.act, train);
    ops.add(xNext, s.xmid, t.proj, rows * D);
  }

  /** Residency (ZeRO-3): group g's values (and, backward, zero gradients) before a use; nothing without it. */
  private async fetch(g: number, phase: 'forward' | 'backward'): Promise<void> { if (this.residency) await this.residency.fetch(g, phase); }
  private async release(g: number, phase: 'forward' | 'backward'): Promise<void> { if (this.residency) await this.residency.release(g, phase); }
  /** the group that holds the head: the embedding's when tied */
  private get headGroup(): number { return this.tied ? 0 : this.layers.length + 1; }

  /** The forward up to the final norm's output. `keepLast` (training): the last group (final norm, untied head)
   *  stays fetched for the backward, which follows at once. */
  private async forward(seg: Buf | null, train: boolean, keepLast: boolean): Promise<void> {
    const { ops, config: c } = this, rows = this.B * this.T, D = c.hiddenSize, L = this.layers.length;
    await this.fetch(0, 'forward');
    ops.embedding(L ? this.layerIn[0] : this.xFinal, this.embed.w, this.io.ids, rows, D);
    await this.release(0, 'forward');
    for (const [i, l] of this.layers.entries()) {
      await this.fetch(i + 1, 'forward');
      this.layerForward(l, this.layerIn[i], this.act(i), i + 1 < L ? this.layerIn[i + 1] : this.xFinal, seg, train);
      await this.release(i + 1, 'forward');
    }
    await this.fetch(L + 1, keepLast ? 'backward' : 'forward');
    ops.rmsnorm(this.xnFinal, this.xFinal, this.norm.w, rows, D, c.rmsNormEps);
  }

  /**
   * Forward and backward of one micro-batch, adding scale·∂loss/∂θ into the gradients, where loss is the sum of
   * the batch's per-token cross-entropies; pass scale = 1 / (trained tokens in the whole accumulated batch). With a
   * loss scaler the gradients hold scaler.scale times that, until step() unscales them.
   * Returns that micro-batch's share of the mean loss (Σ per-token loss · scale).
   * opts.norm: this is the last micro-batch before step(), and nothing changes the gradients in between (one
   * process): the gradient norm is summed in the same submit and read back with the loss, so that an optimizer step
   * waits on the device once per micro-batch and never in step() itself.
   */
  async forwardBackward(batch: TrainBatch, scale: number, opts: { norm?: boolean } = {}): Promise<number> {
    const { ops, config: c } = this, rows = this.B * this.T, D = c.hiddenSize, F = c.intermediateSize, H = c.numHeads, KV = c.numKvHeads;
    const HD = c.headDim, eps = c.rmsNormEps, t = this.tmp;
    this.upload(batch);
    if (this.lora?.dropout) ops.write(this.salts, Int32Array.from(this.adapters, (ad) => dropoutSalt(this.lora!.seed, this.micro, ad.index)));
    this.micro++;
    const seg = batch.segments ? this.io.seg : null, pos = this.io.pos, L = this.layers.length;
    await this.forward(seg, true, true);

    // ---- loss and backward (t.dx is the gradient of the residual stream) ----
    if (this.tied) await this.fetch(0, 'backward');  // the head is the embedding: its gradient accumulates until the end
    ops.crossEntropyFused({ lossOut: this.io.loss, dhidden: t.dxn, dheadAcc: this.head.g ?? null, hidden: this.xnFinal, head: this.head.w, labels: this.io.labels },
      { rows, dim: D, vocab: c.vocabSize, chunk: this.ceChunk, scale: scale * (this.scaler?.scale ?? 1) });
    ops.rmsnormBackward(t.dx, this.norm.g, t.dxn, this.xFinal, this.norm.w, rows, D, eps);
    await this.release(L + 1, 'backward');
    for (let i = L - 1; i >= 0; i--) {
      const l = this.layers[i], s = this.act(i), x = this.layerIn[i];
      await this.fetch(i + 1, 'backward');
      if (this.checkpointing) this.layerForward(l, x, s, null, seg, true);  // same kernels, same inputs: same activations
      // MLP: x_next = xmid + down(silu(gate(xn2)) · up(xn2)), xn2 = norm(xmid)
      this.linB(l.lin.down, t.dact, t.dx, s.act, 0);
      ops.swigluBackward(t.dgate, t.dup, t.dact, s.gate, s.up, rows * F);
      this.linB(l.lin.gate, t.dxn, t.dgate, s.xn2, 0);
      this.linB(l.lin.up, t.dxn, t.dup, s.xn2, 1);
      ops.rmsnormBackward(t.dtmp, l.postNorm.g, t.dxn, s.xmid, l.postNorm.w, rows, D, eps);
      ops.add(t.dx, t.dx, t.dtmp, rows * D);
      // attention: xmid = x + o(attn(rope(qn(q(xn1))), rope(kn(k(xn1))), v(xn1))), xn1 = norm(x)
      this.linB(l.lin.o, t.datt, t.dx, s.att, 0);
      ops.attentionBackward({ dq: t.dq, dk: t.dk, dv: t.dv, dout: t.datt, q: s.q, k: s.k, v: s.v, out: s.att, lse: s.lse },
        { B: this.B, T: this.T, nHeads: H, nKvHeads: KV, headDim: HD, pos, seg });
      ops.ropeBackward(t.dq, pos, rows, H, HD, this.invFreq);
      ops.ropeBackward(t.dk, pos, rows, KV, HD, this.invFreq);
      let dq = t.dq, dk = t.dk;
      if (l.qNorm && l.kNorm) {
        ops.rmsnormBackward(t.dqr, l.qNorm.g, t.dq, s.qr!, l.qNorm.w, rows * H, HD, eps);
        ops.rmsnormBackward(t.dkr, l.kNorm.g, t.dk, s.kr!, l.kNorm.w, rows * KV, HD, eps);
        dq = t.dqr; dk = t.dkr;
      }
      this.linB(l.lin.q, t.dxn, dq, s.xn1, 0);
      this.linB(l.lin.k, t.dxn, dk, s.xn1, 1);
      this.linB(l.lin.v, t.dxn, t.dv, s.xn1, 1);
      ops.rmsnormBackward(t.dtmp, l.inputNorm.g, t.dxn, x, l.inputNorm.w, rows, D, eps);
      ops.add(t.dx, t.dx, t.dtmp, rows * D);
      await this.release(i + 1, 'backward');
    }
    if (!this.tied) await this.fetch(0, 'backward');
    if (this.embed.g) ops.embeddingBackward(this.embed.g, t.dx, this.io.ids, rows, D);
    await this.release(0, 'backward');
    if (opts.norm) this.sumNorm();
    const read = ops.read(this.io.loss, rows);
    if (opts.norm) this.normRead = ops.read(this.io.norm2, 1);
    const loss = await read;
    let sum = 0;
    for (const v of loss) sum += v;
    return sum * scale;
  }

  /**
   * Evaluation of one batch (no dropout, no gradient): summed token loss, trained tokens, and tokens whose argmax
   * prediction is the label (accuracy; null when [rows × vocab] logits would not fit a 128 MiB buffer).
   */
  async evaluate(batch: TrainBatch): Promise<{ lossSum: number; tokens: number; correct: number | null }> {
    const { ops, config: c } = this, rows = this.B * this.T, D = c.hiddenSize, V = c.vocabSize;
    this.upload(batch);
    await this.forward(batch.segments ? this.io.seg : null, false, false);
    if (this.tied) await this.fetch(0, 'forward');
    // no head gradient, scale 0: the loss alone (dxn is scratch), accumulated gradients untouched
    ops.crossEntropyFused({ lossOut: this.io.loss, dhidden: this.tmp.dxn, dheadAcc: null, hidden: this.xnFinal, head: this.head.w, labels: this.io.labels },
      { rows, dim: D, vocab: V, chunk: this.ceChunk, scale: 0 });
    const loss = await ops.read(this.io.loss, rows);
    let lossSum = 0, tokens = 0, correct: number | null = null;
    for (let r = 0; r < rows; r++) if (batch.labels[r] >= 0 && batch.labels[r] < V) { lossSum += loss[r]; tokens++; }
    if (rows * V <= 1 << 25) {
      this.logits ??= ops.alloc(rows * V);
      ops.matmul(this.logits, this.xnFinal, this.head.w, rows, V, D);
      const lg = await ops.read(this.logits, rows * V);
      correct = 0;
      for (let r = 0; r < rows; r++) {
        const y = batch.labels[r];
        if (y < 0 || y >= V) continue;
        let best = 0;
        for (let j = 1; j < V; j++) if (lg[r * V + j] > lg[r * V + best]) best = j;
        if (best === y) correct++;
      }
    }
    await this.release(this.headGroup, 'forward');
    return { lossSum, tokens, correct };
  }

  /** Global gradient L2 norm; clips to maxGradNorm (as torch.nn.utils.clip_grad_norm_) and takes one AdamW or SGD step. */
  /** The global gradient norm, summed parameter by parameter into one f32 on the device (data-parallel ZeRO-1 calls
   *  it too, so that its clipping scales the gradients by the very same factor). */
  async gradNorm(): Promise<number> {
    const pending = this.normRead;
    this.normRead = null;
    if (pending) return Math.sqrt((await pending)[0]);
    this.sumNorm();
    return Math.sqrt((await this.ops.read(this.io.norm2, 1))[0]);
  }
  private sumNorm(): void {
    this.ops.zero(this.io.norm2, 1);
    for (const p of this.params) this.ops.sumSquares(this.io.norm2, p.grad, p.size);
  }

  async step(o: AdamWOptions): Promise<StepResult> {
    const ops = this.ops;
    const checked = this.unscale(await this.gradNorm(), o);
    if (!checked.apply) return { gradNorm: checked.gradNorm, skipped: checked.skipped };  // skipped (overflow under loss scaling), or not finite: the caller stops
    const { coef } = checked;
    if (coef !== 1) for (const p of this.params) ops.scale(p.grad, coef, p.size);
    this.steps++;
    const wd = o.weightDecay ?? 0;
    for (const p of this.params) {
      if (o.optim === 'sgd') {  // plain SGD: weight decay p −= lr·wd·p is the same as adding wd·p to the gradient
        if (wd && p.decay) ops.scale(p.value, 1 - o.lr * wd, p.size);
        ops.sgd(p.value, p.grad, p.size, o.lr);
        continue;
      }
      p.m ??= ops.alloc(p.size, 'f32', 1);  // row length 1: any split will do (AdamW is element-wise)
      p.v ??= ops.alloc(p.size, 'f32', 1);
      ops.adamw(p.value, p.grad, p.m, p.v, p.size, this.steps, o.lr, o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.eps ?? 1e-8, p.decay ? wd : 0);
    }
    this.refreshHalf();
    return { gradNorm: checked.gradNorm };
  }

  /**
   * From the norm of the summed (loss-scaled) gradients: the true norm, whether to update, and the factor that
   * unscales and clips the gradients (as torch.nn.utils.clip_grad_norm_ after GradScaler.unscale_). Data-parallel
   * ZeRO calls it with its own norm.
   */
  unscale(scaledNorm: number, o: AdamWOptions): { gradNorm: number; apply: boolean; coef: number; skipped?: boolean } {
    const S = this.scaler?.scale ?? 1, gradNorm = scaledNorm / S;
    if (this.scaler && !this.scaler.update(Number.isFinite(gradNorm))) return { gradNorm, apply: false, coef: 0, skipped: true };
    if (!Number.isFinite(gradNorm)) return { gradNorm, apply: false, coef: 0 };
    const clip = o.maxGradNorm ? o.maxGradNorm / (gradNorm + 1e-6) : 1;
    return { gradNorm, apply: true, coef: (clip < 1 ? clip : 1) / S };
  }

  /** Mixed precision: the 16-bit copies the kernels read, from the f32 masters (after an update or a load). */
  refreshHalf(): void {
    for (const p of this.params) if (p.half) this.ops.castHalf(p.half, p.value, p.size);
  }

  /** Host copies of every trainable parameter's value, gradient or AdamW moment, by name (moments: zeros before step 1). */
  async read(what: 'value' | 'grad' | 'm' | 'v'): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const p of this.params) out.set(p.name, p[what] ? await this.ops.read(p[what]!, p.size) : new Float32Array(p.size));
    return out;
  }

  /** Overwrites trainable parameters' values or moments (resume); every name must be known and sized right. */
  load(what: 'value' | 'm' | 'v', data: Map<string, Float32Array>): void {
    for (const p of this.params) {
      const a = data.get(p.name);
      if (!a) throw new Error(`checkpoint lacks ${what} of ${p.name}`);
      if (a.length !== p.size) throw new Error(`checkpoint ${what} of ${p.name} has ${a.length} elements, expected ${p.size}`);
      if (what === 'value') this.ops.write(p.value, a);
      else this.ops.write((p[what] ??= this.ops.alloc(p.size, 'f32', 1)), a);
    }
    if (what === 'value') this.refreshHalf();
  }
}
