// out[M,N] = x[M,K] · w[N,K]ᵀ with f32x4 SIMD.
// M = 1 (decode, a memory-bound matvec): one weight row after another, a single sequential stream.
// 1 < M < 32: dot-product tiles of 3 (or 1) x rows × 4 weight rows read straight from w; lanes hold partial sums
// along K, reduced once per output. Each 4-row weight slice is streamed from memory once and reused from cache by
// all x rows.
// M >= 32: register tiles of 4 x rows × 8 outputs in outer-product form. A panel of 8 weight rows is packed
// k-major ([K][8]) once per row block, so each step is 2 vector loads of w, 4 splatted x values and
// 8 multiply-adds into 8 accumulators (no horizontal sums, few registers). Row blocks keep the x block in
// L2 while the panel is reused by every tile in it, so each weight row is loaded once per block.
// Weights may be stored in 16 bits (--torch_dtype float16/bfloat16: half the memory and, in decode, half the bytes
// streamed): every kernel is generic over the weight format W (./half.ts: f32, BF16, F16, F16Finite) and widens
// four weights at a time to f32 as it loads them (./half.ts); x, out and the arithmetic stay f32.
import { alloc, free } from './alloc';
import { hsum, madd } from './simd';
import { BF16, F16, F16Finite, W_BF16, W_F16, W_F16_FINITE, wload, wload4, wrow } from './half';



/** One dot product of length K. */
function dot1<W>(x: usize, w: usize, K: i32): f32 {
  let a = f32x4.splat(0), b = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const o = <usize>k << 2;
    a = madd(a, v128.load(x + o), wload4<W>(w, k));
    b = madd(b, v128.load(x + o, 16), wload4<W>(w, k + 4));
  }
  if (k + 4 <= K) { const o = <usize>k << 2; a = madd(a, v128.load(x + o), wload4<W>(w, k)); k += 4; }
  let s = hsum(f32x4.add(a, b));
  for (; k < K; k++) s += load<f32>(x + (<usize>k << 2)) * wload<W>(w, k);
  return s;
}

/** One dot product of length K streamed with four accumulators (one weight stream: prefetch-friendly). */
function dotStream<W>(x: usize, w: usize, K: i32): f32 {
  let a = f32x4.splat(0), b = a, c = a, d = a;
  let k = 0;
  for (; k + 16 <= K; k += 16) {
    const o = <usize>k << 2;
    a = madd(a, v128.load(x + o), wload4<W>(w, k));
    b = madd(b, v128.load(x + o, 16), wload4<W>(w, k + 4));
    c = madd(c, v128.load(x + o, 32), wload4<W>(w, k + 8));
    d = madd(d, v128.load(x + o, 48), wload4<W>(w, k + 12));
  }
  for (; k + 4 <= K; k += 4) { const o = <usize>k << 2; a = madd(a, v128.load(x + o), wload4<W>(w, k)); }
  let s = hsum(f32x4.add(f32x4.add(a, b), f32x4.add(c, d)));
  for (; k < K; k++) s += load<f32>(x + (<usize>k << 2)) * wload<W>(w, k);
  return s;
}

/** out[0..4] = x · w[0..4]ᵀ: one x row against 4 consecutive weight rows (the matvec kernel). */
function tile1x4<W>(out: usize, x: usize, w: usize, K: i32): void {
  const rs = wrow<W>(K);
  const w0 = w, w1 = w + rs, w2 = w1 + rs, w3 = w2 + rs;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  let k = 0;
  // Unrolled by 8 with two accumulator sets so consecutive adds don't wait on each other.
  for (; k + 8 <= K; k += 8) {
    const o = <usize>k << 2;
    const xa = v128.load(x + o), xb = v128.load(x + o, 16);
    a0 = madd(a0, xa, wload4<W>(w0, k)); b0 = madd(b0, xb, wload4<W>(w0, k + 4));
    a1 = madd(a1, xa, wload4<W>(w1, k)); b1 = madd(b1, xb, wload4<W>(w1, k + 4));
    a2 = madd(a2, xa, wload4<W>(w2, k)); b2 = madd(b2, xb, wload4<W>(w2, k + 4));
    a3 = madd(a3, xa, wload4<W>(w3, k)); b3 = madd(b3, xb, wload4<W>(w3, k + 4));
  }
  if (k + 4 <= K) {
    const o = <usize>k << 2;
    const xa = v128.load(x + o);
    a0 = madd(a0, xa, wload4<W>(w0, k)); a1 = madd(a1, xa, wload4<W>(w1, k));
    a2 = madd(a2, xa, wload4<W>(w2, k)); a3 = madd(a3, xa, wload4<W>(w3, k));
    k += 4;
  }
  let s0 = hsum(f32x4.add(a0, b0)), s1 = hsum(f32x4.add(a1, b1));
  let s2 = hsum(f32x4.add(a2, b2)), s3 = hsum(f32x4.add(a3, b3));
  for (; k < K; k++) {
    const o = <usize>k << 2;
    const xv = load<f32>(x + o);
    s0 += xv * wload<W>(w0, k); s1 += xv * wload<W>(w1, k);
    s2 += xv * wload<W>(w2, k); s3 += xv * wload<W>(w3, k);
  }
  store<f32>(out, s0); store<f32>(out, s1, 4); store<f32>(out, s2, 8); store<f32>(out, s3, 12);
}

/** out[i, 0..4] = x[i] · w[0..4]ᵀ for i < 3: x rows K apart, out rows N apart (12 accumulators). */
function tile3x4<W>(out: usize, x: usize, w: usize, K: i32, N: i32): void {
  const rs = <usize>K << 2, os = <usize>N << 2, ws = wrow<W>(K);
  const x0 = x, x1 = x + rs, x2 = x1 + rs;
  const w0 = w, w1 = w + ws, w2 = w1 + ws, w3 = w2 + ws;
  let c00 = f32x4.splat(0), c01 = c00, c02 = c00, c03 = c00;
  let c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  let c20 = c00, c21 = c00, c22 = c00, c23 = c00;
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    const o = <usize>k << 2;
    const a0 = v128.load(x0 + o), a1 = v128.load(x1 + o), a2 = v128.load(x2 + o);
    let v = wload4<W>(w0, k);
    c00 = madd(c00, a0, v); c10 = madd(c10, a1, v); c20 = madd(c20, a2, v);
    v = wload4<W>(w1, k);
    c01 = madd(c01, a0, v); c11 = madd(c11, a1, v); c21 = madd(c21, a2, v);
    v = wload4<W>(w2, k);
    c02 = madd(c02, a0, v); c12 = madd(c12, a1, v); c22 = madd(c22, a2, v);
    v = wload4<W>(w3, k);
    c03 = madd(c03, a0, v); c13 = madd(c13, a1, v); c23 = madd(c23, a2, v);
  }
  let s00 = hsum(c00), s01 = hsum(c01), s02 = hsum(c02), s03 = hsum(c03);
  let s10 = hsum(c10), s11 = hsum(c11), s12 = hsum(c12), s13 = hsum(c13);
  let s20 = hsum(c20), s21 = hsum(c21), s22 = hsum(c22), s23 = hsum(c23);
  for (; k < K; k++) {
    const o = <usize>k << 2;
    const a0 = load<f32>(x0 + o), a1 = load<f32>(x1 + o), a2 = load<f32>(x2 + o);
    const v0 = wload<W>(w0, k), v1 = wload<W>(w1, k), v2 = wload<W>(w2, k), v3 = wload<W>(w3, k);
    s00 += a0 * v0; s01 += a0 * v1; s02 += a0 * v2; s03 += a0 * v3;
    s10 += a1 * v0; s11 += a1 * v1; s12 += a1 * v2; s13 += a1 * v3;
    s20 += a2 * v0; s21 += a2 * v1; s22 += a2 * v2; s23 += a2 * v3;
  }
  store<f32>(out, s00); store<f32>(out, s01, 4); store<f32>(out, s02, 8); store<f32>(out, s03, 12);
  out += os;
  store<f32>(out, s10); store<f32>(out, s11, 4); store<f32>(out, s12, 8); store<f32>(out, s13, 12);
  out += os;
  store<f32>(out, s20); store<f32>(out, s21, 4); store<f32>(out, s22, 8); store<f32>(out, s23, 12);
}

/** Small M: dot-product tiles straight from w, for columns n0..n1 (n0 a multiple of 4). Each 4-row weight slice is
 *  read from memory once and then reused from cache by every x row, so there is no packing cost to amortise. */
function matmulSmall<W>(out: usize, x: usize, w: usize, M: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const rs = <usize>K << 2, ws = wrow<W>(K), os = <usize>N << 2, N4 = n1 & ~3, M3 = M - M % 3;
  // Decode (M = 1): row after row, so the weights are one sequential stream. Measured (bench/decode-ort.ts's shapes):
  // 2–3× the bandwidth of the 4-row tiles on rows of 640–1728 floats, whose four strided streams the prefetcher
  // follows badly; short rows (stories260K's 64–172) keep the tiles, where the per-row reduction would dominate.
  if (M == 1 && K >= STREAM_MIN_K) { for (let n = n0; n < n1; n++) store<f32>(out + (<usize>n << 2), dotStream<W>(x, w + <usize>n * ws, K)); return; }
  for (let n = n0; n < N4; n += 4) {
    const wn = w + <usize>n * ws, on = out + (<usize>n << 2);
    let m = 0;
    for (; m < M3; m += 3) tile3x4<W>(on + <usize>m * os, x + <usize>m * rs, wn, K, N);
    for (; m < M; m++) tile1x4<W>(on + <usize>m * os, x + <usize>m * rs, wn, K);
  }
  for (let n = max(N4, n0); n < n1; n++) {
    for (let m = 0; m < M; m++) store<f32>(out + <usize>m * os + (<usize>n << 2), dot1<W>(x + <usize>m * rs, w + <usize>n * ws, K));
  }
}

// The single-threaded matmul's scratch (packed weight panel + edge tile), grown on demand and kept between calls.
// The threads build shares one memory among instances, so a pooled share gets its scratch from the caller instead.
let scratch: usize = 0;
let scratchBytes: usize = 0;
function scratchFor(K: i32): usize {
  const need = matmulScratchBytes(K);
  if (need > scratchBytes) {
    free(scratch);
    scratchBytes = max(need, scratchBytes * 2);
    scratch = alloc(scratchBytes);
    if (scratch == 0) unreachable();
  }
  return scratch;
}

/** Bytes of scratch a matmulShare over depth K needs: a [K][8] panel and a 4×8 edge tile. */
export function matmulScratchBytes(K: i32): usize { return (<usize>K << 5) + EDGE_BYTES; }

/** panel[k][j] = w[n + j][k] for j < 8, zero for rows at or past N (so edge tiles need no special loop). */
function pack<W>(p: usize, w: usize, n: i32, N: i32, K: i32): void {
  const rs = wrow<W>(K), K4 = K & ~3;
  const zero = f32x4.splat(0);
  for (let g = 0; g < 8; g += 4) {
    // Four source rows (missing ones read as zero), transposed 4×4 at a time with shuffles.
    const r0 = w + <usize>(n + g) * rs, r1 = r0 + rs, r2 = r1 + rs, r3 = r2 + rs;
    const valid = N - n - g;
    const dst = p + (<usize>g << 2);
    for (let k = 0; k < K4; k += 4) {
      const a0 = valid > 0 ? wload4<W>(r0, k) : zero, a1 = valid > 1 ? wload4<W>(r1, k) : zero;
      const a2 = valid > 2 ? wload4<W>(r2, k) : zero, a3 = valid > 3 ? wload4<W>(r3, k) : zero;
      const lo01 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), lo23 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5);
      const hi01 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7), hi23 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
      const d = dst + (<usize>k << 5);
      v128.store(d, v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5));
      v128.store(d, v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7), 32);
      v128.store(d, v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5), 64);
      v128.store(d, v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7), 96);
    }
    for (let k = K4; k < K; k++) {
      const d = dst + (<usize>k << 5);
      store<f32>(d, valid > 0 ? wload<W>(r0, k) : 0); store<f32>(d, valid > 1 ? wload<W>(r1, k) : 0, 4);
      store<f32>(d, valid > 2 ? wload<W>(r2, k) : 0, 8); store<f32>(d, valid > 3 ? wload<W>(r3, k) : 0, 12);
    }
  }
}

// Edge tiles are written to scratch first (after the panel), then only their valid part is copied out.
const EDGE_BYTES: usize = 4 * 8 * 4;

/** out[m0..m0+rows, n..n+cols] from the packed panel; x rows past `rows` repeat row 0 and are dropped. */
function tile4x8(out: usize, x: usize, p: usize, K: i32, N: i32, rows: i32, cols: i32, edge: usize): void {
  const rs = <usize>K << 2;
  const x0 = x, x1 = rows > 1 ? x0 + rs : x0, x2 = rows > 2 ? x1 + rs : x0, x3 = rows > 3 ? x2 + rs : x0;
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (let k = 0; k < K; k++) {
    const o = <usize>k << 2, pk = p + (<usize>k << 5);
    const b0 = v128.load(pk), b1 = v128.load(pk, 16);
    let a = v128.load_splat<f32>(x0 + o); c00 = madd(c00, a, b0); c01 = madd(c01, a, b1);
    a = v128.load_splat<f32>(x1 + o); c10 = madd(c10, a, b0); c11 = madd(c11, a, b1);
    a = v128.load_splat<f32>(x2 + o); c20 = madd(c20, a, b0); c21 = madd(c21, a, b1);
    a = v128.load_splat<f32>(x3 + o); c30 = madd(c30, a, b0); c31 = madd(c31, a, b1);
  }
  const full = rows == 4 && cols == 8;
  const os: usize = full ? <usize>N << 2 : 32;
  let d = full ? out : edge;
  v128.store(d, c00); v128.store(d, c01, 16); d += os;
  v128.store(d, c10); v128.store(d, c11, 16); d += os;
  v128.store(d, c20); v128.store(d, c21, 16); d += os;
  v128.store(d, c30); v128.store(d, c31, 16);
  if (!full) {
    for (let i = 0; i < rows; i++) memory.copy(out + <usize>i * (<usize>N << 2), edge + (<usize>i << 5), <usize>cols << 2);
  }
}

// Below this many rows, packing the weights costs about as much as the outer-product tiles save (measured).
const SMALL_M = 32;
// Rows at least this long stream one at a time in decode (see matmulSmall).
const STREAM_MIN_K = 256;

/** out[M,N] = x[M,K] · w[N,K]ᵀ (row-major; w in format `wt`: 0 f32, else half.ts's W_ codes). */
export function matmul(out: usize, x: usize, w: usize, M: i32, N: i32, K: i32, wt: i32): void {
  matmulShare(out, x, w, M, N, K, 0, N, M < SMALL_M ? 0 : scratchFor(K), wt);
}

/**
 * Columns n0..n1 of out = x · wᵀ: one thread's share (n0 a multiple of 8; scratch: matmulScratchBytes(K), unused when
 * M < SMALL_M). Every output is computed as the whole-matrix call computes it, so any split gives the same bits.
 */
export function matmulShare(out: usize, x: usize, w: usize, M: i32, N: i32, K: i32, n0: i32, n1: i32, scratch: usize, wt: i32): void {
  if (wt == W_BF16) matmulColumns<BF16>(out, x, w, M, N, K, n0, n1, scratch);
  else if (wt == W_F16_FINITE) matmulColumns<F16Finite>(out, x, w, M, N, K, n0, n1, scratch);
  else if (wt == W_F16) matmulColumns<F16>(out, x, w, M, N, K, n0, n1, scratch);
  else matmulColumns<f32>(out, x, w, M, N, K, n0, n1, scratch);
}

/**
 * One thread's shares of several products of the same x [M, K] (Ops.matmuls): `count` records of six i32 at
 * `table`, (out, w, N, n0, n1, wt), each computed as matmulShare computes it.
 */
export function matmulShareList(table: usize, count: i32, x: usize, M: i32, K: i32, scratch: usize): void {
  for (let i = 0; i < count; i++) {
    const r = table + <usize>i * 24;
    matmulShare(load<u32>(r), x, load<u32>(r, 4), M, load<i32>(r, 8), K, load<i32>(r, 12), load<i32>(r, 16), scratch, load<i32>(r, 20));
  }
}

function matmulColumns<W>(out: usize, x: usize, w: usize, M: i32, N: i32, K: i32, n0: i32, n1: i32, scratch: usize): void {
  const rs = <usize>K << 2, os = <usize>N << 2;
  if (M < SMALL_M) { matmulSmall<W>(out, x, w, M, N, K, n0, n1); return; }
  const p = scratch, edge = scratch + (<usize>K << 5);
  // Rows per block: an x block of about 1 MiB (L2-sized), a multiple of the 4-row tile.
  const MB = max(4, ((256 * 1024) / max(K, 1)) & ~3);
  for (let m0 = 0; m0 < M; m0 += MB) {
    const m1 = min(m0 + MB, M);
    for (let n = n0; n < n1; n += 8) {
      pack<W>(p, w, n, N, K);
      const cols = min(8, n1 - n);
      for (let m = m0; m < m1; m += 4) {
        tile4x8(out + <usize>m * os + (<usize>n << 2), x + <usize>m * rs, p, K, N, min(4, m1 - m), cols, edge);
      }
    }
  }
}
