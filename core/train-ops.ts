// The training kernel interface: Ops plus the backward passes and optimizer updates that SFT/LoRA need.
// models/llama-train.ts runs a Llama forward and backward against it; backends: gpu/train-ops.ts (WebGPU) and
// src/backend/reference-train-ops.ts (plain loops, the reference the GPU is tested against).
//
// Conventions (on top of ops.ts):
// - Activations are [rows, dim] row-major f32 with rows = B·T (sequence b's token t is row b·T + t).
// - Labels are i32 [rows]; a label outside [0, vocab) (by convention −100) is ignored: no loss, no gradient.
// - Positions are i32 [rows]; segment ids are i32 [rows] (null: no packing). Within a sequence, row t attends
//   to row s iff s ≤ t and seg[s] = seg[t] (packing: several documents per sequence that must not see each other).
// - Ops named …Acc, and arguments named …Acc, add into their output (gradient accumulation across
//   micro-batches and across the uses of a tied weight); every other output is overwritten.
// - Outputs must not alias inputs unless the op says so.
import type { Buf, GluStore, Ops, RopeFreqs } from './ops.ts';

/**
 * A dropout mask drawn where it is used (LoRA's input dropout): element j of the masked buffer (its index in the
 * buffer) is kept iff dropKeep(salts[index], j, threshold); dropped elements read as 0. salts is an i32 buffer
 * of one u32 salt per mask, rewritten per micro-batch, so no mask tensor is ever stored or uploaded.
 */
export interface DropMask { salts: Buf; index: number; threshold: number }

/** The keep threshold of drop probability p (0 ≤ p < 1): a uniform u32 hash below it is dropped. */
export const dropThreshold = (p: number) => Math.min(2 ** 32 - 1, Math.floor(p * 2 ** 32));

/** Whether element j survives: murmur3's 32-bit finalizer of j + salt against the threshold (gpu/ops/dropout.ts: the same). */
export function dropKeep(salt: number, j: number, threshold: number): boolean {
  let h = (j + salt) >>> 0;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0 >= threshold;
}

/** A batch of attention: B sequences of T rows; nHeads query heads over nKvHeads shared key/value heads; pos and seg
 *  as in the conventions above (null: positions unused, no packing). */
export interface AttentionShape {
  B: number; T: number; nHeads: number; nKvHeads: number; headDim: number; pos: Buf | null; seg: Buf | null;
}

export interface TrainOps extends Ops {
  /**
   * Backends with kernel shapes to choose by measurement (WebGPU on GPUs: the GEMM tiles): times the candidates on
   * these products and keeps the fastest per layout. Returns a line per product for the log (none: nothing tuned).
   */
  tuneGemm?(shapes: readonly { layout: 'NN' | 'NT' | 'TN' | 'TT'; M: number; N: number; K: number }[]): Promise<{ lines: string[] }>;
  /**
   * out[M,N] = beta·out + alpha · mask(a)[M,K] · b[N,K]ᵀ  (beta defaults to 0, alpha to 1; aMask: a's elements
   * dropped as DropMask says). The forward linear layer with an accumulating output, and LoRA's first product with
   * the dropout on its input and its scale (alpha) applied as the product is stored. glu: the SwiGLU finished on
   * the stored result (GluStore; LoRA's product is the last to write the up projection).
   */
  matmulNT(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta?: number, aMask?: DropMask | null, alpha?: number,
    glu?: GluStore | null): void;
  /**
   * out[M,N] = beta·out + alpha · mask(a[M,K] · b[K,N])  (beta defaults to 0: out is overwritten, old contents
   * ignored; alpha to 1; outMask: the product's element j, j = m·N + n, dropped as DropMask says).
   * Backward of a linear layer y = x·Wᵀ with W [out, in]: dX[M,in] = dY[M,out] · W[out,in].
   */
  matmulNN(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta?: number, outMask?: DropMask | null, alpha?: number): void;
  /**
   * out[M,N] = beta·out + a[K,M]ᵀ · mask(b)[K,N]  (beta = 0 overwrites; bMask as aMask of matmulNT).
   * Weight gradient of y = x·Wᵀ: dW[out,in] += dY[rows,out]ᵀ · X[rows,in]  (M = out, N = in, K = rows, beta = 1).
   */
  matmulTNAcc(out: Buf, a: Buf, b: Buf, M: number, N: number, K: number, beta: number, bMask?: DropMask | null): void;

  /**
   * Backward of y = x · r · w with r = 1/sqrt(mean(x²) + eps), per row of x [rows, dim]:
   * dx = r·(w∘dy) − x · r³/dim · Σ_j(w_j dy_j x_j)   (overwritten)
   * dwAcc[j] += Σ_rows dy_j · x_j · r                (accumulated)
   */
  rmsnormBackward(dx: Buf, dwAcc: Buf, dy: Buf, x: Buf, w: Buf, rows: number, dim: number, eps: number): void;
  /**
   * Backward of Ops.rope, in place on dx [rows, nHeads·headDim]: the inverse (transposed) rotation,
   * (a, b) → (a cosθ + b sinθ, b cosθ − a sinθ) with the same θ as Ops.rope.
   */
  ropeBackward(dx: Buf, pos: Buf, rows: number, nHeads: number, headDim: number, freqs: RopeFreqs): void;

  /**
   * Causal grouped-query self-attention over whole sequences (no KV cache), flash-style: online softmax,
   * no [T, T] matrix in memory.
   * q, out [B·T, nHeads·headDim]; k, v [B·T, nKvHeads·headDim]; lse (out) f32 [B·T, nHeads].
   * Query row t of sequence b attends key rows s ≤ t of the same sequence with seg[s] = seg[t] (seg null:
   * all s ≤ t). Head h reads kv head floor(h / (nHeads/nKvHeads)). Scores are q·k / sqrt(headDim);
   * lse[row, h] = logsumexp over the allowed keys of those scores (natural log), saved for the backward.
   * The mask depends on seg only, never on pos (RoPE has already been applied by the caller); pos (may be null)
   * is passed so that a backend may derive segment bounds from restarting positions — none does yet.
   */
  attentionTrain(io: { out: Buf; lse: Buf; q: Buf; k: Buf; v: Buf }, shape: AttentionShape): void;
  /**
   * Backward of attentionTrain given its out and lse: dq [B·T, nHeads·headDim], dk, dv [B·T, nKvHeads·headDim]
   * (overwritten; dk/dv sum over the query heads that share a kv head).
   */
  attentionBackward(io: { dq: Buf; dk: Buf; dv: Buf; dout: Buf; q: Buf; k: Buf; v: Buf; out: Buf; lse: Buf }, shape: AttentionShape): void;

  /**
   * Backward of out = silu(gate) · up over n elements, s = sigmoid(gate):
   * dgate = dout · up · s · (1 + gate·(1 − s)),  dup = dout · gate · s   (both overwritten).
   */
  swigluBackward(dgate: Buf, dup: Buf, dout: Buf, gate: Buf, up: Buf, n: number): void;
  /**
   * Backward of Ops.embedding (a scatter-add): dtableAcc[ids[t], :] += dout[t, :] for t < rows.
   * Repeated ids accumulate; ids outside the table are skipped. dtableAcc [vocab, dim], dout [rows, dim].
   */
  embeddingBackward(dtableAcc: Buf, dout: Buf, ids: Buf, rows: number, dim: number): void;

  /**
   * lm_head + cross-entropy, fused and chunked over the vocabulary so [rows × vocab] logits never exist:
   * logits = hidden[rows, dim] · head[vocab, dim]ᵀ are computed `chunk` vocabulary entries at a time (a
   * [rows × chunk] scratch) with an online logsumexp, then recomputed chunk by chunk for the gradient.
   * lossOut [rows] (overwritten) = logsumexp(logits[r]) − logits[r, labels[r]], 0 for ignored rows.
   * With g = scale · (softmax(logits) − onehot(labels)) (0 rows where ignored):
   * dhidden [rows, dim] = g · head (overwritten); dheadAcc [vocab, dim] += gᵀ · hidden (accumulated). dheadAcc
   * null (a frozen head, LoRA): that [vocab × dim] product is neither computed nor stored.
   * scale = 1 / (number of trained tokens in the whole accumulated batch), so Σ lossOut · scale over the
   * micro-batches is the batch loss and the gradients are its gradients.
   */
  crossEntropyFused(io: { lossOut: Buf; dhidden: Buf; dheadAcc: Buf | null; hidden: Buf; head: Buf; labels: Buf },
    shape: { rows: number; dim: number; vocab: number; chunk: number; scale: number }): void;

  /**
   * One torch.optim.AdamW step (step counts from 1) on n elements, in place on param, m, v:
   * param ·= 1 − lr·weightDecay; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
   * param −= lr/(1−β1^step) · m / (sqrt(v)/sqrt(1−β2^step) + eps).
   */
  adamw(param: Buf, grad: Buf, m: Buf, v: Buf, n: number, step: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number): void;
  /** param −= lr · grad over n elements. */
  sgd(param: Buf, grad: Buf, n: number, lr: number): void;
  /** out1[0] += Σ x[i]² over n elements (reduced on the device; accumulate several tensors for a global norm). */
  sumSquares(out1: Buf, x: Buf, n: number): void;
  /** x[i] = 0 over n elements, recorded in order like any op (zeroing gradients: no upload of zeros, and unlike
   *  scale(x, 0) it clears Inf/NaN left by an overflowing step). */
  zero(x: Buf, n: number): void;
  /** x[i] ·= s over n elements, in place (gradient clipping). */
  scale(x: Buf, s: number, n: number): void;
  /**
   * dst[i] = src[i] rounded to dst's 16-bit storage (nearest even), over n elements: mixed-precision training's copy
   * of an f32 master weight. dst is an Ops.upload'ed half buffer, src an f32 one of the same row length.
   */
  castHalf(dst: Buf, src: Buf, n: number): void;
}
