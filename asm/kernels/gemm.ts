// The training GEMM: C[M,N] = beta·C + A·B for any of the three layouts a linear layer's forward and backward need
// (NT: x·Wᵀ, NN: dY·W, TN: dYᵀ·X), described by element strides: A(m,k) = a[m·ams + k·aks], B(k,n) = b[k·bks + n·bns].
// BLIS-style: blocks of KC along k and MB rows are packed once into 4-row slivers ([k][4]) and 8-column panels
// ([k][8]), so the 4×8 outer-product tile reads both operands contiguously from L1/L2 whatever the layout, and
// transposes cost one scalar pass over the data (1/(4·MB) of the multiply-adds). LoRA's dropout (a DropMask of
// core/train-ops.ts) is applied while packing A or B, or on the product when C is stored.
import { alloc, free } from './alloc';
import { madd } from './simd';


/** core/train-ops.ts dropKeep: murmur3's 32-bit finalizer of j + salt against the threshold. */
@inline export function keep(salt: u32, j: u32, threshold: u32): bool {
  let h = j + salt;
  h ^= h >> 16; h *= 0x85ebca6b; h ^= h >> 13; h *= 0xc2b2ae35; h ^= h >> 16;
  return h >= threshold;
}

// Which operand the mask applies to (its element index is the element's offset in that operand's buffer).
const MASK_A = 1, MASK_B = 2, MASK_C = 3;

const KC = 256;  // k block: a 4-row sliver (4 KiB) and an 8-column panel (8 KiB) stay in L1 together
const MB = 128;  // rows per packed A block (128 KiB, L2)

// Packed blocks and the edge tile: a caller's scratch of GEMM_SCRATCH bytes (each thread of a pool has its own;
// a thread never allocates, since every instance keeps its own allocator state), or this instance's own.
const A_BYTES: usize = <usize>MB * KC * 4, B_BYTES: usize = <usize>KC * 8 * 4;
export const GEMM_SCRATCH: usize = A_BYTES + B_BYTES + 128;
let own: usize = 0;
let apack: usize = 0, bpack: usize = 0, edge: usize = 0;
function buffers(scratch: usize): void {
  if (scratch == 0) {
    if (own == 0) own = alloc(GEMM_SCRATCH);
    if (own == 0) unreachable();
    scratch = own;
  }
  apack = scratch; bpack = scratch + A_BYTES; edge = bpack + B_BYTES;
}

/** apack[g][k][i] = A(m0 + 4g + i, k0 + k), zero past row M (edge tiles then need no special case in the loop). */
function packA(a: usize, m0: i32, mb: i32, k0: i32, kc: i32, M: i32, ams: i32, aks: i32,
  masked: bool, salt: u32, thr: u32): void {
  for (let g = 0; g < mb; g += 4) {
    const dst = apack + (<usize>(g * kc) << 2);
    for (let i = 0; i < 4; i++) {
      const m = m0 + g + i;
      if (m >= M) {
        for (let k = 0; k < kc; k++) store<f32>(dst + (<usize>(k * 4 + i) << 2), 0);
        continue;
      }
      if (aks == 1 && !masked) {  // a row-major row: read contiguously
        const src = a + (<usize>(m * ams + k0) << 2);
        for (let k = 0; k < kc; k++) store<f32>(dst + (<usize>(k * 4 + i) << 2), load<f32>(src + (<usize>k << 2)));
        continue;
      }
      for (let k = 0; k < kc; k++) {
        const j = m * ams + (k0 + k) * aks;
        store<f32>(dst + (<usize>(k * 4 + i) << 2), masked && !keep(salt, <u32>j, thr) ? 0 : load<f32>(a + (<usize>j << 2)));
      }
    }
  }
}

/** bpack[k][j] = B(k0 + k, n0 + j) for j < 8, zero past column N (here: the end of this call's columns). */
function packB(b: usize, n0: i32, k0: i32, kc: i32, N: i32, bks: i32, bns: i32, masked: bool, salt: u32, thr: u32): void {
  const cols = min(8, N - n0);
  if (bns == 1 && cols == 8 && !masked) {  // row-major B (NN, TN): two vector loads per k
    for (let k = 0; k < kc; k++) {
      const src = b + (<usize>((k0 + k) * bks + n0) << 2), dst = bpack + (<usize>k << 5);
      v128.store(dst, v128.load(src)); v128.store(dst, v128.load(src, 16), 16);
    }
    return;
  }
  for (let j = 0; j < 8; j++) {
    if (j >= cols) {
      for (let k = 0; k < kc; k++) store<f32>(bpack + (<usize>(k * 8 + j) << 2), 0);
      continue;
    }
    for (let k = 0; k < kc; k++) {
      const e = (k0 + k) * bks + (n0 + j) * bns;
      store<f32>(bpack + (<usize>(k * 8 + j) << 2), masked && !keep(salt, <u32>e, thr) ? 0 : load<f32>(b + (<usize>e << 2)));
    }
  }
}

/** C[m, n0..n0+cols] (an edge tile or a masked one goes through `edge` first) for 4 rows from m (rows, cols: the valid part) = beta·C + sliver · panel. */
function tile(c: usize, ap: usize, kc: i32, N: i32, m: i32, n0: i32, rows: i32, cols: i32, beta: f32,
  masked: bool, salt: u32, thr: u32): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (let k = 0; k < kc; k++) {
    const pa = ap + (<usize>k << 4), pb = bpack + (<usize>k << 5);
    const b0 = v128.load(pb), b1 = v128.load(pb, 16);
    let a = v128.load_splat<f32>(pa); c00 = madd(c00, a, b0); c01 = madd(c01, a, b1);
    a = v128.load_splat<f32>(pa, 4); c10 = madd(c10, a, b0); c11 = madd(c11, a, b1);
    a = v128.load_splat<f32>(pa, 8); c20 = madd(c20, a, b0); c21 = madd(c21, a, b1);
    a = v128.load_splat<f32>(pa, 12); c30 = madd(c30, a, b0); c31 = madd(c31, a, b1);
  }
  const os = <usize>N << 2;
  let d = c + <usize>m * os + (<usize>n0 << 2);
  if (rows == 4 && cols == 8 && !masked) {
    if (beta != 0) {  // beta 0 ignores the old contents (NaN included), so they are not even read
      const bv = f32x4.splat(beta);
      c00 = madd(c00, bv, v128.load(d)); c01 = madd(c01, bv, v128.load(d, 16)); d += os;
      c10 = madd(c10, bv, v128.load(d)); c11 = madd(c11, bv, v128.load(d, 16)); d += os;
      c20 = madd(c20, bv, v128.load(d)); c21 = madd(c21, bv, v128.load(d, 16)); d += os;
      c30 = madd(c30, bv, v128.load(d)); c31 = madd(c31, bv, v128.load(d, 16));
      d = c + <usize>m * os + (<usize>n0 << 2);
    }
    v128.store(d, c00); v128.store(d, c01, 16); d += os;
    v128.store(d, c10); v128.store(d, c11, 16); d += os;
    v128.store(d, c20); v128.store(d, c21, 16); d += os;
    v128.store(d, c30); v128.store(d, c31, 16);
    return;
  }
  v128.store(edge, c00); v128.store(edge, c01, 16); v128.store(edge, c10, 32); v128.store(edge, c11, 48);
  v128.store(edge, c20, 64); v128.store(edge, c21, 80); v128.store(edge, c30, 96); v128.store(edge, c31, 112);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const e = (m + i) * N + n0 + j, at = c + (<usize>e << 2);
      let v = load<f32>(edge + (<usize>(i * 8 + j) << 2));
      if (masked && !keep(salt, <u32>e, thr)) v = 0;
      store<f32>(at, beta == 0 ? v : beta * load<f32>(at) + v);
    }
  }
}

/**
 * C[M,N] = beta·C + A·B, A(m,k) = a[m·ams + k·aks], B(k,n) = b[k·bks + n·bns] (element strides, C row-major),
 * for C's rows [mBegin, mEnd) and columns [nBegin, nEnd) only (a thread's share; mBegin a multiple of 4 and nBegin
 * of 8 keep its tiles whole). mask: 0 none, 1 A's elements, 2 B's, 3 the product's, each dropped iff
 * !keep(salt, element index, threshold). beta 0 overwrites C without reading it. C must not overlap A or B.
 * scratch: GEMM_SCRATCH bytes of the caller's, or 0 for this instance's own.
 */
export function gemm(c: usize, a: usize, b: usize, M: i32, N: i32, K: i32, beta: f32,
  ams: i32, aks: i32, bks: i32, bns: i32, mask: i32, salt: u32, thr: u32,
  mBegin: i32, mEnd: i32, nBegin: i32, nEnd: i32, scratch: usize): void {
  buffers(scratch);
  mEnd = min(mEnd, M); nEnd = min(nEnd, N);
  if (K == 0) {  // an empty sum: C = beta·C (masking 0 is 0)
    for (let m = mBegin; m < mEnd; m++) for (let n = nBegin; n < nEnd; n++) {
      const at = c + (<usize>(m * N + n) << 2);
      store<f32>(at, beta == 0 ? 0 : beta * load<f32>(at));
    }
    return;
  }
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = min(KC, K - k0), bk = k0 == 0 ? beta : 1;  // later k blocks add into what the first one stored
    for (let m0 = mBegin; m0 < mEnd; m0 += MB) {
      const mb = min(MB, mEnd - m0);
      packA(a, m0, mb, k0, kc, mEnd, ams, aks, mask == MASK_A, salt, thr);
      for (let n0 = nBegin; n0 < nEnd; n0 += 8) {
        packB(b, n0, k0, kc, nEnd, bks, bns, mask == MASK_B, salt, thr);
        const cols = min(8, nEnd - n0);
        for (let g = 0; g < mb; g += 4) {
          tile(c, apack + (<usize>(g * kc) << 2), kc, N, m0 + g, n0, min(4, mb - g), cols, bk, mask == MASK_C, salt, thr);
        }
      }
    }
  }
}

/** Bytes of the scratch gemm takes (GEMM_SCRATCH). */
export function gemmScratchBytes(): usize { return GEMM_SCRATCH; }
