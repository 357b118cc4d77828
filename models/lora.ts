// LoRA adapters with PEFT's semantics for the linear layers of models/llama-train.ts:
//   y = x·Wᵀ (+ b) + (α/r) · dropout(x)·Aᵀ·Bᵀ,  A [r, in] Kaiming-uniform (a = √5, as PEFT), B [out, r] zero.
// The base weight stays frozen; only A and B are trained. Forward and backward sit side by side below.
//
// Dropout is never materialized: the GEMMs that read x draw its mask on the fly from a per-micro-batch salt
// (TrainOps' DropMask), so an adapter keeps only its [rows, r] activation; the 1/(1−p) rescaling folds into the
// adapter's scale, applied to that small tensor.
import type { Buf, GluStore, Half } from '../core/ops.ts';
import { dropThreshold, type DropMask, type TrainOps } from '../core/train-ops.ts';
import { allLoraTargets, familyOfConfig, linearKeyOf, type LinearKey, type ModelFamily } from './families/index.ts';
import type { LlamaConfig } from './llama.ts';

/** A PEFT module name LoRA can target (q_proj, …): each model family declares its own (models/families/). */
export type TargetModule = string;
export type { LinearKey };
/** Every module name the built-in families let LoRA target (what `all-linear` selects for them). */
export const TARGET_MODULES: readonly TargetModule[] = allLoraTargets();

/** The linear layer (LlamaLayerWeights key) a target module names in the family of `c`; one it does not have fails. */
export function loraLinearKey(c: Pick<LlamaConfig, 'modelType'>, module: TargetModule): LinearKey {
  const family = familyOfConfig(c), key = linearKeyOf(family, module);
  if (!key) throw new LoraConfigError(`--target_modules ${module} is not a linear layer of ${family.modelType} models; valid: all-linear or ${family.loraTargets.join(', ')}`);
  return key;
}

export interface LoraConfig {
  rank: number;
  alpha: number;
  dropout: number;
  targets: readonly TargetModule[];
  /** seeds A's initialisation and the dropout masks */
  seed: number;
}

export class LoraConfigError extends Error {}

/** `all-linear` or names separated by commas/spaces, checked against `family`'s targets (default: every registered
 *  family's); an unknown name lists the valid ones. */
export function parseTargetModules(spec: string | readonly string[], family?: ModelFamily): TargetModule[] {
  const valid = family ? [...family.loraTargets] : allLoraTargets();
  const names = (typeof spec === 'string' ? [spec] : spec).flatMap((s) => s.split(/[\s,]+/)).filter(Boolean);
  if (names.length === 0 || names.includes('all-linear')) return valid;
  const bad = names.filter((n) => !valid.includes(n));
  if (bad.length) throw new LoraConfigError(`unknown --target_modules ${bad.join(', ')}; valid: all-linear or ${valid.join(', ')}`);
  return [...new Set(names)];
}

/** mulberry32: small, seedable, the same on every runtime. */
export function mulberry32(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const mix = (...xs: number[]) => xs.reduce((h, x) => Math.imul(h ^ (x >>> 0), 0x9e3779b1) ^ (h >>> 15), 0x12345678);

/** PEFT's init: kaiming_uniform_(A, a=√5) = U(−1/√in, 1/√in); B = 0. */
export function initLoraA(rank: number, inFeatures: number, seed: number, index: number): Float32Array {
  const r = mulberry32(mix(seed, index, 0xa)), bound = 1 / Math.sqrt(inFeatures), a = new Float32Array(rank * inFeatures);
  for (let j = 0; j < a.length; j++) a[j] = (r() * 2 - 1) * bound;
  return a;
}

/** A trainable tensor: value, gradient and (lazily) AdamW moments; decay: whether weight decay applies; row: its row
 *  length (Ops.alloc's), to allocate it again (ZeRO-3 frees a parameter between uses and gathers it back). */
/** A trainable tensor: its f32 value (the master copy), gradient and AdamW moments; half: the 16-bit copy (of
 *  type halfType) the kernels read in mixed-precision training (refreshed from value after each update). */
export interface Param { name: string; size: number; value: Buf; grad: Buf; m?: Buf; v?: Buf; decay: boolean; row?: number; half?: Buf; halfType?: Half }

/** Scratch shared by every adapter of a trainer (dispatches are ordered, so one set serves all); salts: i32, one per adapter. */
export interface LoraScratch { du: Buf; salts: Buf }

/** The salt of adapter `index`'s dropout mask in micro-batch `micro`: a function of the seed, so resumable. */
export const dropoutSalt = (seed: number, micro: number, index: number) => mix(seed, micro, index, 0xd) | 0;

export class LoraAdapter {
  readonly A: Param;
  readonly B: Param;
  private readonly u: Buf;        // scale·mask(x)·Aᵀ, saved for dB
  /** the input's dropout mask, drawn on the fly by the GEMMs that read x (no mask tensor is stored) */
  private readonly mask: DropMask | null;
  private readonly scaleC: number;
  constructor(private readonly ops: TrainOps, name: string, readonly N: number, readonly K: number, private readonly rows: number,
    private readonly cfg: LoraConfig, private readonly s: LoraScratch, readonly index: number) {
    const r = cfg.rank;
    const A = initLoraA(r, K, cfg.seed, index);
    this.A = { name: `${name}.loraA`, size: A.length, value: ops.upload(A), grad: ops.alloc(A.length), decay: true };
    this.B = { name: `${name}.loraB`, size: N * r, value: ops.alloc(N * r), grad: ops.alloc(N * r), decay: true };
    this.u = ops.alloc(rows * r);
    this.scaleC = cfg.alpha / r / (1 - cfg.dropout);  // inverted dropout: kept inputs are scaled by 1/(1−p)
    this.mask = cfg.dropout > 0 ? { salts: s.salts, index, threshold: dropThreshold(cfg.dropout) } : null;
  }

  /** y += scale · mask(x)·Aᵀ·Bᵀ (dropout only when training) */
  forward(y: Buf, x: Buf, train: boolean, glu: GluStore | null = null): void {
    const { ops, rows, N, K } = this, r = this.cfg.rank;
    const mask = train ? this.mask : null, c = mask ? this.scaleC : this.cfg.alpha / r;
    ops.matmulNT(this.u, x, this.A.value, rows, r, K, 0, mask, c);  // u = c·mask(x)·Aᵀ, scaled as it is stored
    ops.matmulNT(y, this.u, this.B.value, rows, N, r, 1, null, 1, glu);  // finishes y, and the SwiGLU on it if asked
  }

  /** dA, dB += their gradients; dxAcc += the gradient through the adapter's input (after a training forward). */
  backward(dxAcc: Buf, dy: Buf, x: Buf): void {
    const { ops, rows, N, K, s } = this, r = this.cfg.rank;
    ops.matmulTNAcc(this.B.grad, dy, this.u, N, r, rows, 1);
    ops.matmulNN(s.du, dy, this.B.value, rows, r, N, 0, null, this.scaleC);
    ops.matmulTNAcc(this.A.grad, s.du, x, r, K, rows, 1, this.mask);
    ops.matmulNN(dxAcc, s.du, this.A.value, rows, K, r, 1, this.mask);
  }
}
