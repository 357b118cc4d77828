// The Llama architecture (Hugging Face conventions: [out, in] linear weights, rotate-half RoPE),
// written once against the Ops interface so every backend runs the same model code.
// The decoder block is written three times, each for what only it does: here for inference (a KV cache, rows run
// a chunk at a time, nothing kept for a backward), in llama-train.ts for training (whole sequences, every activation
// saved for the backward, LoRA beside each linear layer, optional recomputation), and in onnx/export-llama.ts as an
// ONNX graph (symbolic shapes, past/present cache tensors). The order of the ops is the same in all three, and the
// tests hold them to one another: training logits and gradients against PyTorch, exports' logits against this file's.
import { ropeInvFreqTable, type Buf, type Half, type Ops } from '../core/ops.ts';

/** config.json's rope_scaling of rope_type "llama3" (Llama 3.1+): long-wavelength frequencies slowed by `factor`. */
export interface Llama3RopeScaling {
  ropeType: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

export interface LlamaConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** absent: plain RoPE, θ_i = ropeTheta^(−2i/headDim) */
  ropeScaling?: Llama3RopeScaling;
  tieWordEmbeddings: boolean;
  /** Hugging Face model_type: llama (also llama2.c imports), mistral, qwen2, qwen3 */
  modelType?: string;
  /** q/k/v projections carry biases (Qwen2) */
  attentionBias?: boolean;
  /** per-head RMSNorm of q and k before RoPE (Qwen3) */
  qkNorm?: boolean;
}

export interface LlamaLayerWeights {
  inputNorm: Float32Array; // [hidden]
  q: Float32Array; // [heads*headDim, hidden]
  k: Float32Array; // [kvHeads*headDim, hidden]
  v: Float32Array; // [kvHeads*headDim, hidden]
  o: Float32Array; // [hidden, heads*headDim]
  postNorm: Float32Array; // [hidden]
  gate: Float32Array; // [intermediate, hidden]
  up: Float32Array; // [intermediate, hidden]
  down: Float32Array; // [hidden, intermediate]
  qBias?: Float32Array; // [heads*headDim] when attentionBias
  kBias?: Float32Array; // [kvHeads*headDim]
  vBias?: Float32Array; // [kvHeads*headDim]
  qNorm?: Float32Array; // [headDim] when qkNorm
  kNorm?: Float32Array; // [headDim]
}

export interface LlamaWeights {
  embedTokens: Float32Array; // [vocab, hidden]
  layers: LlamaLayerWeights[];
  norm: Float32Array; // [hidden]
  lmHead?: Float32Array; // [vocab, hidden]; absent when tied to embedTokens
}

export interface LlamaModel {
  config: LlamaConfig;
  weights: LlamaWeights;
  /** the config.json it was loaded with, as read: writers keep it field for field (absent: llama2.c, tiny-random) */
  configJson?: Record<string, unknown>;
}

/**
 * The inverse frequency of each rotated pair (headDim/2 entries, radians per position): every backend's RoPE, forward
 * and backward, reads this table. With llama3 rope_scaling it follows Hugging Face's _compute_llama3_parameters:
 * wavelengths 2π/f below original_max/high_freq_factor are kept, those above original_max/low_freq_factor are divided
 * by factor, and the band between interpolates smoothly. Computed in f64 (Hugging Face: f32; exporters may round).
 */
export function ropeInvFreq(c: Pick<LlamaConfig, 'ropeTheta' | 'headDim' | 'ropeScaling'>): Float64Array {
  const inv = Float64Array.from(ropeInvFreqTable(c.ropeTheta, c.headDim));
  const s = c.ropeScaling;
  if (!s) return inv;
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * f / s.factor + smooth * f;
  });
}

// Weights on a device, uploaded once per (backend, model, storage): every runner of a model (a server's concurrent
// requests) shares them and owns only its KV cache and activations.
interface DeviceWeights { embed: Buf; lmHead: Buf; finalNorm: Buf; layers: DeviceLayer[] }
const uploaded = new WeakMap<Ops, WeakMap<LlamaModel, Map<Half | false, DeviceWeights>>>();

/**
 * half: the matrices (embedding, head, projections) in 16-bit storage (Ops.upload's half: 16 bits where the backend
 * has them, else f32 holding rounded values); norms and biases stay f32, and every kernel computes in f32.
 */
function deviceWeights(ops: Ops, model: LlamaModel, half: Half | false): DeviceWeights {
  let perOps = uploaded.get(ops);
  if (!perOps) uploaded.set(ops, (perOps = new WeakMap()));
  let perModel = perOps.get(model);
  if (!perModel) perOps.set(model, (perModel = new Map()));
  const cached = perModel.get(half);
  if (cached) return cached;
  const c = model.config, w = model.weights, qDim = c.numHeads * c.headDim;
  // Row lengths let a backend split a weight larger than one device binding (the embedding of a large vocabulary).
  const embed = ops.upload(w.embedTokens, c.hiddenSize, half);
  const inDim: Partial<Record<keyof LlamaLayerWeights, number>> = { q: c.hiddenSize, k: c.hiddenSize, v: c.hiddenSize, o: qDim,
    gate: c.hiddenSize, up: c.hiddenSize, down: c.intermediateSize };
  const dw: DeviceWeights = {
    embed,
    lmHead: w.lmHead && !c.tieWordEmbeddings ? ops.upload(w.lmHead, c.hiddenSize, half) : embed,
    finalNorm: ops.upload(w.norm),
    layers: w.layers.map((l) => Object.fromEntries(Object.entries(l).filter(([, data]) => data).map(([name, data]) => {
      const rows = inDim[name as keyof LlamaLayerWeights];  // set for the matrices only
      return [name, ops.upload(data, rows, rows !== undefined && half)];
    })) as DeviceLayer),
  };
  perModel.set(half, dw);
  return dw;
}

type DeviceLayer = { [K in keyof LlamaLayerWeights]-?: undefined extends LlamaLayerWeights[K] ? Buf | undefined : Buf };

/** Checks that every tensor has the size the config implies; a loader bug or corrupt file fails here. */
export function validateWeights({ config: c, weights: w }: LlamaModel): void {
  const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
  const expect = (name: string, a: Float32Array | undefined, n: number) => {
    if (!a || a.length !== n) throw new Error(`weight ${name} has ${a?.length ?? 0} elements, expected ${n}`);
  };
  expect('embed_tokens', w.embedTokens, c.vocabSize * c.hiddenSize);
  expect('norm', w.norm, c.hiddenSize);
  if (!c.tieWordEmbeddings) expect('lm_head', w.lmHead, c.vocabSize * c.hiddenSize);
  if (w.layers.length !== c.numLayers) throw new Error(`model has ${w.layers.length} layers, config says ${c.numLayers}`);
  w.layers.forEach((l, i) => {
    expect(`layers.${i}.input_layernorm`, l.inputNorm, c.hiddenSize);
    expect(`layers.${i}.q_proj`, l.q, qDim * c.hiddenSize);
    expect(`layers.${i}.k_proj`, l.k, kvDim * c.hiddenSize);
    expect(`layers.${i}.v_proj`, l.v, kvDim * c.hiddenSize);
    expect(`layers.${i}.o_proj`, l.o, c.hiddenSize * qDim);
    expect(`layers.${i}.post_attention_layernorm`, l.postNorm, c.hiddenSize);
    expect(`layers.${i}.gate_proj`, l.gate, c.intermediateSize * c.hiddenSize);
    expect(`layers.${i}.up_proj`, l.up, c.intermediateSize * c.hiddenSize);
    expect(`layers.${i}.down_proj`, l.down, c.hiddenSize * c.intermediateSize);
    if (c.attentionBias) {
      expect(`layers.${i}.q_proj.bias`, l.qBias, qDim);
      expect(`layers.${i}.k_proj.bias`, l.kBias, kvDim);
      expect(`layers.${i}.v_proj.bias`, l.vBias, kvDim);
    }
    if (c.qkNorm) {
      expect(`layers.${i}.q_norm`, l.qNorm, c.headDim);
      expect(`layers.${i}.k_norm`, l.kNorm, c.headDim);
    }
  });
}

/**
 * A Llama model resident on a backend with its KV cache, decoding up to `maxTokens` rows per call.
 * Activation buffers are allocated once and reused every step, so backends can cache bindings.
 */
export class LlamaRunner {
  readonly config: LlamaConfig;
  readonly maxSeq: number;
  private readonly ops: Ops;
  private readonly embed: Buf;
  private readonly lmHead: Buf;
  private readonly finalNorm: Buf;
  private readonly layers: DeviceLayer[];
  private readonly kCache: Buf[];
  private readonly vCache: Buf[];
  readonly maxTokens: number;
  // activations [maxTokens, ...]
  private readonly ids: Buf;
  private readonly pos: Buf;
  private readonly x: Buf;
  private readonly xn: Buf;
  private readonly q: Buf;
  private readonly k: Buf;
  private readonly v: Buf;
  private readonly att: Buf;
  private readonly proj: Buf;
  private readonly gate: Buf;
  private readonly up: Buf;
  private readonly logits: Buf;
  private readonly invFreq: Float64Array;

  /** halfWeights: the matrices and the KV cache in 16-bit storage (deviceWeights, Ops.allocCache), e.g. `infer --torch_dtype float16` */
  constructor(ops: Ops, model: LlamaModel, opts: { maxSeq?: number; maxTokens?: number; halfWeights?: Half | false } = {}) {
    validateWeights(model);
    const c = (this.config = model.config);
    this.ops = ops;
    this.invFreq = ropeInvFreq(c);
    this.maxSeq = Math.min(opts.maxSeq ?? c.maxPositionEmbeddings, c.maxPositionEmbeddings);
    const T = (this.maxTokens = opts.maxTokens ?? 1);
    const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
    const w = model.weights;
    ({ embed: this.embed, lmHead: this.lmHead, finalNorm: this.finalNorm, layers: this.layers } = deviceWeights(ops, model, opts.halfWeights ?? false));
    const halfCache = opts.halfWeights ?? false;  // --torch_dtype float16/bfloat16 narrows the cache as it does the weights
    this.kCache = w.layers.map(() => ops.allocCache(this.maxSeq * kvDim, halfCache));
    this.vCache = w.layers.map(() => ops.allocCache(this.maxSeq * kvDim, halfCache));
    this.ids = ops.alloc(T, 'i32');
    this.pos = ops.alloc(T, 'i32');
    this.x = ops.alloc(T * c.hiddenSize);
    this.xn = ops.alloc(T * c.hiddenSize);
    this.q = ops.alloc(T * qDim);
    this.k = ops.alloc(T * kvDim);
    this.v = ops.alloc(T * kvDim);
    this.att = ops.alloc(T * qDim);
    this.proj = ops.alloc(T * c.hiddenSize);
    this.gate = ops.alloc(T * c.intermediateSize);
    this.up = ops.alloc(T * c.intermediateSize);
    this.logits = ops.alloc(T * c.vocabSize);
  }

  /**
   * Runs tokens `ids` at positions `positions` (writing their keys/values into the cache) and
   * returns the logits of every row, [T, vocab].
   */
  async forward(ids: number[], positions: number[]): Promise<Float32Array> {
    const { ops, config: c } = this;
    const T = ids.length;
    if (T < 1 || T > this.maxTokens) throw new Error(`forward takes 1..${this.maxTokens} tokens, got ${T}`);
    for (const p of positions) {
      if (p < 0 || p >= this.maxSeq) throw new Error(`position ${p} is outside the context of ${this.maxSeq} tokens`);
    }
    const D = c.hiddenSize, qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim, F = c.intermediateSize;
    ops.write(this.ids, Int32Array.from(ids));
    ops.write(this.pos, Int32Array.from(positions));
    ops.embedding(this.x, this.embed, this.ids, T, D);
    this.layers.forEach((l, i) => {
      // attention block: x += o(attn(rope(q(norm(x))), rope(k(norm(x))), v(norm(x))))
      ops.rmsnorm(this.xn, this.x, l.inputNorm, T, D, c.rmsNormEps);
      ops.matmuls(this.xn, T, D, [{ out: this.q, w: l.q, N: qDim, bias: l.qBias }, { out: this.k, w: l.k, N: kvDim, bias: l.kBias },
        { out: this.v, w: l.v, N: kvDim, bias: l.vBias }]);
      if (l.qNorm && l.kNorm) { // Qwen3: RMSNorm over each head's vector
        ops.rmsnorm(this.q, this.q, l.qNorm, T * c.numHeads, c.headDim, c.rmsNormEps);
        ops.rmsnorm(this.k, this.k, l.kNorm, T * c.numKvHeads, c.headDim, c.rmsNormEps);
      }
      ops.rope(this.q, this.pos, T, c.numHeads, c.headDim, this.invFreq);
      ops.rope(this.k, this.pos, T, c.numKvHeads, c.headDim, this.invFreq);
      ops.kvStore(this.kCache[i], this.k, this.pos, T, kvDim);
      ops.kvStore(this.vCache[i], this.v, this.pos, T, kvDim);
      ops.attention(this.att, this.q, this.kCache[i], this.vCache[i], this.pos, T, c.numHeads, c.numKvHeads, c.headDim);
      ops.matmul(this.proj, this.att, l.o, T, D, qDim);
      ops.add(this.x, this.x, this.proj, T * D);
      // MLP block: x += down(silu(gate(norm(x))) * up(norm(x)))
      ops.rmsnorm(this.xn, this.x, l.postNorm, T, D, c.rmsNormEps);
      // up's product is stored as silu(gate)·up (the GPU's GEMM store; elsewhere a pass after)
      ops.matmuls(this.xn, T, D, [{ out: this.gate, w: l.gate, N: F }, { out: this.up, w: l.up, N: F, glu: { gate: this.gate } }]);
      ops.matmul(this.proj, this.up, l.down, T, D, F);
      ops.add(this.x, this.x, this.proj, T * D);
    });
    ops.rmsnorm(this.xn, this.x, this.finalNorm, T, D, c.rmsNormEps);
    ops.matmul(this.logits, this.xn, this.lmHead, T, c.vocabSize, D);
    return ops.read(this.logits, T * c.vocabSize);
  }
}
