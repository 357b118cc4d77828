// The optimizer steps and gradient clipping: AdamW (torch.optim.AdamW), SGD, Σx² for the global norm, and the
// scale by the clip factor.

export const adamwStep = /* wgsl */ `
// One AdamW step over n elements, as torch.optim.AdamW: param ·= 1 − lr·wd, then the bias-corrected Adam update.
// Step-dependent scalars come from a small storage buffer (hp), not the uniform, so a new step creates no new GPU
// objects (gpu/train-ops.ts pools them): hp = (1 − lr·wd, β1, β2, eps, lr/(1 − β1^t), sqrt(1 − β2^t)).
// Element i of the update is param[pOff + i], mom[mOff + i], vel[vOff + i], grad[gOff + i]: a tensor split across
// bindings is updated segment by segment, and its moments need not be split where the parameter is.
struct Params { n: u32, pOff: u32, mOff: u32, vOff: u32, gOff: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> mom: array<f32>;
@group(0) @binding(3) var<storage, read_write> vel: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;
@group(0) @binding(5) var<storage, read> hp: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b1 = hp[1]; let b2 = hp[2];
  for (var i = gid.x; i < p.n; i += nwg.x * 256u) {
    let g = grad[p.gOff + i];
    let m = b1 * mom[p.mOff + i] + (1.0 - b1) * g;
    let v = b2 * vel[p.vOff + i] + (1.0 - b2) * g * g;
    mom[p.mOff + i] = m;
    vel[p.vOff + i] = v;
    let pi = p.pOff + i;
    param[pi] = param[pi] * hp[0] - hp[4] * m / (sqrt(v) / hp[5] + hp[3]);
  }
}
`;

export const sgdStep = /* wgsl */ `
// param −= lr · grad over n elements; lr = hp[0] (a pooled storage buffer, see adamwStep).
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read> hp: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < p.n; i += nwg.x * 256u) { param[i] -= hp[0] * grad[i]; }
}
`;

export const sumOfSquares = /* wgsl */ `
// Σ x² on the device in two deterministic stages. STAGE 0: G workgroups grid-stride over x [n] and each writes
// its partial sum to part[wg]; STAGE 1: one workgroup sums the G partials and adds them into out[0].
// Generated constants: STAGE, WG (power of two).
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  var acc = 0.0;
  for (var i = wg.x * WG + li; i < p.n; i += nwg.x * WG) {
    let v = src[i];
    acc += select(v * v, v, STAGE == 1u);  // stage 1 sums the partials as they are
  }
  part[li] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { part[li] += part[li + s]; }
    workgroupBarrier();
  }
  if (li == 0u) {
    if (STAGE == 0u) { dst[wg.x] = part[0]; } else { dst[0] += part[0]; }
  }
}
`;

export const scaleInPlace = /* wgsl */ `
// x ·= s over n elements (gradient clipping); s = hp[0], a pooled storage buffer so a per-step s makes no new objects.
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> hp: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < p.n; i += nwg.x * 256u) { x[i] *= hp[0]; }
}
`;
