// Data parallelism for the trainer: after each accumulated batch the gradients are summed over the ranks (each rank
// computed its share of the same token-weighted mean, so the sum is the single-process gradient), then:
//   DDP (no --deepspeed): all-reduce, and every rank takes the same optimizer step;
//   ZeRO-1: all-reduce, but each rank keeps AdamW's moments (and an f32 master copy) for its shard only, steps that
//           shard, and the updated shards are all-gathered into every rank's weights;
//   ZeRO-2: reduce-scatter instead: a rank receives only its shard of the summed gradients (half the traffic), and the
//           gradient norm for clipping adds up each parameter's squares over the shards.
// Parameters go in buckets (whole tensors, about bucketFloats each); a rank's shard is chunk `rank` of every bucket.
// Limits, said plainly: the backward still accumulates into full-size gradient buffers in every mode (the trainer
// owns them), and ZeRO-3 (parameters sharded, gathered per layer) is not implemented.
import type { Buf } from '../../core/ops.ts';
import type { TrainOps } from '../../core/train-ops.ts';
import type { AdamWOptions, LlamaTrainer, Param } from '../../models/llama-train.ts';
import { UserError } from '../../core/errors.ts';
import { chunkRange, type Group } from './comm.ts';

export type ZeroStage = 0 | 1 | 2;

/** --deepspeed values (ms-swift's names) → ZeRO stage; 3 is refused with a message (not implemented) */
export const DEEPSPEED_STAGES: Record<string, 1 | 2 | 3> = { zero1: 1, zero2: 2, 'default-zero2': 2, zero3: 3, 'default-zero3': 3 };

export function zeroStage(deepspeed: string | undefined): ZeroStage {
  if (!deepspeed) return 0;
  const s = DEEPSPEED_STAGES[deepspeed];
  if (s === undefined) throw new UserError(`--deepspeed ${deepspeed}: valid are ${Object.keys(DEEPSPEED_STAGES).join(', ')}`);
  if (s === 3) throw new UserError(`--deepspeed ${deepspeed}: ZeRO-3 (parameters sharded and gathered per layer) is not implemented in webtune; use zero2`);
  return s;
}

interface Bucket { params: { p: Param; at: number }[]; size: number }
/** the part of one parameter inside this rank's chunk of a bucket, with its device state */
interface Segment { p: Param; from: number; len: number; bucket: number; at: number; value: Buf; grad: Buf; m?: Buf; v?: Buf }

export const DEFAULT_BUCKET_FLOATS = 1 << 22;  // 16 MiB of f32, like DDP's 25 MB default

export class DataParallel {
  readonly buckets: Bucket[] = [];
  private segments?: Segment[];
  /** ZeRO: this rank's shard of the summed gradient, per segment (host) */
  private shardGrads: Float32Array[] = [];

  constructor(readonly group: Group, private readonly ops: TrainOps, private readonly trainer: LlamaTrainer, readonly stage: ZeroStage,
    bucketFloats = DEFAULT_BUCKET_FLOATS) {
    let cur: Bucket = { params: [], size: 0 };
    for (const p of trainer.params) {
      if (cur.size && cur.size + p.size > bucketFloats) { this.buckets.push(cur); cur = { params: [], size: 0 }; }
      cur.params.push({ p, at: cur.size }); cur.size += p.size;
    }
    if (cur.size) this.buckets.push(cur);
  }

  private async bucketOf(b: Bucket, what: 'grad' | 'value'): Promise<Float32Array> {
    const flat = new Float32Array(b.size);
    for (const { p, at } of b.params) flat.set(await this.ops.read(p[what], p.size), at);
    return flat;
  }

  /** Sums the gradients over the ranks (all-reduce; ZeRO-2: reduce-scatter). Call after the last micro-batch's backward. */
  async syncGrads(): Promise<void> {
    const segs = this.stage ? await this.shard() : [];
    this.shardGrads = [];
    for (const [bi, b] of this.buckets.entries()) {
      const flat = await this.bucketOf(b, 'grad');
      if (this.stage === 2) await this.group.reduceScatter(flat);
      else {
        await this.group.allReduce(flat);
        for (const { p, at } of b.params) this.ops.write(p.grad, flat.subarray(at, at + p.size));
      }
      for (const s of segs) if (s.bucket === bi) this.shardGrads.push(flat.slice(s.at, s.at + s.len));
    }
  }

  /** This rank's segments, made on first use (after a resume has loaded full moments, which move into the shards). */
  private async shard(): Promise<Segment[]> {
    if (this.segments) return this.segments;
    const { ops, group } = this, segs: Segment[] = [];
    for (const [bi, b] of this.buckets.entries()) {
      const [lo, hi] = chunkRange(b.size, group.world, group.rank);
      for (const { p, at } of b.params) {
        const from = Math.max(lo, at) - at, to = Math.min(hi, at + p.size) - at;
        if (to <= from) continue;
        const s: Segment = { p, from, len: to - from, bucket: bi, at: at + from, value: ops.alloc(to - from, 'f32', 1), grad: ops.alloc(to - from, 'f32', 1) };
        ops.write(s.value, (await ops.read(p.value, p.size)).subarray(from, to));
        for (const w of ['m', 'v'] as const) {
          const full = p[w];
          if (!full) continue;
          s[w] = ops.alloc(s.len, 'f32', 1);
          ops.write(s[w]!, (await ops.read(full, p.size)).subarray(from, to));
        }
        segs.push(s);
      }
    }
    for (const p of this.trainer.params) for (const w of ['m', 'v'] as const) if (p[w]) { ops.free(p[w]!); p[w] = undefined; }
    return (this.segments = segs);
  }

  /** The optimizer step after syncGrads: the trainer's own (DDP) or this rank's shard, then all-gather (ZeRO). */
  async step(o: AdamWOptions): Promise<{ gradNorm: number }> {
    if (!this.stage) return this.trainer.step(o);
    const { ops, trainer } = this, segs = this.segments!;
    // The norm is summed as the trainer sums it (one f32 accumulator, parameter by parameter): Adam near its epsilon
    // turns a last-bit change of the clipping factor into visible weight differences within a few steps.
    let gradNorm: number;
    if (this.stage === 1) gradNorm = await trainer.gradNorm();  // the summed gradients are whole on every rank
    else {  // ZeRO-2: each parameter's squares from the shards that hold it, then the trainer's f32 accumulation
      const index = new Map(trainer.params.map((p, i) => [p, i])), mine = new Array<number>(trainer.params.length).fill(0);
      for (const [i, s] of segs.entries()) { let a = 0; for (const x of this.shardGrads[i]) a += x * x; mine[index.get(s.p)!] += a; }
      let norm2 = 0;
      for (const x of await this.group.sum(mine)) norm2 = Math.fround(norm2 + x);
      gradNorm = Math.sqrt(norm2);
    }
    if (!Number.isFinite(gradNorm)) return { gradNorm };
    const coef = o.maxGradNorm ? o.maxGradNorm / (gradNorm + 1e-6) : 1;
    trainer.steps++;
    const wd = o.weightDecay ?? 0, flats = this.buckets.map((b) => new Float32Array(b.size));
    for (const [i, s] of segs.entries()) {
      const g = this.shardGrads[i];
      if (coef < 1) for (let j = 0; j < g.length; j++) g[j] *= coef;
      ops.write(s.grad, g);
      if (o.optim === 'sgd') {
        if (wd && s.p.decay) ops.scale(s.value, 1 - o.lr * wd, s.len);
        ops.sgd(s.value, s.grad, s.len, o.lr);
      } else {
        s.m ??= ops.alloc(s.len, 'f32', 1); s.v ??= ops.alloc(s.len, 'f32', 1);
        ops.adamw(s.value, s.grad, s.m, s.v, s.len, trainer.steps, o.lr, o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.eps ?? 1e-8, s.p.decay ? wd : 0);
      }
      flats[s.bucket].set(await ops.read(s.value, s.len), s.at);
    }
    for (const [bi, b] of this.buckets.entries()) {
      await this.group.allGather(flats[bi]);
      for (const { p, at } of b.params) ops.write(p.value, flats[bi].subarray(at, at + p.size));
    }
    return { gradNorm };
  }

  /** ZeRO: AdamW's moments gathered whole from the shards (every rank calls it; a checkpoint needs them whole). */
  private async gatherMoments(): Promise<{ m: Map<string, Float32Array>; v: Map<string, Float32Array> }> {
    const out = { m: new Map<string, Float32Array>(), v: new Map<string, Float32Array>() };
    const segs = await this.shard();
    for (const w of ['m', 'v'] as const) {
      for (const [bi, b] of this.buckets.entries()) {
        const flat = new Float32Array(b.size);
        for (const s of segs) if (s.bucket === bi && s[w]) flat.set(await this.ops.read(s[w]!, s.len), s.at);
        await this.group.allGather(flat);
        for (const { p, at } of b.params) out[w].set(p.name, flat.slice(at, at + p.size));
      }
    }
    return out;
  }

  /**
   * The trainer as saveCheckpoint reads it: under ZeRO its read('m' | 'v') returns the moments gathered whole, so the
   * checkpoint has the single-process layout and resumes on any world size. Every rank calls it (a collective).
   */
  async checkpointView(): Promise<LlamaTrainer> {
    if (!this.stage) return this.trainer;
    const moments = await this.gatherMoments(), trainer = this.trainer;
    const view = Object.create(trainer) as LlamaTrainer;
    view.read = async (what) => (what === 'm' || what === 'v' ? moments[what] : trainer.read(what));
    return view;
  }

  /** Bytes this rank holds for trainable weights, summed gradients and optimizer state (AdamW moments, ZeRO's master shard). */
  memory(adamw: boolean): { weights: number; grads: number; optimizer: number } {
    const full = this.trainer.params.reduce((s, p) => s + p.size, 0) * 4;
    if (!this.stage) return { weights: full, grads: full, optimizer: adamw ? 2 * full : 0 };
    const shard = (this.segments ?? []).reduce((s, g) => s + g.len, 0) * 4;
    return { weights: full, grads: this.stage === 2 ? shard : full, optimizer: (adamw ? 2 * shard : 0) + shard };
  }
}

/** A fingerprint of float and int arrays (FNV-1a over their 32-bit words, two lanes): equal inputs, equal strings. */
export function fingerprint(arrays: Iterable<ArrayBufferView>): string {
  let a = 0x811c9dc5, b = 0x01000193 ^ 0x5bd1e995;
  for (const x of arrays) {
    const words = new Uint32Array(x.buffer, x.byteOffset, x.byteLength >> 2);
    for (let i = 0; i < words.length; i++) { a = Math.imul(a ^ words[i], 0x01000193); b = Math.imul(b ^ words[i], 0x5bd1e995) ^ (b >>> 15); }
    a = Math.imul(a ^ x.byteLength, 0x01000193);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}
