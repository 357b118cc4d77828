// The training kernels besides the GEMM (gemm.ts): backward passes, the pieces of the fused cross-entropy, and the
// optimizer updates. Formulas as in core/train-ops.ts; src/backend/wasm-train-ops.ts wraps them as TrainOps.
// Sums over a row use f32x4 lanes; transcendental and optimizer arithmetic is f64 per element (memory-bound anyway).
import { alloc, free } from './alloc';
import { hsum, madd } from './simd';

@inline function at(p: usize, j: i32): usize { return p + (<usize>j << 2); }

function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0), j = 0;
  for (; j + 4 <= n; j += 4) acc = madd(acc, v128.load(at(a, j)), v128.load(at(b, j)));
  let s = hsum(acc);
  for (; j < n; j++) s += load<f32>(at(a, j)) * load<f32>(at(b, j));
  return s;
}
/** y += s·x over n */
function axpy(y: usize, s: f32, x: usize, n: i32): void {
  const sv = f32x4.splat(s);
  let j = 0;
  for (; j + 4 <= n; j += 4) v128.store(at(y, j), madd(v128.load(at(y, j)), sv, v128.load(at(x, j))));
  for (; j < n; j++) store<f32>(at(y, j), load<f32>(at(y, j)) + s * load<f32>(at(x, j)));
}

/** dx = r·(w∘dy) − x·r³/dim·Σ(w dy x) (overwritten), dwAcc += Σ_rows dy·x·r, r = 1/sqrt(mean(x²) + eps).
 *  The two row sums in f64 as the forward's (an f32 sum of squares overflows long before x does). */
export function rmsnormBackward(dx: usize, dw: usize, dy: usize, x: usize, w: usize, rows: i32, dim: i32, eps: f64): void {
  for (let r = 0; r < rows; r++) {
    const xr = at(x, r * dim), dyr = at(dy, r * dim), dxr = at(dx, r * dim);
    let ss: f64 = 0, dt: f64 = 0;
    for (let j = 0; j < dim; j++) {
      const xv = <f64>load<f32>(at(xr, j));
      ss += xv * xv; dt += <f64>load<f32>(at(w, j)) * <f64>load<f32>(at(dyr, j)) * xv;
    }
    const rs = 1 / Math.sqrt(ss / dim + eps), c = rs * rs * rs / dim * dt;
    for (let j = 0; j < dim; j++) {
      const xv = <f64>load<f32>(at(xr, j)), dyv = <f64>load<f32>(at(dyr, j));
      store<f32>(at(dxr, j), <f32>(rs * <f64>load<f32>(at(w, j)) * dyv - xv * c));
      store<f32>(at(dw, j), <f32>(<f64>load<f32>(at(dw, j)) + dyv * xv * rs));
    }
  }
}

/** dgate = dout·up·s·(1 + gate·(1 − s)), dup = dout·gate·s, s = sigmoid(gate). */
export function swigluBackward(dgate: usize, dup: usize, dout: usize, gate: usize, up: usize, n: i32): void {
  for (let j = 0; j < n; j++) {
    const g = <f64>load<f32>(at(gate, j)), d = <f64>load<f32>(at(dout, j));
    const s = 1 / (1 + Math.exp(-g));
    store<f32>(at(dgate, j), <f32>(d * <f64>load<f32>(at(up, j)) * s * (1 + g * (1 - s))));
    store<f32>(at(dup, j), <f32>(d * g * s));
  }
}

/** dtable[ids[t], :] += dout[t, :] for t < rows; ids outside [0, vocab) are skipped. */
export function embeddingBackward(dtable: usize, dout: usize, ids: usize, rows: i32, dim: i32, vocab: i32): void {
  for (let t = 0; t < rows; t++) {
    const id = load<i32>(at(ids, t));
    if (id < 0 || id >= vocab) continue;
    axpy(at(dtable, id * dim), 1, at(dout, t * dim), dim);
  }
}

// ---- attention (whole sequences, causal, packed segments, GQA) ----

// Probabilities of one query row: a caller's scratch of T floats (a pool thread's), or this instance's own.
let probs: usize = 0, probsLen: i32 = 0;
function probsFor(n: i32, scratch: usize): usize {
  if (scratch != 0) return scratch;
  if (n > probsLen) {
    free(probs);
    probsLen = max(n, probsLen * 2);
    probs = alloc(<usize>probsLen << 2);
    if (probs == 0) unreachable();
  }
  return probs;
}

/** Scores of query row (b, t) head h against the allowed keys s ≤ t (same segment): p[s] = q·k_s·scale, -inf where masked. Returns the max. */
function scores(p: usize, qr: usize, k: usize, seg: usize, b: i32, t: i32, T: i32, kvStride: i32, kvOff: i32, hd: i32, scale: f32): f32 {
  const st = seg != 0 ? load<i32>(at(seg, b * T + t)) : 0;
  let mx = -Infinity as f32;
  for (let s = 0; s <= t; s++) {
    if (seg != 0 && load<i32>(at(seg, b * T + s)) != st) { store<f32>(at(p, s), -Infinity); continue; }
    const z = dot(qr, at(k, (b * T + s) * kvStride + kvOff), hd) * scale;
    store<f32>(at(p, s), z);
    mx = max(mx, z);
  }
  return mx;
}

/** out = softmax(q·kᵀ/sqrt(hd))·v per query row and head, lse = its logsumexp (see TrainOps.attentionTrain); the query
 *  heads of kv heads [kvBegin, kvEnd) only (a thread's share). scratch: T floats, or 0 for this instance's own. */
export function attentionTrain(out: usize, lse: usize, q: usize, k: usize, v: usize, seg: usize,
  B: i32, T: i32, nHeads: i32, nKv: i32, hd: i32, kvBegin: i32, kvEnd: i32, scratch: usize): void {
  const group = nHeads / nKv, kvStride = nKv * hd, scale = <f32>(1 / Math.sqrt(<f64>hd)), p = probsFor(T, scratch);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = kvBegin * group; h < kvEnd * group; h++) {
    const row = (b * T + t) * nHeads + h, qr = at(q, row * hd), or = at(out, row * hd), kvOff = (h / group) * hd;
    const mx = scores(p, qr, k, seg, b, t, T, kvStride, kvOff, hd, scale);
    let sum: f64 = 0;
    for (let s = 0; s <= t; s++) {
      const e = Math.exp(<f64>(load<f32>(at(p, s)) - mx));
      store<f32>(at(p, s), <f32>e); sum += e;
    }
    memory.fill(or, 0, <usize>hd << 2);
    const inv = <f32>(1 / sum);
    for (let s = 0; s <= t; s++) {
      const w = load<f32>(at(p, s));
      if (w != 0) axpy(or, w * inv, at(v, (b * T + s) * kvStride + kvOff), hd);
    }
    store<f32>(at(lse, row), <f32>(<f64>mx + Math.log(sum)));
  }
}

/** Flash-style backward from out and lse: P recomputed, dS = P∘(dP − dout·out)·scale; dq overwritten, dk/dv summed over
 *  heads. Kv heads [kvBegin, kvEnd) only (their dk/dv columns and their query heads' dq): threads share nothing. */
export function attentionBackward(dq: usize, dk: usize, dv: usize, dout: usize, q: usize, k: usize, v: usize, out: usize, lse: usize,
  seg: usize, B: i32, T: i32, nHeads: i32, nKv: i32, hd: i32, kvBegin: i32, kvEnd: i32, scratch: usize): void {
  const group = nHeads / nKv, kvStride = nKv * hd, scale = <f32>(1 / Math.sqrt(<f64>hd)), p = probsFor(T, scratch);
  const width = <usize>((kvEnd - kvBegin) * hd) << 2;
  for (let r = 0; r < B * T; r++) {
    memory.fill(at(dk, r * kvStride + kvBegin * hd), 0, width);
    memory.fill(at(dv, r * kvStride + kvBegin * hd), 0, width);
  }
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = kvBegin * group; h < kvEnd * group; h++) {
    const row = (b * T + t) * nHeads + h, kvOff = (h / group) * hd;
    const qr = at(q, row * hd), dor = at(dout, row * hd), dqr = at(dq, row * hd);
    scores(p, qr, k, seg, b, t, T, kvStride, kvOff, hd, scale);
    const l = <f64>load<f32>(at(lse, row)), D = dot(dor, at(out, row * hd), hd);
    memory.fill(dqr, 0, <usize>hd << 2);
    for (let s = 0; s <= t; s++) {
      const z = load<f32>(at(p, s));
      if (z == -Infinity) continue;
      const ps = <f32>Math.exp(<f64>z - l), kv = (b * T + s) * kvStride + kvOff;
      const ds = ps * (dot(dor, at(v, kv), hd) - D) * scale;
      axpy(dqr, ds, at(k, kv), hd);
      axpy(at(dk, kv), ds, qr, hd);
      axpy(at(dv, kv), ps, dor, hd);
    }
  }
}

// ---- fused cross-entropy pieces: logits come chunk by chunk from gemm; running max/sum per row in f64 ----

/** Online logsumexp over a chunk of logits [rows, cols] (vocabulary c0..c0+cols): mx, sm (f64 [rows]) updated,
 *  zl[r] (f32) = the label's logit when it falls in the chunk. Ignored rows (label outside [0, vocab)) are skipped. */
export function ceStats(logits: usize, rows: i32, cols: i32, c0: i32, labels: usize, vocab: i32, mx: usize, sm: usize, zl: usize): void {
  for (let r = 0; r < rows; r++) {
    const label = load<i32>(at(labels, r));
    if (label < 0 || label >= vocab) continue;
    const lr = at(logits, r * cols);
    let m = -Infinity as f32;
    for (let c = 0; c < cols; c++) m = max(m, load<f32>(at(lr, c)));
    let M = load<f64>(mx + (<usize>r << 3)), S = load<f64>(sm + (<usize>r << 3));
    if (<f64>m > M) { S *= Math.exp(M - <f64>m); M = <f64>m; }
    for (let c = 0; c < cols; c++) S += Math.exp(<f64>load<f32>(at(lr, c)) - M);
    store<f64>(mx + (<usize>r << 3), M); store<f64>(sm + (<usize>r << 3), S);
    if (label >= c0 && label < c0 + cols) store<f32>(at(zl, r), load<f32>(at(lr, label - c0)));
  }
}

/** loss[r] = lse − zl[r] (0 for ignored rows); mx[r] becomes the row's lse (f64) for ceGrad. */
export function ceFinish(loss: usize, rows: i32, labels: usize, vocab: i32, mx: usize, sm: usize, zl: usize): void {
  for (let r = 0; r < rows; r++) {
    const label = load<i32>(at(labels, r));
    if (label < 0 || label >= vocab) { store<f32>(at(loss, r), 0); continue; }
    const lse = load<f64>(mx + (<usize>r << 3)) + Math.log(load<f64>(sm + (<usize>r << 3)));
    store<f64>(mx + (<usize>r << 3), lse);
    store<f32>(at(loss, r), <f32>(lse - <f64>load<f32>(at(zl, r))));
  }
}

/** In place on a chunk of logits: g = scale·(softmax − onehot(label)), 0 on ignored rows. */
export function ceGrad(logits: usize, rows: i32, cols: i32, c0: i32, labels: usize, vocab: i32, lse: usize, scale: f32): void {
  for (let r = 0; r < rows; r++) {
    const label = load<i32>(at(labels, r)), lr = at(logits, r * cols);
    if (label < 0 || label >= vocab) { memory.fill(lr, 0, <usize>cols << 2); continue; }
    const l = load<f64>(lse + (<usize>r << 3));
    for (let c = 0; c < cols; c++) {
      const pr = Math.exp(<f64>load<f32>(at(lr, c)) - l) - (c0 + c == label ? 1 : 0);
      store<f32>(at(lr, c), <f32>(<f64>scale * pr));
    }
  }
}

// ---- optimizer and clipping ----

/** torch.optim.AdamW, one step on n elements in place (f64 arithmetic, f32 state). */
export function adamw(param: usize, grad: usize, m: usize, v: usize, n: i32,
  lr: f64, beta1: f64, beta2: f64, eps: f64, weightDecay: f64, bc1: f64, bc2: f64): void {
  const decay = 1 - lr * weightDecay, stepSize = lr / bc1, sbc2 = Math.sqrt(bc2);
  for (let j = 0; j < n; j++) {
    const g = <f64>load<f32>(at(grad, j));
    const mj = <f32>(beta1 * <f64>load<f32>(at(m, j)) + (1 - beta1) * g);
    const vj = <f32>(beta2 * <f64>load<f32>(at(v, j)) + (1 - beta2) * g * g);
    store<f32>(at(m, j), mj); store<f32>(at(v, j), vj);
    const p = <f64>load<f32>(at(param, j)) * decay;
    store<f32>(at(param, j), <f32>(p - stepSize * <f64>mj / (Math.sqrt(<f64>vj) / sbc2 + eps)));
  }
}

/** param −= lr·grad */
export function sgd(param: usize, grad: usize, n: i32, lr: f32): void { axpy(param, -lr, grad, n); }

/** Σ x² over n, f32 lanes per block of 1024 summed in f64. */
export function sumSquares(x: usize, n: i32): f64 {
  let total: f64 = 0, j = 0;
  while (j < n) {
    const end = min(n, j + 1024);
    let acc = f32x4.splat(0);
    for (; j + 4 <= end; j += 4) { const v = v128.load(at(x, j)); acc = madd(acc, v, v); }
    let s = <f64>hsum(acc);
    for (; j < end; j++) { const v = <f64>load<f32>(at(x, j)); s += v * v; }
    total += s;
  }
  return total;
}

/** x ·= s over n */
export function scale(x: usize, s: f32, n: i32): void {
  const sv = f32x4.splat(s);
  let j = 0;
  for (; j + 4 <= n; j += 4) v128.store(at(x, j), f32x4.mul(v128.load(at(x, j)), sv));
  for (; j < n; j++) store<f32>(at(x, j), load<f32>(at(x, j)) * s);
}
