// Attention as WGSL, forward and backward side by side, from one description (AttentionKernel): the phase (decode
// over the KV cache, the training forward, the backward's stats pre-pass, dq, dk/dv), the strategy, the head dim,
// the mask and the K/V storage dtype. Which strategy a device takes is policy.ts's choice; the maths:
//   forward:  S = q·kᵀ·scale (masked), P = softmax(S) by an online max, out = P·v, lse = max + log Σ exp
//   stats:    D = Σ_d dout·out per (row, head) — the softmax-backward row term Σ_s P·dP — saved beside lse
//   dq:       P = exp(q·k·scale − lse), dS = P·(dout·v − D), dq = scale · Σ_s dS·k
//   dk/dv:    per key, over the query heads sharing its kv head: dv = Σ_t P·dout, dk = scale · Σ_t dS·q
//   decode:   the forward against the KV cache: row t sees cache rows 0..pos[t], no lse
// Per output the summation order is ascending keys (dk/dv: ascending queries per query head). WGSL has no float
// atomics, so dk/dv are computed per key rather than scattered from queries.
//
// Strategies (CPU adapters such as lavapipe pay far more for a storage load or a barrier than for arithmetic):
// - serial: one invocation per (row, head) walks its keys with the softmax in registers; any head dim.
// - blocked: as serial, but rows read as vec4 (head dim % 4 = 0) and each invocation owns `rows` consecutive rows,
//   so each key/value row (forward, dq) or query/dout row (dk/dv) loaded serves that many.
// - subgroup: one workgroup is one subgroup of `lanes` lanes on one (sequence, head, block of lanes·rows rows);
//   lane l owns rows r0 + j·lanes + l, the lanes load `lanes` rows of the other side at once and each reaches every
//   lane by subgroupBroadcast (a vector shuffle, with a constant lane: the walk over them is unrolled).
// - flash: GPUs, training (FlashAttention-2's loop order). One workgroup of `wg` invocations per (block of `wg`
//   rows, head, sequence), one row per invocation with its q (dkv: its k and v) and accumulators in registers; the
//   other side is staged `tile` rows at a time in workgroup memory (coalesced: consecutive invocations load
//   consecutive elements) and read by every invocation at the same address (a broadcast). Each staged row is
//   loaded from global memory once per block of `wg` rows instead of once per row. The forward rescales once per
//   tile by the tile's max. dq and dk/dv are two kernels (no float atomics), as in FlashAttention-2's backward.
// - tiled: GPUs' decode (one query row per sequence: a block of rows would idle) and heads too large to stage. One
//   workgroup per (head, row, sequence); keys `wg` at a time, each invocation scores one, the chunk's max rescales
//   the running softmax and each invocation accumulates the output dims it owns.
// serial is blocked with scalars and one row, so the two share their source.
// Masks: causal within each sequence; packed also needs equal segment ids (seg, one per row).
import { halfFns, loadAs, storageElem, storageName, type Storage } from '../ops/half.ts';

export type AttentionPhase = 'decode' | 'forward' | 'stats' | 'dq' | 'dkv';
export type AttentionStrategy = 'serial' | 'blocked' | 'subgroup' | 'flash' | 'tiled';

/** How a phase runs on a device: policy.ts's answer. */
export interface AttentionPlan {
  strategy: AttentionStrategy;
  /** subgroup: lanes per subgroup (= workgroup); else 1 */
  lanes: number;
  /** blocked/subgroup: rows each invocation owns; else 1 */
  rows: number;
  /** tiled: invocations per workgroup (= keys per chunk); flash: invocations = rows per workgroup */
  wg: number;
  /** flash: rows of the other side staged per tile in workgroup memory (flashTile); else 0 */
  tile: number;
}

export interface AttentionKernel extends AttentionPlan {
  phase: AttentionPhase;
  headDim: number;
  /** packed: causal and equal segment ids (a seg binding after the others) */
  mask: 'causal' | 'packed';
  /** storage of k and v (decode: the KV cache); arithmetic is f32 either way */
  kv: Storage;
  /** decode: q is the output buffer, read through dst (WebGPU binds a written buffer once per dispatch) */
  inPlace: boolean;
}

/**
 * Bindings after the uniform (binding 0), in order: [name, access, element]. V: a row element (f32 or vec4<f32>),
 * KV: the same in the kv dtype. Packed masks add seg after these. Params are the same for every phase but stats.
 */
const BINDINGS: Record<Exclude<AttentionPhase, 'stats'>, [string, 'read' | 'read_write', string][]> = {
  decode: [['dst', 'read_write', 'V'], ['q', 'read', 'V'], ['kc', 'read', 'KV'], ['vc', 'read', 'KV'], ['pos', 'read', 'i32']],
  forward: [['dst', 'read_write', 'V'], ['lse', 'read_write', 'f32'], ['q', 'read', 'V'], ['kc', 'read', 'KV'], ['vc', 'read', 'KV']],
  dq: [['dq', 'read_write', 'V'], ['q', 'read', 'V'], ['kc', 'read', 'KV'], ['vc', 'read', 'KV'], ['dout', 'read', 'V'],
    ['stats', 'read', 'vec2<f32>']],
  dkv: [['dk', 'read_write', 'V'], ['dv', 'read_write', 'V'], ['q', 'read', 'V'], ['kc', 'read', 'KV'], ['vc', 'read', 'KV'],
    ['dout', 'read', 'V'], ['stats', 'read', 'vec2<f32>']],
};

/** The kernel cache key: names the phase, strategy and every parameter; 16-bit K/V named (dispatch checks it). */
export function attentionKernelName(k: AttentionKernel): string {
  const tag = { serial: 'serial', blocked: 'block', subgroup: 'sg', flash: 'flash', tiled: 'wg' }[k.strategy];
  if (k.phase === 'stats') return 'train-attention-stats';
  const prefix = k.phase === 'decode' ? `attention-${tag}${k.inPlace ? '-inplace' : ''}` : `train-attention-${tag}${k.phase === 'forward' ? '' : `-${k.phase}`}`;
  return `${prefix}-${+(k.mask === 'packed')}-${k.headDim}s${k.lanes}q${k.rows}w${k.wg}${k.strategy === 'flash' ? `t${k.tile}` : ''}${storageName(k.kv)}`;
}

/** The kernel's WGSL (cached per description). */
export function attentionSource(k: AttentionKernel): string {
  const key = attentionKernelName(k);
  let src = sources.get(key);
  if (!src) sources.set(key, (src = generate(k)));
  return src;
}
const sources = new Map<string, string>();

/** Rows each invocation owns in the blocked and subgroup strategies: more for small heads, whose state is small (measured on lavapipe). */
export const attentionRowsPerLane = (headDim: number, lanes: number) =>
  Math.max(1, lanes > 1 ? Math.min(4, Math.floor(32 / headDim)) : Math.min(8, Math.floor(128 / headDim)));

/**
 * flash: rows staged per tile for a head dim within `sharedBytes` of workgroup storage (two rows of the head dim
 * plus a segment id and the dk/dv kernel's (lse, D) per staged row): the largest power of two up to 32 (the
 * forward keeps a tile's scores in registers), or 0 where fewer than 4 rows fit (policy.ts then takes 'tiled').
 */
export function flashTile(headDim: number, sharedBytes: number): number {
  let t = 32;
  while (t >= 4 && flashBytes(headDim, t) > sharedBytes) t /= 2;
  return t >= 4 ? t : 0;
}

/** flash: workgroup storage of `tile` staged rows (the most of the three phases: dk/dv's). */
export const flashBytes = (headDim: number, tile: number) => tile * (8 * headDim + 12);

/** Invocations per workgroup of the serial and blocked strategies. */
const WG1 = 64;

/**
 * Workgroups of a phase for B sequences of T rows (decode: B = 1, T query rows), nHeads query and nKvHeads kv heads;
 * the CPU strategies' row grids spill into y past maxGroups.
 */
export function attentionGrid(k: AttentionKernel, B: number, T: number, nHeads: number, nKvHeads: number, maxGroups: number): [number, number, number] {
  const heads = k.phase === 'dkv' ? nKvHeads : nHeads;
  if (k.strategy === 'tiled') return [heads, T, B];
  if (k.strategy === 'flash') return [Math.ceil(T / k.wg), heads, B];
  const blocks = B * Math.ceil(T / (k.lanes * k.rows)) * heads, n = k.lanes > 1 ? blocks : Math.ceil(blocks / WG1), x = Math.max(1, Math.min(n, maxGroups));
  return [x, Math.ceil(n / x), 1];
}

function generate(k: AttentionKernel): string {
  if (k.phase === 'stats') return STATS;
  const vec = k.strategy === 'blocked' || k.strategy === 'subgroup' || (k.strategy === 'flash' && k.headDim % 4 === 0);
  if (k.strategy === 'flash' && (k.phase === 'decode' || k.tile < 1)) throw new Error(`webgpu: the flash attention kernels are for training phases with a tile ≥ 1 (got ${k.phase}, tile ${k.tile})`);
  if (vec && k.headDim % 4) throw new Error(`webgpu: the ${k.strategy} attention kernels need a head dim divisible by 4, got ${k.headDim}`);
  if (k.strategy === 'subgroup' && k.lanes < 2) throw new Error('webgpu: the subgroup attention kernels need lanes ≥ 2');
  if (k.inPlace && k.phase !== 'decode') throw new Error(`webgpu: attention ${k.phase} cannot run in place`);
  const V = vec ? 'vec4<f32>' : 'f32', KV = storageElem(k.kv, vec ? 4 : 1);
  const binds = BINDINGS[k.phase];
  const decls = binds.map(([name, access, el], i) => (k.inPlace && name === 'q' ? ''
    : `@group(0) @binding(${i + 1}) var<storage, ${access}> ${name}: array<${el === 'V' ? V : el === 'KV' ? KV : el}>;\n`)).join('');
  const widen = (name: string) => loadAs(name, k.kv, vec ? 4 : 1, 'i');
  const head = `${halfFns([k.kv])}${k.strategy === 'subgroup' ? 'enable subgroups;\n' : ''}const HEAD_DIM = ${k.headDim}u;
struct Params { T: u32, nHeads: u32, group: u32, kvWidth: u32, scale: f32, B: u32 }
@group(0) @binding(0) var<uniform> p: Params;
${decls}${k.mask === 'packed' ? `@group(0) @binding(${binds.length + 1}) var<storage, read> seg: array<i32>;
fn segOf(r: u32) -> i32 { return seg[r]; }` : 'fn segOf(r: u32) -> i32 { return 0; }'}
fn ldq(i: u32) -> ${V} { return ${k.inPlace ? 'dst' : 'q'}[i]; }
fn ldk(i: u32) -> ${V} { return ${widen('kc')}; }
fn ldv(i: u32) -> ${V} { return ${widen('vc')}; }
`;
  return head + (k.strategy === 'tiled' ? tiled(k) : k.strategy === 'flash' ? flash(k, vec) : rowwise(k, vec));
}

const STATS = `struct Params { n: u32, headDim: u32 }  // n = rows · nHeads
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> stats: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> o: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < p.n; i += nwg.x * 64u) {
    var acc = 0.0;
    for (var d = 0u; d < p.headDim; d++) { acc += dout[i * p.headDim + d] * o[i * p.headDim + d]; }
    stats[i] = vec2(lse[i], acc);  // lse beside D keeps dq and dk/dv at ≤ 8 buffers
  }
}`;

const rep = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');

/** serial, blocked, subgroup: rows in registers, no workgroup memory, no barriers. */
function rowwise(k: AttentionKernel, vec: boolean): string {
  const S = k.lanes, QB = k.rows, sg = S > 1, dot = vec ? 'dot(a, b)' : 'a * b', V = vec ? 'vec4<f32>' : 'f32';
  const decode = k.phase === 'decode';
  const head = `const HDV = ${k.headDim / (vec ? 4 : 1)}u;  // row elements per head
const S = ${S}u;
const QB = ${QB}u;
fn dotv(a: ${V}, b: ${V}) -> f32 { return ${dot}; }

@compute @workgroup_size(${sg ? S : WG1})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ${sg ? '@builtin(subgroup_invocation_id) lane: u32' : '@builtin(local_invocation_index) li: u32'}) {
  let span = S * QB; let nb = (p.T + span - 1u) / span;
  let nh = ${k.phase === 'dkv' ? 'p.nHeads / p.group' : 'p.nHeads'};
${sg ? '  let i = wid.y * nwg.x + wid.x;  // (sequence, block, head) index: the same for every lane'
    : `  let i = (wid.y * nwg.x + wid.x) * ${WG1}u + li;  // (sequence, block, head) index
  let lane = 0u;`}
  if (i >= p.B * nb * nh) { return; }
  let h = i % nh; let blk = i / nh; let r0 = (blk % nb) * span; let seq = (blk / nb) * p.T;
  let kvw = p.kvWidth / ${vec ? 4 : 1}u; let qw = p.nHeads * HDV;
`;
  // one broadcast row c of the S loaded ones (names ending in M are this lane's load); `body` updates the lane's rows j
  const walk = (loaded: string[], body: string) => rep(S, (c) => `    {
      let c = ${c}u;
${loaded.map((v) => (!sg ? `      ${v.startsWith('[') ? 'var' : 'let'} ${v.replace('[', '')} = ${v.replace('[', '')}M;`
    : v.startsWith('[') ? `      var ${v.slice(1)}: array<${V}, HDV>;\n      for (var d = 0u; d < HDV; d++) { ${v.slice(1)}[d] = subgroupBroadcast(${v.slice(1)}M[d], ${c}u); }`
      : `      let ${v} = subgroupBroadcast(${v}M, ${c}u);`)).join('\n')}
${body}
    }`);
  if (k.phase === 'dkv') {
    return `${head}  // lane's keys r0 + j·S + lane; queries t ≥ the block's first key, S at a time, per query head of kv head h
  var kv: array<${V}, QB * HDV>;
  var vv: array<${V}, QB * HDV>;
  var accK: array<${V}, QB * HDV>;
  var accV: array<${V}, QB * HDV>;
  var sk: array<i32, QB>;
  for (var j = 0u; j < QB; j++) {
    let row = seq + min(r0 + j * S + lane, p.T - 1u);
    let ko = row * kvw + h * HDV;
    for (var d = 0u; d < HDV; d++) { kv[j * HDV + d] = ldk(ko + d) * p.scale; vv[j * HDV + d] = ldv(ko + d); }
    sk[j] = segOf(row);
  }
  for (var t0 = r0; t0 < p.T; t0 += S) {
    let tl = seq + min(t0 + lane, p.T - 1u);
    let sbM = segOf(tl);
    for (var hh = 0u; hh < p.group; hh++) {
      let qi = tl * p.nHeads + h * p.group + hh;
      var qvM: array<${V}, HDV>;
      var dovM: array<${V}, HDV>;
      for (var d = 0u; d < HDV; d++) { qvM[d] = q[qi * HDV + d]; dovM[d] = dout[qi * HDV + d]; }
      let stM = stats[qi];
${walk(['[qv', '[dov', 'st', 'sb'], `      let t = t0 + c;
      for (var j = 0u; j < QB; j++) {
        let s = r0 + j * S + lane;
        if (s > t || t >= p.T || sb != sk[j]) { continue; }
        var sc = 0.0; var dp = 0.0;
        for (var d = 0u; d < HDV; d++) { sc += dotv(qv[d], kv[j * HDV + d]); dp += dotv(dov[d], vv[j * HDV + d]); }
        let pr = exp(sc - st.x);
        let ds = pr * (dp - st.y);
        for (var d = 0u; d < HDV; d++) { accV[j * HDV + d] += pr * dov[d]; accK[j * HDV + d] += ds * qv[d]; }
      }`)}
    }
  }
  for (var j = 0u; j < QB; j++) {
    let s = r0 + j * S + lane;
    if (s >= p.T) { break; }
    let ko = (seq + s) * kvw + h * HDV;
    for (var d = 0u; d < HDV; d++) { dk[ko + d] = accK[j * HDV + d] * p.scale; dv[ko + d] = accV[j * HDV + d]; }
  }
}`;
  }
  const fwd = k.phase !== 'dq';
  // forward, decode and dq: lane's queries r0 + j·S + lane; keys below kEnd, S at a time. The last key of query t:
  // t in training, pos[t] in decode (whose kEnd the lanes agree on by subgroupMax).
  return `${head}  let kvo = (h / p.group) * HDV;
  var qv: array<${V}, QB * HDV>;
  var acc: array<${V}, QB * HDV>;
  var sq: array<i32, QB>;
${fwd ? '  var m: array<f32, QB>;\n  var l: array<f32, QB>;' : `  var dov: array<${V}, QB * HDV>;\n  var st: array<vec2<f32>, QB>;`}
${decode ? '  var last: array<u32, QB>;\n  var kEnd = 0u;' : '  let kEnd = min(r0 + span, p.T);'}
  for (var j = 0u; j < QB; j++) {
    let row = seq + min(r0 + j * S + lane, p.T - 1u);
    let qo = row * qw + h * HDV;
    for (var d = 0u; d < HDV; d++) { qv[j * HDV + d] = ldq(qo + d) * p.scale;${fwd ? '' : ' dov[j * HDV + d] = dout[qo + d];'} }
    sq[j] = segOf(row);
${fwd ? '    m[j] = -3.0e38;' : '    st[j] = stats[row * p.nHeads + h];'}${decode ? '\n    last[j] = u32(pos[row]);\n    kEnd = max(kEnd, last[j] + 1u);' : ''}
  }
${decode && sg ? '  kEnd = subgroupMax(kEnd);\n' : ''}  for (var s0 = 0u; s0 < kEnd; s0 += S) {
    let sl = seq + min(s0 + lane, kEnd - 1u);
    var kvM: array<${V}, HDV>;
    var vvM: array<${V}, HDV>;
    for (var d = 0u; d < HDV; d++) { kvM[d] = ldk(sl * kvw + kvo + d); vvM[d] = ldv(sl * kvw + kvo + d); }
    let sbM = segOf(sl);
${walk(['[kv', '[vv', 'sb'], `      let s = s0 + c;
      for (var j = 0u; j < QB; j++) {
        let t = r0 + j * S + lane;
        if (s > ${decode ? 'last[j]' : 't'} || t >= p.T || sb != sq[j]) { continue; }
${fwd ? `        var sc = 0.0;
        for (var d = 0u; d < HDV; d++) { sc += dotv(qv[j * HDV + d], kv[d]); }
        if (sc > m[j]) {  // new max: rescale what was accumulated
          let corr = exp(m[j] - sc);
          l[j] *= corr;
          for (var d = 0u; d < HDV; d++) { acc[j * HDV + d] *= corr; }
          m[j] = sc;
        }
        let pr = exp(sc - m[j]);
        l[j] += pr;
        for (var d = 0u; d < HDV; d++) { acc[j * HDV + d] += pr * vv[d]; }`
    : `        var sc = 0.0; var dp = 0.0;
        for (var d = 0u; d < HDV; d++) { sc += dotv(qv[j * HDV + d], kv[d]); dp += dotv(dov[j * HDV + d], vv[d]); }
        let ds = exp(sc - st[j].x) * (dp - st[j].y);
        for (var d = 0u; d < HDV; d++) { acc[j * HDV + d] += ds * kv[d]; }`}
      }`)}
  }
  for (var j = 0u; j < QB; j++) {
    let t = r0 + j * S + lane;
    if (t >= p.T) { break; }
    let row = seq + t;
    let qo = row * qw + h * HDV;
${fwd ? `    for (var d = 0u; d < HDV; d++) { dst[qo + d] = acc[j * HDV + d] / l[j]; }${decode ? '' : '\n    lse[row * p.nHeads + h] = m[j] + log(l[j]);'}`
    : '    for (var d = 0u; d < HDV; d++) { dq[qo + d] = acc[j * HDV + d] * p.scale; }'}
  }
}`;
}

/** flash: one row per invocation, the other side staged in workgroup memory a tile at a time. */
function flash(k: AttentionKernel, vec: boolean): string {
  const V = vec ? 'vec4<f32>' : 'f32', packed = k.mask === 'packed', dkv = k.phase === 'dkv';
  // a staged row c's mask test against this invocation's segment, and the elements of staged rows
  const otherSeg = (mine: string) => (packed ? ` || tseg[c] != ${mine}` : '');
  const each = (body: string) => `for (var d = 0u; d < HDV; d++) { ${body} }`;
  const stage = (rows: string, load: string, extra: string) => `    workgroupBarrier();  // every invocation is done with the previous tile
    for (var e = li; e < BC * HDV; e += BR) {  // consecutive invocations, consecutive elements
      let r = seq + min(${rows} + e / HDV, p.T - 1u);
      ${load}
    }
${extra ? `    for (var c = li; c < BC; c += BR) {
      let r = seq + min(${rows} + c, p.T - 1u);
      ${extra}
    }
` : ''}    workgroupBarrier();`;
  const head = `const HDV = ${k.headDim / (vec ? 4 : 1)}u;  // row elements per head
const BR = ${k.wg}u;  // rows per workgroup, one per invocation
const BC = ${k.tile}u;  // rows staged per tile
const MASKED = -3.0e38;
fn dotv(a: ${V}, b: ${V}) -> f32 { return ${vec ? 'dot(a, b)' : 'a * b'}; }
var<workgroup> ta: array<${V}, BC * HDV>;  // ${dkv ? 'q' : 'k'} of the staged rows
var<workgroup> tb: array<${V}, BC * HDV>;  // ${dkv ? 'dout' : 'v'} of the staged rows
${packed ? 'var<workgroup> tseg: array<i32, BC>;\n' : ''}${dkv ? 'var<workgroup> tst: array<vec2<f32>, BC>;  // (lse, D) of the staged rows\n' : ''}
@compute @workgroup_size(BR)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r0 = wg.x * BR; let h = wg.y; let seq = wg.z * p.T;
  let kvw = p.kvWidth / ${vec ? 4 : 1}u; let qw = p.nHeads * HDV;
  let t = r0 + li;  // this invocation's row; past T it computes a clamped copy and stores nothing
  let row = seq + min(t, p.T - 1u);
`;
  if (dkv) {
    // this invocation's key t, kv head h; queries from the block's first key on, per query head of the group
    return `${head}  let ko = row * kvw + h * HDV;
  var kv: array<${V}, HDV>;
  var vv: array<${V}, HDV>;
  var accK: array<${V}, HDV>;
  var accV: array<${V}, HDV>;
  ${each('kv[d] = ldk(ko + d) * p.scale; vv[d] = ldv(ko + d);')}
  let sk = segOf(row);
  for (var j = 0u; j < p.group; j++) {
    let qh = h * p.group + j;
    for (var t0 = r0; t0 < p.T; t0 += BC) {
${stage('t0', 'let o = (r * p.nHeads + qh) * HDV + e % HDV;\n      ta[e] = q[o]; tb[e] = dout[o];',
    `tst[c] = stats[r * p.nHeads + qh];${packed ? ' tseg[c] = segOf(r);' : ''}`).replace(/^/gm, '  ')}
      for (var c = 0u; c < BC; c++) {
        let tq = t0 + c;
        if (tq < t || tq >= p.T${otherSeg('sk')}) { continue; }
        var sc = 0.0; var dp = 0.0;
        ${each('sc += dotv(ta[c * HDV + d], kv[d]); dp += dotv(tb[c * HDV + d], vv[d]);')}
        let pr = exp(sc - tst[c].x);
        let ds = pr * (dp - tst[c].y);
        ${each('accV[d] += pr * tb[c * HDV + d]; accK[d] += ds * ta[c * HDV + d];')}
      }
    }
  }
  if (t < p.T) { ${each('dk[ko + d] = accK[d] * p.scale; dv[ko + d] = accV[d];')} }
}`;
  }
  const fwd = k.phase === 'forward';
  // forward and dq: this invocation's query t, head h; keys below the block's end, a tile at a time
  return `${head}  let qo = row * qw + h * HDV;
  let kvo = (h / p.group) * HDV;
  var qv: array<${V}, HDV>;
  var acc: array<${V}, HDV>;
${fwd ? '  var m = MASKED;  // running max\n  var l = 0.0;     // running sum of exp(score − m)' : `  var dov: array<${V}, HDV>;\n  let st = stats[row * p.nHeads + h];`}
  ${each(`qv[d] = ldq(qo + d) * p.scale;${fwd ? '' : ' dov[d] = dout[qo + d];'}`)}
  let sq = segOf(row);
  let kEnd = min(r0 + BR, p.T);
  for (var s0 = 0u; s0 < kEnd; s0 += BC) {
${stage('s0', 'let o = r * kvw + kvo + e % HDV;\n      ta[e] = ldk(o); tb[e] = ldv(o);', packed ? 'tseg[c] = segOf(r);' : '')}
    let n = select(0u, min(BC, t + 1u - s0), t >= s0);  // keys of the tile this row sees (causal)
${fwd ? `    var sc: array<f32, BC>;
    var mt = m;
    for (var c = 0u; c < BC; c++) {
      var x = MASKED;
      if (c < n${packed ? ' && tseg[c] == sq' : ''}) {
        x = 0.0;
        ${each('x += dotv(qv[d], ta[c * HDV + d]);')}
      }
      sc[c] = x;
      mt = max(mt, x);
    }
    let corr = exp(m - mt);  // rescales what was accumulated under the old max (0 before the first key)
    m = mt;
    l *= corr;
    ${each('acc[d] *= corr;')}
    for (var c = 0u; c < BC; c++) {
      if (sc[c] == MASKED) { continue; }
      let pr = exp(sc[c] - m);
      l += pr;
      ${each('acc[d] += pr * tb[c * HDV + d];')}
    }`
    : `    for (var c = 0u; c < BC; c++) {
      if (c >= n${otherSeg('sq')}) { continue; }
      var sc = 0.0; var dp = 0.0;
      ${each('sc += dotv(qv[d], ta[c * HDV + d]); dp += dotv(dov[d], tb[c * HDV + d]);')}
      let ds = exp(sc - st.x) * (dp - st.y);
      ${each('acc[d] += ds * ta[c * HDV + d];')}
    }`}
  }
  if (t < p.T) {
${fwd ? `    ${each('dst[qo + d] = acc[d] / l;')}
    lse[row * p.nHeads + h] = m + log(l);` : `    ${each('dq[qo + d] = acc[d] * p.scale;')}`}
  }
}`;
}

/** tiled: one workgroup per (head, row, sequence), keys (dk/dv: queries) WG at a time, two barriers per chunk. */
function tiled(k: AttentionKernel): string {
  const head = `const WG = ${k.wg}u;
const DPT = (HEAD_DIM + WG - 1u) / WG;  // output dims per invocation: d = li + k·WG
const MASKED = -3.0e38;                 // score of masked keys: exp(MASKED − max) = 0
fn sameSeg(a: u32, b: u32) -> bool { return segOf(a) == segOf(b); }
`;
  const main = '@compute @workgroup_size(WG)\nfn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {';
  // each invocation's output dims, d = li + k·WG
  const owned = (body: string) => `for (var k = 0u; k < DPT; k++) {
      let d = li + k * WG;
      if (d < HEAD_DIM) { ${body} }
    }`;
  if (k.phase === 'dkv') {
    return `${head}var<workgroup> ks: array<f32, HEAD_DIM>;
var<workgroup> vs: array<f32, HEAD_DIM>;
var<workgroup> ps: array<f32, WG>;
var<workgroup> dss: array<f32, WG>;

${main}
  let g = wg.x; let s = wg.y; let seq = wg.z * p.T; let krow = seq + s;
  let ko = krow * p.kvWidth + g * HEAD_DIM;
  for (var d = li; d < HEAD_DIM; d += WG) { ks[d] = ldk(ko + d); vs[d] = ldv(ko + d); }
  var accK: array<f32, DPT>;
  var accV: array<f32, DPT>;
  workgroupBarrier();
  for (var j = 0u; j < p.group; j++) {
    let h = g * p.group + j;
    for (var t0 = s; t0 < p.T; t0 += WG) {
      let t = t0 + li;
      var valid = false;
      if (t < p.T) { valid = sameSeg(seq + t, krow); }
      var pr = 0.0; var ds = 0.0;
      if (valid) {
        let qo = ((seq + t) * p.nHeads + h) * HEAD_DIM;
        var sc = 0.0; var dp = 0.0;
        for (var d = 0u; d < HEAD_DIM; d++) { sc += q[qo + d] * ks[d]; dp += dout[qo + d] * vs[d]; }
        let st = stats[(seq + t) * p.nHeads + h];
        pr = exp(sc * p.scale - st.x);
        ds = pr * (dp - st.y);
      }
      ps[li] = pr; dss[li] = ds;
      workgroupBarrier();
      let n = min(WG, p.T - t0);
      for (var i = 0u; i < n; i++) {
        let qo = ((seq + t0 + i) * p.nHeads + h) * HEAD_DIM;
        let a = ps[i]; let b = dss[i];
        if (a == 0.0 && b == 0.0) { continue; }  // masked (the same branch in every invocation)
        ${owned('accV[k] += a * dout[qo + d]; accK[k] += b * q[qo + d];')}
      }
      workgroupBarrier();  // ps, dss are rewritten by the next chunk
    }
  }
  ${owned('dk[ko + d] = accK[k] * p.scale; dv[ko + d] = accV[k];')}
}`;
  }
  if (k.phase === 'dq') {
    return `${head}var<workgroup> qs: array<f32, HEAD_DIM>;
var<workgroup> dos: array<f32, HEAD_DIM>;
var<workgroup> dss: array<f32, WG>;

${main}
  let h = wg.x; let t = wg.y; let seq = wg.z * p.T; let row = seq + t;
  let qo = (row * p.nHeads + h) * HEAD_DIM;
  let kvo = (h / p.group) * HEAD_DIM;
  for (var d = li; d < HEAD_DIM; d += WG) { qs[d] = q[qo + d]; dos[d] = dout[qo + d]; }
  let st = stats[row * p.nHeads + h];
  var acc: array<f32, DPT>;
  workgroupBarrier();
  for (var s0 = 0u; s0 <= t; s0 += WG) {
    let s = s0 + li;
    var valid = false;
    if (s <= t) { valid = sameSeg(seq + s, row); }
    var ds = 0.0;
    if (valid) {
      let ko = (seq + s) * p.kvWidth + kvo;
      var sc = 0.0; var dp = 0.0;
      for (var d = 0u; d < HEAD_DIM; d++) { sc += qs[d] * ldk(ko + d); dp += dos[d] * ldv(ko + d); }
      ds = exp(sc * p.scale - st.x) * (dp - st.y);
    }
    dss[li] = ds;
    workgroupBarrier();
    let n = min(WG, t + 1u - s0);
    for (var i = 0u; i < n; i++) {
      let g = dss[i];
      if (g == 0.0) { continue; }
      let ko = (seq + s0 + i) * p.kvWidth + kvo;
      ${owned('acc[k] += g * ldk(ko + d);')}
    }
    workgroupBarrier();  // dss is rewritten by the next chunk
  }
  ${owned('dq[qo + d] = acc[k] * p.scale;')}
}`;
  }
  // forward and decode: the last key of row t is t (training) or pos[t] (decode, whose keys are cache rows)
  const decode = k.phase === 'decode';
  return `${head}var<workgroup> qs: array<f32, HEAD_DIM>;
var<workgroup> scores: array<f32, WG>;
var<workgroup> probs: array<f32, WG>;

${main}
  let h = wg.x; let t = wg.y; let seq = wg.z * p.T; let row = seq + t;
  let qo = (row * p.nHeads + h) * HEAD_DIM;
  let kvo = (h / p.group) * HEAD_DIM;
  for (var d = li; d < HEAD_DIM; d += WG) { qs[d] = ldq(qo + d); }  // in place: staged before this row of dst is written
  let last = ${decode ? 'u32(pos[row])' : 't'};
  var m = MASKED;  // running max
  var l = 0.0;     // running sum of exp(score − m)
  var acc: array<f32, DPT>;
  workgroupBarrier();
  for (var s0 = 0u; s0 <= last; s0 += WG) {
    let s = s0 + li;
    var score = MASKED;
    var valid = false;
    if (s <= last) { valid = sameSeg(seq + s, row); }
    if (valid) {
      var dotp = 0.0;
      let ko = (seq + s) * p.kvWidth + kvo;
      for (var d = 0u; d < HEAD_DIM; d++) { dotp += qs[d] * ldk(ko + d); }
      score = dotp * p.scale;
    }
    scores[li] = score;
    workgroupBarrier();
    var mNew = m;
    for (var i = 0u; i < WG; i++) { mNew = max(mNew, scores[i]); }
    probs[li] = select(0.0, exp(score - mNew), valid);
    let corr = exp(m - mNew);  // rescales what was accumulated under the old max (0 on the first chunk)
    m = mNew;
    l *= corr;
    for (var k = 0u; k < DPT; k++) { acc[k] *= corr; }
    workgroupBarrier();
    let n = min(WG, last + 1u - s0);
    for (var i = 0u; i < n; i++) {
      let pr = probs[i];
      if (pr == 0.0) { continue; }  // masked (the same branch in every invocation)
      l += pr;
      let vo = (seq + s0 + i) * p.kvWidth + kvo;
      ${owned('acc[k] += pr * ldv(vo + d);')}
    }
  }
  ${owned('dst[qo + d] = acc[k] / l;')}${decode ? '' : '\n  if (li == 0u) { lse[row * p.nHeads + h] = m + log(l); }'}
}`;
}
