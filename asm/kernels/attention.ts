// Causal grouped-query attention against a KV cache, one query row and head at a time:
// scores = q·k / sqrt(headDim) for cache rows 0..pos[t], softmax in f32 with the max subtracted
// (the normaliser summed in f64), then out = Σ p·v accumulated in f32x4 lanes.
import { alloc, free } from './alloc';
import { hsum, madd } from './simd';

// Scores scratch, grown on demand and kept between calls.
let scratch: usize = 0;
let scratchLen: i32 = 0;

function scores(len: i32): usize {
  if (len > scratchLen) {
    free(scratch);
    scratchLen = max(len, scratchLen * 2);
    scratch = alloc(<usize>scratchLen << 2);
    if (scratch == 0) unreachable();
  }
  return scratch;
}


function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let d = 0;
  for (; d + 4 <= n; d += 4) {
    const o = <usize>d << 2;
    acc = madd(acc, v128.load(a + o), v128.load(b + o));
  }
  let s = hsum(acc);
  for (; d < n; d++) s += load<f32>(a + (<usize>d << 2)) * load<f32>(b + (<usize>d << 2));
  return s;
}

/** out[t, h] = softmax(q[t, h] · K[0..pos[t], kvh]ᵀ / sqrt(headDim)) · V[0..pos[t], kvh], kvh = h / (nHeads/nKvHeads). */
export function attention(out: usize, q: usize, kCache: usize, vCache: usize, pos: usize,
  T: i32, nHeads: i32, nKvHeads: i32, headDim: i32): void {
  const group = nHeads / nKvHeads;
  const kvRow = <usize>(nKvHeads * headDim) << 2, headBytes = <usize>headDim << 2;
  const scale = <f32>(1 / Math.sqrt(<f64>headDim));
  const hd4 = headDim & ~3;
  for (let t = 0; t < T; t++) {
    const len = load<i32>(pos + (<usize>t << 2)) + 1;
    const p = scores(len);
    for (let h = 0; h < nHeads; h++) {
      const qh = q + <usize>(t * nHeads + h) * headBytes, oh = out + <usize>(t * nHeads + h) * headBytes;
      const kvOff = <usize>(h / group) * headBytes;

      let mx = -Infinity as f32;
      for (let s = 0; s < len; s++) {
        const sc = dot(qh, kCache + <usize>s * kvRow + kvOff, headDim) * scale;
        store<f32>(p + (<usize>s << 2), sc);
        mx = max(mx, sc);
      }
      let sum: f64 = 0;
      for (let s = 0; s < len; s++) {
        const e = Mathf.exp(load<f32>(p + (<usize>s << 2)) - mx);
        store<f32>(p + (<usize>s << 2), e);
        sum += e;
      }

      memory.fill(oh, 0, headBytes);
      for (let s = 0; s < len; s++) {
        const ps = load<f32>(p + (<usize>s << 2));
        const pv = f32x4.splat(ps);
        const v = vCache + <usize>s * kvRow + kvOff;
        let d = 0;
        for (; d < hd4; d += 4) {
          const o = <usize>d << 2;
          v128.store(oh + o, madd(v128.load(oh + o), pv, v128.load(v + o)));
        }
        for (; d < headDim; d++) {
          const o = <usize>d << 2;
          store<f32>(oh + o, load<f32>(oh + o) + ps * load<f32>(v + o));
        }
      }
      const inv = <f32>(1 / sum);
      for (let d = 0; d < headDim; d++) store<f32>(oh + (<usize>d << 2), load<f32>(oh + (<usize>d << 2)) * inv);
    }
  }
}
