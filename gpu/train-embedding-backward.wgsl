// Embedding backward, pass 2: dtable[id, j] += Σ dout[u, j] over the rows u holding id, one invocation per
// (column j, head row t) walking the chain of train-embedding-links.wgsl, so each table element has one writer
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
