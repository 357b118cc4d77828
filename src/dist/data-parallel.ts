// Data parallelism for the trainer: after each accumulated batch the gradients are summed over the ranks (each rank
// computed its share of the same token-weighted mean, so the sum is the single-process gradient), then:
//   DDP (no --deepspeed): all-reduce, and every rank takes the same optimizer step;
//   ZeRO-1: all-reduce, but each rank keeps AdamW's moments (and an f32 master copy) for its shard only, steps that
//           shard, and the updated shards are all-gathered into every rank's weights;
//   ZeRO-2: reduce-scatter instead: a rank receives only its shard of the summed gradients (half the traffic), and the
//           gradient norm for clipping adds up each parameter's squares over the shards. The full-size gradients
//           exist one layer at a time: the trainer asks for a layer's gradient buffers before its backward
//           (ParamResidency) and they are reduce-scattered into the shard and freed right after it, each micro-batch.
//   ZeRO-3: parameters sharded too. A rank keeps only its shard of each parameter (the f32 master the optimizer
//           steps) and of each frozen weight (LoRA's base, host memory); the trainer asks for a layer's weights
//           before its forward and again before its backward (ParamResidency), they are all-gathered into fresh
//           buffers and freed after the use; after a layer's backward its gradients are reduce-scattered at once,
//           each micro-batch, and added to this rank's shard.
// Parameters go in buckets (whole tensors, about bucketFloats each; ZeRO-2/3: one bucket per residency group, a
// layer); a rank's shard is chunk `rank` of every bucket.
// Collectives run one at a time in issue order (inTurn). On WebGPU, whose device computes while the JS thread is
// free, the next layers' backward is recorded while a layer's gradients are read back and go round the ring (DDP,
// ZeRO-1: all-reduced in the step's last micro-batch; ZeRO-2/3: reduce-scattered each micro-batch).
// Limits, said plainly: DDP and ZeRO-1 accumulate into full-size gradient buffers (the trainer owns them); on WASM
// nothing overlaps (its compute holds the JS thread); ZeRO-3 does not prefetch.
import type { Buf } from '../../core/ops.ts';
import type { TrainOps } from '../../core/train-ops.ts';
import type { AdamWOptions, FrozenWeight, LlamaTrainer, Param, ParamResidency, StepResult } from '../../models/llama-train.ts';
import { UserError } from '../../core/errors.ts';
import { chunkRange, type Group } from './comm.ts';

export type ZeroStage = 0 | 1 | 2 | 3;

/** --deepspeed values (ms-swift's names) → ZeRO stage */
export const DEEPSPEED_STAGES: Record<string, 1 | 2 | 3> = { zero1: 1, zero2: 2, 'default-zero2': 2, zero3: 3, 'default-zero3': 3 };

export function zeroStage(deepspeed: string | undefined): ZeroStage {
  if (!deepspeed) return 0;
  const s = DEEPSPEED_STAGES[deepspeed];
  if (s === undefined) throw new UserError(`--deepspeed ${deepspeed}: valid are ${Object.keys(DEEPSPEED_STAGES).join(', ')}`);
  return s;
}

interface Bucket { params: { p: Param; at: number }[]; size: number }
/** ZeRO-3: a group's frozen weights, concatenated; `shard` is this rank's chunk of them (host) */
interface FrozenBucket { items: { f: FrozenWeight; at: number }[]; size: number; shard?: Float32Array }
/** the part of one parameter inside this rank's chunk of a bucket, with its device state */
interface Segment { p: Param; from: number; len: number; bucket: number; at: number; value: Buf; grad: Buf; m?: Buf; v?: Buf }

export const DEFAULT_BUCKET_FLOATS = 1 << 22;  // 16 MiB of f32, like DDP's 25 MB default

export class DataParallel implements ParamResidency {
  readonly buckets: Bucket[] = [];
  private segments?: Segment[];
  /** ZeRO: this rank's shard of the summed gradient, per segment (host) */
  private shardGrads: Float32Array[] = [];
  /** ZeRO-3: the bucket of each residency group (−1: the group has no trainable parameter) */
  private readonly groupBucket: number[] = [];
  /** ZeRO-3: each residency group's frozen weights (empty in full training) */
  private readonly frozenBuckets: FrozenBucket[] = [];
  /** ZeRO-3: the most floats whole at once (the largest group, or the two the tied head holds during the backward) */
  private peakFloats = 0;
  /** the collectives issued so far, chained in issue order (inTurn) */
  private comm: Promise<void> = Promise.resolve();
  /** the backward goes on while a layer's gradients go round the ring (a device computing on its own: WebGPU) */
  private readonly overlap: boolean;
  /** DDP/ZeRO-1 with overlap: this micro-batch is the step's last, so each layer's gradients are all-reduced after
   *  its backward */
  private allReduceInBackward = false;
  /** ZeRO-1 overlapping: this rank's slice of each segment's summed gradient, as the layers' all-reduces finish */
  private summedShards: Float32Array[] = [];

  constructor(readonly group: Group, private readonly ops: TrainOps, private readonly trainer: LlamaTrainer, readonly stage: ZeroStage,
    bucketFloats = DEFAULT_BUCKET_FLOATS) {
    this.overlap = ops.caps.computesApart;
    // ZeRO-2/3 always, DDP where it overlaps: a bucket per residency group (a layer), handed over as its backward ends
    if (stage >= 2 || this.overlap) {
      for (const [g, ps] of trainer.groups.entries()) {
        const fb: FrozenBucket = { items: [], size: 0 };
        if (stage === 3) for (const f of trainer.frozen[g]) { fb.items.push({ f, at: fb.size }); fb.size += f.size; }
        this.frozenBuckets.push(fb);
        if (!ps.length) { this.groupBucket.push(-1); continue; }
        const b: Bucket = { params: [], size: 0 };
        for (const p of ps) { b.params.push({ p, at: b.size }); b.size += p.size; }
        this.groupBucket.push(this.buckets.push(b) - 1);
      }
      // whole at once: a group's gradients (ZeRO-3: and values and frozen weights), two groups while a tied head waits
      const held = trainer.groups.map((ps, g) => (stage - 1) * ps.reduce((n, p) => n + p.size, 0) + this.frozenBuckets[g].size).sort((x, y) => y - x);
      if (stage >= 2) this.peakFloats = (held[0] ?? 0) + (held[1] ?? 0);
      trainer.residency = this;
      return;
    }
    let cur: Bucket = { params: [], size: 0 };
    for (const p of trainer.params) {
      if (cur.size && cur.size + p.size > bucketFloats) { this.buckets.push(cur); cur = { params: [], size: 0 }; }
      cur.params.push({ p, at: cur.size }); cur.size += p.size;
    }
    if (cur.size) this.buckets.push(cur);
  }

  /** Called before each micro-batch: whether it is the last before the step (DDP overlapping the ring: its backward
   *  hands each layer's summed gradients to the ring as it ends, as PyTorch DDP does outside no_sync). */
  microBatch(last: boolean): void { this.allReduceInBackward = this.stage <= 1 && this.overlap && last; }

  /** Zeroes the gradients before an update: the trainer's (ZeRO-2/3: this rank's accumulated shards). */
  zeroGrad(): void {
    if (this.stage >= 2) { for (const g of this.shardGrads) g.fill(0); return; }
    this.trainer.zeroGrad();
  }

  /** ZeRO-3: group g's parameters all-gathered from the shards into fresh buffers (backward: and zero gradients).
   *  ZeRO-2: the parameters are whole; before the backward, fresh zero gradients. */
  async fetch(g: number, phase: 'forward' | 'backward'): Promise<void> {
    if (this.stage <= 1) return;  // DDP, ZeRO-1: whole weights and gradients
    const segs = await this.shard(), fb = this.frozenBuckets[g];
    if (this.stage === 2) {
      const bi = this.groupBucket[g];
      if (phase === 'backward' && bi >= 0) for (const { p } of this.buckets[bi].params) p.grad = this.ops.alloc(p.size, 'f32', p.row);
      return;
    }
    if (fb.size) {
      const flat = new Float32Array(fb.size), [lo] = chunkRange(fb.size, this.group.world, this.group.rank);
      flat.set(fb.shard!, lo);
      await this.inTurn(() => this.group.allGather(flat));
      for (const { f, at } of fb.items) f.value = this.ops.upload(flat.subarray(at, at + f.size), f.row, f.half);
    }
    const bi = this.groupBucket[g];
    if (bi < 0) return;
    const { ops } = this, b = this.buckets[bi], flat = new Float32Array(b.size);
    await this.inTurn(async () => {
      for (const s of segs) if (s.bucket === bi) flat.set(await ops.read(s.value, s.len), s.at);
      await this.group.allGather(flat);
    });
    for (const { p, at } of b.params) {
      // mixed precision: the kernels read only the 16-bit copy, so that is all that is gathered whole
      if (p.halfType) p.half = ops.upload(flat.subarray(at, at + p.size), p.row, p.halfType);
      else p.value = ops.upload(flat.subarray(at, at + p.size), p.row);
      if (phase === 'backward') p.grad = ops.alloc(p.size, 'f32', p.row);
    }
  }

  /** ZeRO-3: frees group g's gathered parameters; after its backward, first sums its gradients into the shards.
   *  ZeRO-2: the same for its gradients only. */
  async release(g: number, phase: 'forward' | 'backward'): Promise<void> {
    if (this.stage <= 1) { if (phase === 'backward' && this.allReduceInBackward) this.allReduceGroup(g); return; }
    if (this.stage === 2 && phase === 'forward') return;
    for (const { f } of this.frozenBuckets[g].items) this.ops.free(f.value);
    const bi = this.groupBucket[g];
    if (bi < 0) return;
    const { ops } = this, b = this.buckets[bi];
    for (const { p } of b.params) if (this.stage === 3) { if (p.half) { ops.free(p.half); p.half = undefined; } else ops.free(p.value); }
    if (phase !== 'backward') return;
    const grads = b.params.map(({ p, at }) => ({ buf: p.grad, size: p.size, at }));
    const done = this.inTurn(async () => {
      const flat = new Float32Array(b.size);
      for (const g of grads) flat.set(await ops.read(g.buf, g.size), g.at);
      for (const g of grads) ops.free(g.buf);
      await this.group.reduceScatter(flat);
      for (const [i, s] of this.segments!.entries()) {
        if (s.bucket !== bi) continue;
        const acc = this.shardGrads[i];
        for (let j = 0; j < s.len; j++) acc[j] += flat[s.at + j];
      }
    });
    // A device that computes on its own (WebGPU) goes on with the next layers' backward while this layer's gradients
    // are read back and go round the ring (syncGrads waits for them); on WASM the compute holds the JS thread, so
    // nothing would overlap and the layer's gradients would only stay alive longer: wait here.
    if (this.overlap) done.catch(() => { /* rethrown by syncGrads, which awaits the same chain */ });
    else await done;
  }

  /** DDP/ZeRO-1 overlapping: group g's accumulated gradients all-reduced and written back, in turn, while the backward
   *  goes on (nothing writes them again this step: the tied head's group is released last); ZeRO-1 also keeps this
   *  rank's slices of them for its shard's update. */
  private allReduceGroup(g: number): void {
    const bi = this.groupBucket[g];
    if (bi < 0) return;
    const { ops } = this, b = this.buckets[bi];
    this.inTurn(async () => {
      const flat = await this.bucketOf(b, 'grad');
      await this.group.allReduce(flat);
      for (const { p, at } of b.params) ops.write(p.grad, flat.subarray(at, at + p.size));
      if (this.stage === 1) for (const [i, s] of (await this.shard()).entries()) if (s.bucket === bi) this.summedShards[i] = flat.slice(s.at, s.at + s.len);
    }).catch(() => { /* rethrown by syncGrads, which awaits the same chain */ });
  }

  /** Runs f after every collective issued before it (ranks must issue them in one order; the ring carries one at
   *  a time); resolves with it. */
  private inTurn(f: () => Promise<void>): Promise<void> {
    const next = this.comm.then(f);
    this.comm = next;
    return next;
  }

  private async bucketOf(b: Bucket, what: 'grad' | 'value'): Promise<Float32Array> {
    const flat = new Float32Array(b.size);
    for (const { p, at } of b.params) flat.set(await this.ops.read(p[what], p.size), at);
    return flat;
  }

  /** Sums the gradients over the ranks (all-reduce; ZeRO-2: reduce-scatter). Call after the last micro-batch's backward. */
  async syncGrads(): Promise<void> {
    if (this.stage >= 2) { await this.comm; return; }  // reduce-scattered layer by layer in the backward (release)
    if (this.allReduceInBackward) {  // DDP, ZeRO-1: all-reduced layer by layer in the backward (release)
      await this.comm;
      this.allReduceInBackward = false;
      if (this.stage === 1) {
        const n = (await this.shard()).length;
        if (Array.from({ length: n }, (_, i) => this.summedShards[i]).some((x) => !x)) throw new Error('data-parallel: a layer\'s gradients were not summed in the backward');
        this.shardGrads = this.summedShards;
        this.summedShards = [];
      }
      return;
    }
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
    if (this.stage >= 2) {  // gradients accumulate per shard; the whole ones exist a layer at a time (fetch)
      for (const p of this.trainer.params) ops.free(p.grad);
      this.shardGrads = segs.map((s) => new Float32Array(s.len));
    }
    if (this.stage === 3) {  // the shards are the parameters now: the whole ones go (16-bit copies too)
      for (const p of this.trainer.params) { ops.free(p.value); if (p.half) { ops.free(p.half); p.half = undefined; } }
      for (const fb of this.frozenBuckets) {  // the frozen weights too: this rank's chunk stays, on the host
        if (!fb.size) continue;
        const flat = new Float32Array(fb.size), [lo, hi] = chunkRange(fb.size, group.world, group.rank);
        for (const { f, at } of fb.items) { flat.set(await ops.read(f.value, f.size), at); ops.free(f.value); }
        fb.shard = flat.slice(lo, hi);
      }
    }
    return (this.segments = segs);
  }

  /** The optimizer step after syncGrads: the trainer's own (DDP) or this rank's shard, then all-gather (ZeRO). */
  async step(o: AdamWOptions): Promise<StepResult> {
    if (!this.stage) return this.trainer.step(o);
    const { ops, trainer } = this, segs = this.segments!;
    // The norm is summed as the trainer sums it (one f32 accumulator, parameter by parameter): Adam near its epsilon
    // turns a last-bit change of the clipping factor into visible weight differences within a few steps.
    let gradNorm: number;
    if (this.stage === 1) gradNorm = await trainer.gradNorm();  // the summed gradients are whole on every rank
    else {  // ZeRO-2/3: each parameter's squares from the shards that hold it, then the trainer's f32 accumulation
      const index = new Map(trainer.params.map((p, i) => [p, i])), mine = new Array<number>(trainer.params.length).fill(0);
      for (const [i, s] of segs.entries()) { let a = 0; for (const x of this.shardGrads[i]) a += x * x; mine[index.get(s.p)!] += a; }
      let norm2 = 0;
      for (const x of await this.group.sum(mine)) norm2 = Math.fround(norm2 + x);
      gradNorm = Math.sqrt(norm2);
    }
    const checked = trainer.unscale(gradNorm, o);  // loss scaling and clipping as the trainer's own step does them
    if (!checked.apply) return { gradNorm: checked.gradNorm, skipped: checked.skipped };
    const coef = checked.coef;
    trainer.steps++;
    const wd = o.weightDecay ?? 0, flats = this.stage < 3 ? this.buckets.map((b) => new Float32Array(b.size)) : [];
    for (const [i, s] of segs.entries()) {
      const g = this.shardGrads[i];
      if (coef !== 1) for (let j = 0; j < g.length; j++) g[j] *= coef;
      ops.write(s.grad, g);
      if (o.optim === 'sgd') {
        if (wd && s.p.decay) ops.scale(s.value, 1 - o.lr * wd, s.len);
        ops.sgd(s.value, s.grad, s.len, o.lr);
      } else {
        s.m ??= ops.alloc(s.len, 'f32', 1); s.v ??= ops.alloc(s.len, 'f32', 1);
        ops.adamw(s.value, s.grad, s.m, s.v, s.len, trainer.steps, o.lr, o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.eps ?? 1e-8, s.p.decay ? wd : 0);
      }
      if (this.stage < 3) flats[s.bucket].set(await ops.read(s.value, s.len), s.at);
    }
    if (this.stage === 3) return { gradNorm: checked.gradNorm };  // the shards are the parameters: gathered when next used
    for (const [bi, b] of this.buckets.entries()) {
      await this.group.allGather(flats[bi]);
      for (const { p, at } of b.params) ops.write(p.value, flats[bi].subarray(at, at + p.size));
    }
    trainer.refreshHalf();
    return { gradNorm: checked.gradNorm };
  }

  /** ZeRO: AdamW's moments (ZeRO-3: and the values) gathered whole from the shards (every rank calls it; a
   *  checkpoint needs them whole). */
  private async gatherShards(): Promise<Partial<Record<'value' | 'm' | 'v', Map<string, Float32Array>>>> {
    const out: Partial<Record<'value' | 'm' | 'v', Map<string, Float32Array>>> = {};
    const segs = await this.shard();
    for (const w of this.stage === 3 ? ['value', 'm', 'v'] as const : ['m', 'v'] as const) {
      out[w] = new Map();
      for (const [bi, b] of this.buckets.entries()) {
        const flat = new Float32Array(b.size);
        for (const s of segs) if (s.bucket === bi && s[w]) flat.set(await this.ops.read(s[w]!, s.len), s.at);
        await this.group.allGather(flat);
        for (const { p, at } of b.params) out[w]!.set(p.name, flat.slice(at, at + p.size));
      }
    }
    return out;
  }

  /**
   * The trainer as saveCheckpoint reads it: under ZeRO its read('m' | 'v') (ZeRO-3: and 'value') returns them
   * gathered whole, so the checkpoint has the single-process layout and resumes on any world size. Every rank calls
   * it (a collective).
   */
  async checkpointView(): Promise<LlamaTrainer> {
    if (!this.stage) return this.trainer;
    const whole = await this.gatherShards(), trainer = this.trainer;
    const view = Object.create(trainer) as LlamaTrainer;
    view.read = async (what) => whole[what as 'value' | 'm' | 'v'] ?? trainer.read(what);
    return view;
  }

  /**
   * Bytes this rank holds between steps for trainable weights, frozen weights (LoRA's base, counted as f32),
   * summed gradients and optimizer state (AdamW moments; ZeRO-1/2: the f32 master shard beside the whole weights).
   * ZeRO-3 holds shards only (the frozen one on the host), and while a layer is in use its gathered weights and
   * gradients as well (`transient`: the largest such set); ZeRO-2 whole weights, and a layer's gradients at a time.
   */
  memory(adamw: boolean): { weights: number; frozen: number; grads: number; optimizer: number; transient: number } {
    const full = this.trainer.params.reduce((s, p) => s + p.size, 0) * 4;
    const frozen = this.trainer.frozen.flat().reduce((s, f) => s + f.size, 0) * 4;
    if (!this.stage) return { weights: full, frozen, grads: full, optimizer: adamw ? 2 * full : 0, transient: 0 };
    const shard = (this.segments ?? []).reduce((s, g) => s + g.len, 0) * 4;
    if (this.stage === 3) {
      const frozenShard = this.frozenBuckets.reduce((s, b) => s + (b.shard?.length ?? 0), 0) * 4;
      return { weights: shard, frozen: frozenShard, grads: shard, optimizer: adamw ? 2 * shard : 0, transient: 4 * this.peakFloats };
    }
    return { weights: full, frozen, grads: this.stage === 2 ? shard : full, optimizer: (adamw ? 2 * shard : 0) + shard,
      transient: this.stage === 2 ? 4 * this.peakFloats : 0 };
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
