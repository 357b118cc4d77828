// dst[t, :] = table[ids[t], :] for the ids within this piece of the table, rows [rowStart, rowStart + rowCount)
// (a table larger than one binding is split by rows and dispatched per piece); the piece at rowStart 0 also
// writes zeros for ids outside the whole table (0 ≤ id < totalRows).
struct Params { dim: u32, rowStart: u32, rowCount: u32, totalRows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
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
  if (r < p.rowCount) { dst[t * p.dim + j] = table[r * p.dim + j]; }
}
