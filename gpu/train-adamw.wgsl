// One AdamW step over n elements, as torch.optim.AdamW: param ·= 1 − lr·wd, then the bias-corrected Adam update.
// Step-dependent scalars come from a small storage buffer (hp), not the uniform, so a new step creates no new GPU
// objects (train-ops.ts pools them): hp = (1 − lr·wd, β1, β2, eps, lr/(1 − β1^t), sqrt(1 − β2^t)).
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
