// Row and elementwise kernels: embedding, kvStore, rmsnorm, rope, swiglu, add.
// These are cheap next to matmul, so where the reference computes in f64 they do too (then round to f32):
// the WASM backend should track the reference closely enough to reproduce greedy token sequences.

/** out[t, :] = table[ids[t], :] */
export function embedding(out: usize, table: usize, ids: usize, T: i32, dim: i32): void {
  const row = <usize>dim << 2;
  for (let t = 0; t < T; t++) {
    const id = <usize>load<i32>(ids + (<usize>t << 2));
    memory.copy(out + <usize>t * row, table + id * row, row);
  }
}

/** cache[pos[t], :] = src[t, :] */
export function kvStore(cache: usize, src: usize, pos: usize, T: i32, width: i32): void {
  const row = <usize>width << 2;
  for (let t = 0; t < T; t++) {
    const p = <usize>load<i32>(pos + (<usize>t << 2));
    memory.copy(cache + p * row, src + <usize>t * row, row);
  }
}

/** out[t] = x[t] / sqrt(mean(x[t]²) + eps) * w; the sum of squares in f64 (f64x2 lanes). */
export function rmsnorm(out: usize, x: usize, w: usize, T: i32, dim: i32, eps: f64): void {
  for (let t = 0; t < T; t++) {
    const xr = x + (<usize>t * dim << 2), or = out + (<usize>t * dim << 2);
    let lo = f64x2.splat(0), hi = lo;
    let j = 0;
    for (; j + 4 <= dim; j += 4) {
      const v = v128.load(xr + (<usize>j << 2));
      const a = f64x2.promote_low_f32x4(v), b = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
      lo = f64x2.add(lo, f64x2.mul(a, a));
      hi = f64x2.add(hi, f64x2.mul(b, b));
    }
    const s = f64x2.add(lo, hi);
    let ss = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
    for (; j < dim; j++) { const v = <f64>load<f32>(xr + (<usize>j << 2)); ss += v * v; }
    const scale = 1 / Math.sqrt(ss / dim + eps);
    for (j = 0; j < dim; j++) {
      const o = <usize>j << 2;
      store<f32>(or + o, <f32>(<f64>load<f32>(xr + o) * scale * <f64>load<f32>(w + o)));
    }
  }
}

/**
 * In-place rotate-half RoPE on x [T, nHeads*headDim]: θ = pos·invFreq[i], invFreq an f64 table of headDim/2
 * entries (theta^(-2i/headDim), or scaled), angles in f64 like the reference; each (t, i) angle is shared by all heads.
 */
export function rope(x: usize, pos: usize, T: i32, nHeads: i32, headDim: i32, invFreq: usize): void {
  const half = headDim >> 1;
  const headBytes = <usize>headDim << 2, halfBytes = <usize>half << 2;
  for (let t = 0; t < T; t++) {
    const p = <f64>load<i32>(pos + (<usize>t << 2));
    const row = x + <usize>t * nHeads * headBytes;
    for (let i = 0; i < half; i++) {
      const angle = p * load<f64>(invFreq + (<usize>i << 3));
      const c = Math.cos(angle), s = Math.sin(angle);
      for (let h = 0; h < nHeads; h++) {
        const pa = row + <usize>h * headBytes + (<usize>i << 2), pb = pa + halfBytes;
        const a = <f64>load<f32>(pa), b = <f64>load<f32>(pb);
        store<f32>(pa, <f32>(a * c - b * s));
        store<f32>(pb, <f32>(b * c + a * s));
      }
    }
  }
}

/** out = silu(gate) * up, in f64 per element (exp dominates; n is small next to matmul work). */
export function swiglu(out: usize, gate: usize, up: usize, n: i32): void {
  for (let j = 0; j < n; j++) {
    const o = <usize>j << 2;
    const g = <f64>load<f32>(gate + o);
    store<f32>(out + o, <f32>(g / (1 + Math.exp(-g)) * <f64>load<f32>(up + o)));
  }
}

/** out = a + b (out may alias a or b). */
export function add(out: usize, a: usize, b: usize, n: i32): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** x[r, :] += bias[:] for r < rows, in place. */
export function addBias(x: usize, bias: usize, rows: i32, dim: i32): void {
  for (let r = 0; r < rows; r++) add(x + (<usize>(r * dim) << 2), x + (<usize>(r * dim) << 2), bias, dim);
}
