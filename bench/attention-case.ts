// One training-attention problem on a TrainOps backend, shared by bench/gpu-check.ts and bench/webgpu-attention.ts:
// deterministic q, k, v and dout of B·T rows (H query heads, KV kv heads, head dim D), the output buffers, and the
// forward and backward calls on them. Not a test.
import type { Buf } from '../core/ops.ts';
import type { AttentionShape, TrainOps } from '../core/train-ops.ts';

export interface AttentionCase {
  shape: AttentionShape;
  bufs: Record<'q' | 'k' | 'v' | 'dout' | 'out' | 'lse' | 'dq' | 'dk' | 'dv', Buf>;
  forward(): void;
  backward(): void;
  free(): void;
}

export function attentionCase(ops: TrainOps, B: number, T: number, H: number, KV: number, D: number): AttentionCase {
  const rows = B * T, shape: AttentionShape = { B, T, nHeads: H, nKvHeads: KV, headDim: D, pos: null, seg: null };
  const fill = (n: number, f: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * f + 1));
  const b = { q: ops.upload(fill(rows * H * D, 0.37)), k: ops.upload(fill(rows * KV * D, 0.11)), v: ops.upload(fill(rows * KV * D, 0.07)),
    dout: ops.upload(fill(rows * H * D, 0.29)), out: ops.alloc(rows * H * D), lse: ops.alloc(rows * H), dq: ops.alloc(rows * H * D),
    dk: ops.alloc(rows * KV * D), dv: ops.alloc(rows * KV * D) };
  return {
    shape, bufs: b,
    forward: () => ops.attentionTrain({ out: b.out, lse: b.lse, q: b.q, k: b.k, v: b.v }, shape),
    backward: () => ops.attentionBackward({ dq: b.dq, dk: b.dk, dv: b.dv, dout: b.dout, q: b.q, k: b.k, v: b.v, out: b.out, lse: b.lse }, shape),
    free: () => { for (const x of Object.values(b)) ops.free(x); },
  };
}
