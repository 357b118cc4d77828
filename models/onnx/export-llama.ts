// A Llama decoder (llama, mistral, qwen2 biases, qwen3 q/k norms) as an ONNX graph with a KV cache, in the
// input/output layout transformers.js and Optimum use: input_ids, attention_mask, position_ids,
// past_key_values.{i}.key/.value in; logits, present.{i}.key/.value out. Opset 17, default-domain operators only.
import type { LlamaModel } from '../llama.ts';
import { validateWeights } from '../llama.ts';
import { DataType, GraphBuilder, serializeModel } from './writer.ts';

/** float32's lowest finite value: masked scores use it instead of -inf so a fully padded row never yields NaN. */
export const FLOAT32_MIN = -3.4028234663852886e38;

const B = 'batch_size', S = 'sequence_length', P = 'past_sequence_length', T = 'total_sequence_length';

/** [out, in] row-major → [in, out] (what MatMul(x, W) needs). */
function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

export interface OnnxExport { model: Uint8Array; data: Uint8Array }

export function buildLlamaGraph(m: LlamaModel): GraphBuilder {
  validateWeights(m);
  const c = m.config, w = m.weights, g = new GraphBuilder();
  const D = c.hiddenSize, H = c.numHeads, KV = c.numKvHeads, hd = c.headDim, F = c.intermediateSize, V = c.vocabSize;
  if (hd % 2) throw new Error(`head_dim ${hd} is odd: rotary embeddings need an even head_dim`);
  if (H % KV) throw new Error(`num_attention_heads ${H} is not a multiple of num_key_value_heads ${KV}`);

  const inputIds = g.input('input_ids', DataType.INT64, [B, S]);
  const attnMask = g.input('attention_mask', DataType.INT64, [B, T]);
  const posIds = g.input('position_ids', DataType.INT64, [B, S]);
  const past = Array.from({ length: c.numLayers }, (_, i) => ({
    k: g.input(`past_key_values.${i}.key`, DataType.FLOAT, [B, KV, P, hd]),
    v: g.input(`past_key_values.${i}.value`, DataType.FLOAT, [B, KV, P, hd]),
  }));

  const linear = (x: string, name: string, weight: Float32Array, out: number, inp: number, bias?: Float32Array) => {
    const y = g.node('MatMul', [x, g.tensor(`${name}.weight_t`, [inp, out], transpose(weight, out, inp))]);
    return bias ? g.node('Add', [y, g.tensor(`${name}.bias`, [out], bias)]) : y;
  };
  const eps = g.scalar('rms_norm_eps', c.rmsNormEps), two = g.scalar('two', 2);
  const rmsnorm = (x: string, name: string, weight: Float32Array) => {
    const ms = g.node('ReduceMean', [g.node('Pow', [x, two])], { axes: [-1], keepdims: 1 });
    const y = g.node('Div', [x, g.node('Sqrt', [g.node('Add', [ms, eps])])]);
    return g.node('Mul', [y, g.tensor(`${name}.weight`, [weight.length], weight)]);
  };

  // --- shared: rotary tables and the attention mask ---
  const half = hd / 2;
  const invFreq = new Float32Array(half).map((_, j) => Math.pow(c.ropeTheta, (-2 * j) / hd));
  const pos = g.node('Unsqueeze', [g.node('Cast', [posIds], { to: DataType.FLOAT }), g.i64('axes_2', [2])]); // [B,S,1]
  const freqs = g.node('Mul', [pos, g.tensor('inv_freq', [half], invFreq)]); // [B,S,half]
  const emb = g.node('Concat', [freqs, freqs], { axis: -1 }); // [B,S,hd]
  const axes1 = g.i64('axes_1', [1]);
  const cos = g.node('Unsqueeze', [g.node('Cos', [emb]), axes1], {}, 'rope_cos'); // [B,1,S,hd]
  const sin = g.node('Unsqueeze', [g.node('Sin', [emb]), axes1], {}, 'rope_sin');
  const sliceAxis = g.i64('axis_last', [-1]);
  const sStart0 = g.i64('start_0', [0]), sHalf = g.i64('half', [half]), sEnd = g.i64('end_hd', [hd]);
  const rope = (x: string) => { // x [B,heads,S,hd]: x*cos + rotate_half(x)*sin
    const x1 = g.node('Slice', [x, sStart0, sHalf, sliceAxis]);
    const x2 = g.node('Slice', [x, sHalf, sEnd, sliceAxis]);
    const rot = g.node('Concat', [g.node('Neg', [x2]), x1], { axis: -1 });
    return g.node('Add', [g.node('Mul', [x, cos]), g.node('Mul', [rot, sin])]);
  };

  // causal mask over absolute positions: query j (at past + j) sees keys 0..past+j; padding from attention_mask
  const idx1 = g.i64('index_1', [1], true);
  const total = g.node('Gather', [g.node('Shape', [attnMask]), idx1], { axis: 0 }, 'total_len');
  const seq = g.node('Gather', [g.node('Shape', [inputIds]), idx1], { axis: 0 }, 'seq_len');
  const pastLen = g.node('Sub', [total, seq], {}, 'past_len');
  const one = g.i64('one', [1], true), zero = g.i64('zero', [0], true);
  const qPos = g.node('Unsqueeze', [g.node('Range', [pastLen, total, one]), g.i64('axes_last', [-1])]); // [S,1]
  const kPos = g.node('Range', [zero, total, one]); // [T]
  const causal = g.node('LessOrEqual', [kPos, qPos]); // [S,T]
  const keep = g.node('Unsqueeze', [g.node('Cast', [attnMask], { to: DataType.BOOL }), g.i64('axes_1_2', [1, 2])]); // [B,1,1,T]
  const allowed = g.node('And', [causal, keep]); // [B,1,S,T]
  const mask = g.node('Where', [allowed, g.scalar('zero_f', 0), g.scalar('float_min', FLOAT32_MIN)], {}, 'attention_bias');

  const scale = g.scalar('attn_scale', 1 / Math.sqrt(hd));
  const headsShape = (n: number) => g.i64(`shape_heads_${n}`, [0, 0, n, hd]);
  const perm = [0, 2, 1, 3];
  const repeat = H / KV;
  const expandShape = repeat > 1 ? g.i64('expand_kv', [1, 1, repeat, 1, 1]) : '';
  const gqaShape = repeat > 1 ? g.i64('shape_gqa', [0, H, -1, hd]) : '';
  const repeatKv = (x: string) => repeat === 1 ? x : // [B,KV,T,hd] → [B,H,T,hd]
    g.node('Reshape', [g.node('Expand', [g.node('Unsqueeze', [x, g.i64('axes_2b', [2])]), expandShape]), gqaShape]);
  const mergeShape = g.i64('shape_merge', [0, 0, H * hd]);

  let x = g.node('Gather', [g.tensor('embed_tokens.weight', [V, D], w.embedTokens), inputIds], { axis: 0 }); // [B,S,D]
  w.layers.forEach((l, i) => {
    const p = `layers.${i}`;
    const xn = rmsnorm(x, `${p}.input_layernorm`, l.inputNorm);
    let q = g.node('Reshape', [linear(xn, `${p}.self_attn.q_proj`, l.q, H * hd, D, c.attentionBias ? l.qBias : undefined), headsShape(H)]);
    let k = g.node('Reshape', [linear(xn, `${p}.self_attn.k_proj`, l.k, KV * hd, D, c.attentionBias ? l.kBias : undefined), headsShape(KV)]);
    let v = g.node('Reshape', [linear(xn, `${p}.self_attn.v_proj`, l.v, KV * hd, D, c.attentionBias ? l.vBias : undefined), headsShape(KV)]);
    if (c.qkNorm) {
      if (!l.qNorm || !l.kNorm) throw new Error(`${p}: q_norm/k_norm missing`);
      q = rmsnorm(q, `${p}.self_attn.q_norm`, l.qNorm);
      k = rmsnorm(k, `${p}.self_attn.k_norm`, l.kNorm);
    }
    q = rope(g.node('Transpose', [q], { perm })); // [B,H,S,hd]
    k = rope(g.node('Transpose', [k], { perm })); // [B,KV,S,hd]
    v = g.node('Transpose', [v], { perm });
    const presentK = g.node('Concat', [past[i].k, k], { axis: 2 }, `present.${i}.key`); // [B,KV,T,hd]
    const presentV = g.node('Concat', [past[i].v, v], { axis: 2 }, `present.${i}.value`);
    const kt = g.node('Transpose', [repeatKv(presentK)], { perm: [0, 1, 3, 2] }); // [B,H,hd,T]
    const scores = g.node('Add', [g.node('Mul', [g.node('MatMul', [q, kt]), scale]), mask]); // [B,H,S,T]
    const probs = g.node('Softmax', [scores], { axis: -1 });
    const att = g.node('MatMul', [probs, repeatKv(presentV)]); // [B,H,S,hd]
    const merged = g.node('Reshape', [g.node('Transpose', [att], { perm }), mergeShape]); // [B,S,H*hd]
    x = g.node('Add', [x, linear(merged, `${p}.self_attn.o_proj`, l.o, D, H * hd)]);
    const xn2 = rmsnorm(x, `${p}.post_attention_layernorm`, l.postNorm);
    const gate = linear(xn2, `${p}.mlp.gate_proj`, l.gate, F, D);
    const up = linear(xn2, `${p}.mlp.up_proj`, l.up, F, D);
    const act = g.node('Mul', [g.node('Mul', [gate, g.node('Sigmoid', [gate])]), up]);
    x = g.node('Add', [x, linear(act, `${p}.mlp.down_proj`, l.down, D, F)]);
    g.output(presentK, `present.${i}.key`, DataType.FLOAT, [B, KV, T, hd]);
    g.output(presentV, `present.${i}.value`, DataType.FLOAT, [B, KV, T, hd]);
  });
  const xf = rmsnorm(x, 'norm', w.norm);
  const logits = c.tieWordEmbeddings || !w.lmHead
    ? g.node('MatMul', [xf, g.node('Transpose', [g.initializers[g.initializers.findIndex((t) => t.name === 'embed_tokens.weight')].name], { perm: [1, 0] })])
    : linear(xf, 'lm_head', w.lmHead, V, D);
  // logits first among the outputs, as Optimum orders them
  g.output(logits, 'logits', DataType.FLOAT, [B, S, V]);
  g.outputs.unshift(g.outputs.pop()!);
  return g;
}

/** The exported model: ModelProto bytes (referring to `externalData`) and the external data bytes. */
export function exportLlamaOnnx(m: LlamaModel, externalData = 'model.onnx_data'): OnnxExport {
  const c = m.config;
  return serializeModel(buildLlamaGraph(m), {
    externalData,
    opset: 17,
    metadata: {
      'webtune.config': JSON.stringify(c),
      model_type: c.modelType ?? 'llama',
      num_hidden_layers: String(c.numLayers),
      num_attention_heads: String(c.numHeads),
      num_key_value_heads: String(c.numKvHeads),
      head_dim: String(c.headDim),
      hidden_size: String(c.hiddenSize),
      vocab_size: String(c.vocabSize),
    },
  });
}
