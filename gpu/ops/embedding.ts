// Embedding lookup, forward and backward. The forward reads a table stored as f32 or in 16 bits (ops/half.ts;
// widened to f32); the backward sums the gradient rows of repeated ids in two passes, since WGSL has no float
// atomics: pass 1 links each row to the next row with the same id, pass 2 walks each id's chain once.

import { halfFns, loadAs, storageElem, type Storage } from './half.ts';

/**
 * dst[t, :] = table[ids[t], :] for the ids within this piece of the table, rows [rowStart, rowStart + rowCount) (a
 * table larger than one binding is split by rows and dispatched per piece); the piece at rowStart 0 also writes
 * zeros for ids outside the whole table (0 ≤ id < totalRows).
 */
export function embeddingForward(table: Storage): string {
  return /* wgsl */ `${halfFns([table])}
struct Params { dim: u32, rowStart: u32, rowCount: u32, totalRows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<${storageElem(table, 1)}>;
@group(0) @binding(3) var<storage, read> ids: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x; let t = gid.y;
  if (j >= p.dim) { return; }
  let id = ids[t];
  if (id < 0 || u32(id) >= p.totalRows) {
    if (p.rowStart == 0u) { dst[t * p.dim + j] = 0.0; }
    return;
  }
  let r = u32(id) - p.rowStart;  // wraps to a huge value below the piece
  if (r < p.rowCount) { dst[t * p.dim + j] = ${loadAs('table', table, 1, 'r * p.dim + j')}; }
}
`;
}

export const embeddingLinks = /* wgsl */ `
// Embedding backward, pass 1 (no float atomics in WGSL, so repeated ids are summed by one invocation each):
// for each row t, link[t] = (next row u > t with the same id, or rows; 1 if t is the id's first row, else 0).
// O(rows²) integer compares in all, independent of dim. Rows with ids outside the table are never heads.
struct Params { rows: u32, vocab: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> link: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var t = gid.x; t < p.rows; t += nwg.x * 64u) {
    let id = ids[t];
    var head = select(0u, 1u, id >= 0 && u32(id) < p.vocab);
    for (var u = 0u; u < t && head == 1u; u++) { if (ids[u] == id) { head = 0u; } }
    var next = p.rows;
    for (var u = t + 1u; u < p.rows; u++) { if (ids[u] == id) { next = u; break; } }
    link[t] = vec2(next, head);
  }
}
`;

export const embeddingBackward = /* wgsl */ `
// Embedding backward, pass 2: dtable[id, j] += Σ dout[u, j] over the rows u holding id, one invocation per
// (column j, head row t) walking the chain of embeddingLinks, so each table element has one writer
// and a fixed summation order. Grid: x = column blocks of 64, (y, z) = row (rows may exceed one dimension).
// dtable holds table rows [rowStart, rowStart + rowCount) (a table split across bindings is dispatched per piece).
struct Params { rows: u32, dim: u32, rowStart: u32, rowCount: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dtable: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> ids: array<i32>;
@group(0) @binding(4) var<storage, read> link: array<vec2<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let j = gid.x; let t = wg.y + wg.z * 65535u;
  if (j >= p.dim || t >= p.rows || link[t].y == 0u) { return; }
  let r = u32(ids[t]) - p.rowStart;  // wraps to a huge value below the piece
  if (r >= p.rowCount) { return; }
  var acc = 0.0;
  for (var u = t; u < p.rows; u = link[u].x) { acc += dout[u * p.dim + j]; }
  dtable[r * p.dim + j] += acc;
}
`;
