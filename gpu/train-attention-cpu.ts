// WGSL for attention forward and backward on CPU adapters (no workgroup memory, no barriers), in two shapes:
// - S = 1, blocked: one invocation per (sequence, head, QB consecutive rows) walks the other side's rows once, so
//   each key/value row (forward, dq) or query/dout row (dk/dv) loaded serves QB rows (on lavapipe loads dominate).
// - S > 1, with subgroups (lavapipe: 8 lanes): one workgroup is one subgroup of S lanes working on one (sequence,
//   head, block of S·QB rows); lane l owns rows r0 + j·S + l (j < QB), the S lanes load S consecutive rows of the
//   other side at once and each reaches every lane by subgroupBroadcast (a vector shuffle), so a loaded row serves
//   S·QB rows. subgroupBroadcast takes a constant lane, so the walk over those S rows is unrolled.
// Forward: online softmax, lse saved; dq: P = exp(q·k·scale − lse), dS = P·(dout·v − D), dq += dS·k; dk/dv: per
// key, over the query heads sharing its kv head, dv += P·dout, dk += dS·q. Per row the summation order is
// ascending keys (dk/dv: ascending queries per query head). Masks: causal within the sequence, and equal segment
// ids when packed (segOf reads seg, else 0). Rows are read as vec4 (head dim % 4 = 0); train-attention-serial*.wgsl
// serve other head dims.

export type AttentionKind = 'forward' | 'dq' | 'dkv';

const rep = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');

/** Rows each invocation owns: more for small heads, whose state is small (measured on lavapipe). */
export const attentionRowsPerLane = (headDim: number, S: number) =>
  Math.max(1, S > 1 ? Math.min(4, Math.floor(32 / headDim)) : Math.min(8, Math.floor(128 / headDim)));

/** Invocations per workgroup of the blocked (S = 1) kernels. */
const WG1 = 64;

/** Workgroups for B sequences of T rows and `heads` (query heads, or kv heads for dkv), as a 2-D grid. */
export function attentionGroups(B: number, T: number, heads: number, S: number, QB: number, maxGroups: number): [number, number] {
  const blocks = B * Math.ceil(T / (S * QB)) * heads, n = S > 1 ? blocks : Math.ceil(blocks / WG1), x = Math.min(n, maxGroups);
  return [x, Math.ceil(n / x)];
}

/** WGSL of `kind` for head dim hd (a multiple of 4), S lanes (1: no subgroups), QB rows per lane, with or without segment ids. */
export function attentionCpuSource(kind: AttentionKind, hd: number, S: number, QB: number, packed: boolean): string {
  const key = `${kind}${hd}s${S}q${QB}${packed ? 'p' : ''}`;
  let src = cache.get(key);
  if (!src) cache.set(key, (src = generate(kind, hd, S, QB, packed)));
  return src;
}
const cache = new Map<string, string>();

const BINDINGS: Record<AttentionKind, string[]> = {
  forward: ['read_write> dst: array<vec4<f32>>', 'read_write> lse: array<f32>', 'read> q: array<vec4<f32>>',
    'read> kc: array<vec4<f32>>', 'read> vc: array<vec4<f32>>'],
  dq: ['read_write> dq: array<vec4<f32>>', 'read> q: array<vec4<f32>>', 'read> kc: array<vec4<f32>>', 'read> vc: array<vec4<f32>>',
    'read> dout: array<vec4<f32>>', 'read> stats: array<vec2<f32>>'],
  dkv: ['read_write> dk: array<vec4<f32>>', 'read_write> dv: array<vec4<f32>>', 'read> q: array<vec4<f32>>', 'read> kc: array<vec4<f32>>',
    'read> vc: array<vec4<f32>>', 'read> dout: array<vec4<f32>>', 'read> stats: array<vec2<f32>>'],
};

function generate(kind: AttentionKind, hd: number, S: number, QB: number, packed: boolean): string {
  const binds = BINDINGS[kind];
  const sg = S > 1;
  const head = `${sg ? 'enable subgroups;\n' : ''}const HD4 = ${hd / 4}u;
const S = ${S}u;
const QB = ${QB}u;
struct Params { T: u32, nHeads: u32, group: u32, kvWidth: u32, scale: f32, B: u32 }
@group(0) @binding(0) var<uniform> p: Params;
${binds.map((b, i) => `@group(0) @binding(${i + 1}) var<storage, ${b};`).join('\n')}
${packed ? `@group(0) @binding(${binds.length + 1}) var<storage, read> seg: array<i32>;\nfn segOf(r: u32) -> i32 { return seg[r]; }`
    : 'fn segOf(r: u32) -> i32 { return 0; }'}

@compute @workgroup_size(${sg ? S : WG1})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ${sg ? '@builtin(subgroup_invocation_id) lane: u32' : '@builtin(local_invocation_index) li: u32'}) {
  let span = S * QB; let nb = (p.T + span - 1u) / span;
  let nh = ${kind === 'dkv' ? 'p.nHeads / p.group' : 'p.nHeads'};
${sg ? '  let i = wid.y * nwg.x + wid.x;  // (sequence, block, head) index: the same for every lane'
    : `  let i = (wid.y * nwg.x + wid.x) * ${WG1}u + li;  // (sequence, block, head) index
  let lane = 0u;`}
  if (i >= p.B * nb * nh) { return; }
  let h = i % nh; let blk = i / nh; let r0 = (blk % nb) * span; let seq = (blk / nb) * p.T;
  let kvw = p.kvWidth / 4u; let qw = p.nHeads * HD4;
`;
  // one broadcast row c of the S loaded ones: the lanes' own rows j are updated by `body`
  const walk = (loaded: string[], body: string) => rep(S, (c) => `    {
      let c = ${c}u;
${loaded.map((v) => (!sg ? `      ${v.startsWith('[') ? 'var' : 'let'} ${v.replace('[', '')} = ${v.replace('[', '')}M;`
    : v.startsWith('[') ? `      var ${v.slice(1)}: array<vec4<f32>, HD4>;\n      for (var d = 0u; d < HD4; d++) { ${v.slice(1)}[d] = subgroupBroadcast(${v.slice(1)}M[d], ${c}u); }`
      : `      let ${v} = subgroupBroadcast(${v}M, ${c}u);`)).join('\n')}
${body}
    }`);
  if (kind === 'dkv') {
    return `${head}  // lane's keys s0 + j·S + lane; queries t ≥ the block's first key, S at a time, per query head of kv head h
  var kv: array<vec4<f32>, QB * HD4>;
  var vv: array<vec4<f32>, QB * HD4>;
  var accK: array<vec4<f32>, QB * HD4>;
  var accV: array<vec4<f32>, QB * HD4>;
  var sk: array<i32, QB>;
  for (var j = 0u; j < QB; j++) {
    let row = seq + min(r0 + j * S + lane, p.T - 1u);
    let ko = row * kvw + h * HD4;
    for (var d = 0u; d < HD4; d++) { kv[j * HD4 + d] = kc[ko + d] * p.scale; vv[j * HD4 + d] = vc[ko + d]; }
    sk[j] = segOf(row);
  }
  for (var t0 = r0; t0 < p.T; t0 += S) {
    let tl = seq + min(t0 + lane, p.T - 1u);
    let sbM = segOf(tl);
    for (var hh = 0u; hh < p.group; hh++) {
      let qi = tl * p.nHeads + h * p.group + hh;
      var qvM: array<vec4<f32>, HD4>;
      var dovM: array<vec4<f32>, HD4>;
      for (var d = 0u; d < HD4; d++) { qvM[d] = q[qi * HD4 + d]; dovM[d] = dout[qi * HD4 + d]; }
      let stM = stats[qi];
${walk(['[qv', '[dov', 'st', 'sb'], `      let t = t0 + c;
      for (var j = 0u; j < QB; j++) {
        let s = r0 + j * S + lane;
        if (s > t || t >= p.T || sb != sk[j]) { continue; }
        var sc = 0.0; var dp = 0.0;
        for (var d = 0u; d < HD4; d++) { sc += dot(qv[d], kv[j * HD4 + d]); dp += dot(dov[d], vv[j * HD4 + d]); }
        let pr = exp(sc - st.x);
        let ds = pr * (dp - st.y);
        for (var d = 0u; d < HD4; d++) { accV[j * HD4 + d] += pr * dov[d]; accK[j * HD4 + d] += ds * qv[d]; }
      }`)}
    }
  }
  for (var j = 0u; j < QB; j++) {
    let s = r0 + j * S + lane;
    if (s >= p.T) { break; }
    let ko = (seq + s) * kvw + h * HD4;
    for (var d = 0u; d < HD4; d++) { dk[ko + d] = accK[j * HD4 + d] * p.scale; dv[ko + d] = accV[j * HD4 + d]; }
  }
}`;
  }
  const fwd = kind === 'forward';
  // forward and dq: lane's queries r0 + j·S + lane; keys s < the block's end, S at a time
  return `${head}  let kvo = (h / p.group) * HD4;
  var qv: array<vec4<f32>, QB * HD4>;
  var acc: array<vec4<f32>, QB * HD4>;
  var sq: array<i32, QB>;
${fwd ? '  var m: array<f32, QB>;\n  var l: array<f32, QB>;' : '  var dov: array<vec4<f32>, QB * HD4>;\n  var st: array<vec2<f32>, QB>;'}
  for (var j = 0u; j < QB; j++) {
    let row = seq + min(r0 + j * S + lane, p.T - 1u);
    let qo = row * qw + h * HD4;
    for (var d = 0u; d < HD4; d++) { qv[j * HD4 + d] = q[qo + d] * p.scale;${fwd ? '' : ' dov[j * HD4 + d] = dout[qo + d];'} }
    sq[j] = segOf(row);
${fwd ? '    m[j] = -3.0e38;' : '    st[j] = stats[row * p.nHeads + h];'}
  }
  let tEnd = min(r0 + span, p.T);
  for (var s0 = 0u; s0 < tEnd; s0 += S) {
    let sl = seq + min(s0 + lane, p.T - 1u);
    var kvM: array<vec4<f32>, HD4>;
    var vvM: array<vec4<f32>, HD4>;
    for (var d = 0u; d < HD4; d++) { kvM[d] = kc[sl * kvw + kvo + d]; vvM[d] = vc[sl * kvw + kvo + d]; }
    let sbM = segOf(sl);
${walk(['[kv', '[vv', 'sb'], `      let s = s0 + c;
      for (var j = 0u; j < QB; j++) {
        let t = r0 + j * S + lane;
        if (s > t || t >= p.T || sb != sq[j]) { continue; }
${fwd ? `        var sc = 0.0;
        for (var d = 0u; d < HD4; d++) { sc += dot(qv[j * HD4 + d], kv[d]); }
        if (sc > m[j]) {  // new max: rescale what was accumulated
          let corr = exp(m[j] - sc);
          l[j] *= corr;
          for (var d = 0u; d < HD4; d++) { acc[j * HD4 + d] *= corr; }
          m[j] = sc;
        }
        let pr = exp(sc - m[j]);
        l[j] += pr;
        for (var d = 0u; d < HD4; d++) { acc[j * HD4 + d] += pr * vv[d]; }`
    : `        var sc = 0.0; var dp = 0.0;
        for (var d = 0u; d < HD4; d++) { sc += dot(qv[j * HD4 + d], kv[d]); dp += dot(dov[j * HD4 + d], vv[d]); }
        let ds = exp(sc - st[j].x) * (dp - st[j].y);
        for (var d = 0u; d < HD4; d++) { acc[j * HD4 + d] += ds * kv[d]; }`}
      }`)}
  }
  for (var j = 0u; j < QB; j++) {
    let t = r0 + j * S + lane;
    if (t >= p.T) { break; }
    let row = seq + t;
    let qo = row * qw + h * HD4;
${fwd ? `    for (var d = 0u; d < HD4; d++) { dst[qo + d] = acc[j * HD4 + d] / l[j]; }
    lse[row * p.nHeads + h] = m[j] + log(l[j]);` : '    for (var d = 0u; d < HD4; d++) { dq[qo + d] = acc[j * HD4 + d] * p.scale; }'}
  }
}`;
}
