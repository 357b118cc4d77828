// A Llama decoder (llama, mistral, qwen2 biases, qwen3 q/k norms) as an ONNX graph with a KV cache, in the
// input/output layout transformers.js and Optimum use: input_ids, attention_mask, position_ids,
// past_key_values.{i}.key/.value in; logits, present.{i}.key/.value out. Opset 17, default-domain operators only.
// fp16: weights, activations, the KV cache and logits in float16 (transformers.js reads the cache type from the
// session's inputs); RMSNorm and softmax run in float32 as Hugging Face's modeling code does. An unmerged LoRA
// adapter adds scale·(x·Aᵀ)·Bᵀ beside each target's base MatMul, with A and B as their own initializers.
// The block is the graph form of models/llama.ts's (that file says why it is written three times).
import type { LlamaModel } from '../llama.ts';
import { ropeInvFreq, validateWeights } from '../llama.ts';
import type { LoraAdapterFile } from '../adapters.ts';
import { familyOfConfig, type LinearKey } from '../families/index.ts';
import { onnxBaseName } from '../families/tensors.ts';
import { DataType, GraphBuilder, serializeModel, toFloat16, type SerializedModel } from './writer.ts';

/** float32's lowest finite value: masked scores use it instead of -inf so a fully padded row never yields NaN. */
export const FLOAT32_MIN = -3.4028234663852886e38;

const B = 'batch_size', S = 'sequence_length', P = 'past_sequence_length', T = 'total_sequence_length';

/** [out, in] row-major → [in, out] (what MatMul(x, W) needs). */
function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

export type OnnxExport = SerializedModel;
export type OnnxDtype = 'fp32' | 'fp16';

export interface LlamaGraphOptions {
  /** weight, activation, KV cache and logits precision (default fp32) */
  dtype?: OnnxDtype;
  /** a LoRA adapter kept apart from the base weights (merge it into the model beforehand to fold it in) */
  lora?: LoraAdapterFile;
}

export function buildLlamaGraph(m: LlamaModel, opts: LlamaGraphOptions = {}): GraphBuilder {
  validateWeights(m);
  const c = m.config, w = m.weights, g = new GraphBuilder(), lora = opts.lora, family = familyOfConfig(c);
  /** initializer names: the family's Hugging Face names (models/families/tensors.ts onnxBaseName) */
  const nameOf = (trainerName: string) => onnxBaseName(family, trainerName);
  const fp16 = opts.dtype === 'fp16', TY = fp16 ? DataType.FLOAT16 : DataType.FLOAT;
  /** a float tensor in the model's precision */
  const wt = (name: string, dims: number[], data: Float32Array) => g.tensor(name, dims, fp16 ? toFloat16(data) : data);
  /** float32 ⇄ model precision (no-ops in fp32) */
  const toF32 = (x: string) => (fp16 ? g.node('Cast', [x], { to: DataType.FLOAT }) : x);
  const toTY = (x: string) => (fp16 ? g.node('Cast', [x], { to: TY }) : x);
  const D = c.hiddenSize, H = c.numHeads, KV = c.numKvHeads, hd = c.headDim, V = c.vocabSize;
  if (hd % 2) throw new Error(`head_dim ${hd} is odd: rotary embeddings need an even head_dim`);
  if (H % KV) throw new Error(`num_attention_heads ${H} is not a multiple of num_key_value_heads ${KV}`);

  const inputIds = g.input('input_ids', DataType.INT64, [B, S]);
  const attnMask = g.input('attention_mask', DataType.INT64, [B, T]);
  const posIds = g.input('position_ids', DataType.INT64, [B, S]);
  const past = Array.from({ length: c.numLayers }, (_, i) => ({
    k: g.input(`past_key_values.${i}.key`, TY, [B, KV, P, hd]),
    v: g.input(`past_key_values.${i}.value`, TY, [B, KV, P, hd]),
  }));

  // LoRA: A [r, in] and B [out, r] per (layer, module); one shared scale
  const loraScale = lora ? g.tensor('lora_scale', [], fp16 ? toFloat16([lora.scale]) : Float32Array.of(lora.scale)) : '';
  const loraOf = (name: string, layer: number, key: LinearKey, out: number, inp: number) => {
    const pair = lora?.layers.get(layer)?.get(family.tensors.linears[key].module);
    if (!pair || !lora) return undefined;
    const [rA, inA] = pair.A.shape, [outB, rB] = pair.B.shape;
    if (rA !== lora.r || rB !== lora.r || inA !== inp || outB !== out) {
      throw new Error(`${lora.dir}: ${name} adapter is [${outB}×${rB}]·[${rA}×${inA}] but the weight is [${out}×${inp}] with r ${lora.r} (an adapter for another model?)`);
    }
    return pair;
  };
  if (lora) {
    const maxLayer = Math.max(...lora.layers.keys());
    if (maxLayer >= c.numLayers) throw new Error(`${lora.dir}: has weights for layer ${maxLayer} but the model has ${c.numLayers} layers`);
  }
  const matmul = (x: string, name: string, weight: Float32Array, out: number, inp: number, pair?: ReturnType<typeof loraOf>) => {
    const y = g.node('MatMul', [x, wt(`${name}.weight_t`, [inp, out], transpose(weight, out, inp))]);
    if (!pair) return y;
    const r = lora!.r;
    const a = g.node('MatMul', [x, wt(`${name}.lora_A.weight_t`, [inp, r], transpose(pair.A.data, r, inp))]);
    const ab = g.node('MatMul', [a, wt(`${name}.lora_B.weight_t`, [r, out], transpose(pair.B.data, out, r))]);
    return g.node('Add', [y, g.node('Mul', [ab, loraScale])]);
  };
  /** layer i's linear `key` (shape from the family's layout), its LoRA pair if any, and its bias when given */
  const linear = (x: string, i: number, key: LinearKey, bias?: Float32Array) => {
    const name = nameOf(`layers.${i}.${key}`), [out, inp] = family.tensors.linears[key].shape(c);
    const y = matmul(x, name, w.layers[i][key], out, inp, loraOf(name, i, key, out, inp));
    return bias ? g.node('Add', [y, wt(`${name}.bias`, [out], bias)]) : y;
  };
  // RMSNorm in float32, then back to the model's precision before the weight (Hugging Face's LlamaRMSNorm)
  const eps = g.scalar('rms_norm_eps', c.rmsNormEps), two = g.scalar('two', 2);
  const rmsnorm = (x: string, name: string, weight: Float32Array) => {
    const xf = toF32(x);
    const ms = g.node('ReduceMean', [g.node('Pow', [xf, two])], { axes: [-1], keepdims: 1 });
    const y = toTY(g.node('Div', [xf, g.node('Sqrt', [g.node('Add', [ms, eps])])]));
    return g.node('Mul', [y, wt(`${name}.weight`, [weight.length], weight)]);
  };

  // --- shared: rotary tables and the attention mask ---
  const half = hd / 2;
  const invFreq = Float32Array.from(ropeInvFreq(c));
  if (invFreq.length !== half) throw new Error(`rope: ${invFreq.length} inverse frequencies for head_dim ${hd}`);
  const pos = g.node('Unsqueeze', [g.node('Cast', [posIds], { to: DataType.FLOAT }), g.i64('axes_2', [2])]); // [B,S,1]
  const freqs = g.node('Mul', [pos, g.tensor('inv_freq', [half], invFreq)]); // [B,S,half]
  const emb = g.node('Concat', [freqs, freqs], { axis: -1 }); // [B,S,hd]
  const axes1 = g.i64('axes_1', [1]);
  const cos = g.node('Unsqueeze', [toTY(g.node('Cos', [emb])), axes1], {}, 'rope_cos'); // [B,1,S,hd]
  const sin = g.node('Unsqueeze', [toTY(g.node('Sin', [emb])), axes1], {}, 'rope_sin');
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

  const embed = wt(`${nameOf('embedTokens')}.weight`, [V, D], w.embedTokens);
  let x = g.node('Gather', [embed, inputIds], { axis: 0 }); // [B,S,D]
  w.layers.forEach((l, i) => {
    const p = `layers.${i}`;
    const xn = rmsnorm(x, nameOf(`${p}.inputNorm`), l.inputNorm);
    let q = g.node('Reshape', [linear(xn, i, 'q', c.attentionBias ? l.qBias : undefined), headsShape(H)]);
    let k = g.node('Reshape', [linear(xn, i, 'k', c.attentionBias ? l.kBias : undefined), headsShape(KV)]);
    let v = g.node('Reshape', [linear(xn, i, 'v', c.attentionBias ? l.vBias : undefined), headsShape(KV)]);
    if (c.qkNorm) {
      if (!l.qNorm || !l.kNorm) throw new Error(`${p}: q_norm/k_norm missing`);
      q = rmsnorm(q, nameOf(`${p}.qNorm`), l.qNorm);
      k = rmsnorm(k, nameOf(`${p}.kNorm`), l.kNorm);
    }
    q = rope(g.node('Transpose', [q], { perm })); // [B,H,S,hd]
    k = rope(g.node('Transpose', [k], { perm })); // [B,KV,S,hd]
    v = g.node('Transpose', [v], { perm });
    const presentK = g.node('Concat', [past[i].k, k], { axis: 2 }, `present.${i}.key`); // [B,KV,T,hd]
    const presentV = g.node('Concat', [past[i].v, v], { axis: 2 }, `present.${i}.value`);
    const kt = g.node('Transpose', [repeatKv(presentK)], { perm: [0, 1, 3, 2] }); // [B,H,hd,T]
    // scores and softmax in float32 (the mask is float32's minimum), as Hugging Face's eager attention
    const scores = g.node('Add', [g.node('Mul', [toF32(g.node('MatMul', [q, kt])), scale]), mask]); // [B,H,S,T]
    const probs = toTY(g.node('Softmax', [scores], { axis: -1 }));
    const att = g.node('MatMul', [probs, repeatKv(presentV)]); // [B,H,S,hd]
    const merged = g.node('Reshape', [g.node('Transpose', [att], { perm }), mergeShape]); // [B,S,H*hd]
    x = g.node('Add', [x, linear(merged, i, 'o')]);
    const xn2 = rmsnorm(x, nameOf(`${p}.postNorm`), l.postNorm);
    const gate = linear(xn2, i, 'gate');
    const up = linear(xn2, i, 'up');
    const act = g.node('Mul', [g.node('Mul', [gate, g.node('Sigmoid', [gate])]), up]);
    x = g.node('Add', [x, linear(act, i, 'down')]);
    g.output(presentK, `present.${i}.key`, TY, [B, KV, T, hd]);
    g.output(presentV, `present.${i}.value`, TY, [B, KV, T, hd]);
  });
  const xf = rmsnorm(x, nameOf('norm'), w.norm);
  const logits = c.tieWordEmbeddings || !w.lmHead
    ? g.node('MatMul', [xf, g.node('Transpose', [embed], { perm: [1, 0] })])
    : matmul(xf, nameOf('lmHead'), w.lmHead, V, D);
  // logits first among the outputs, as Optimum orders them
  g.output(logits, 'logits', TY, [B, S, V]);
  g.outputs.unshift(g.outputs.pop()!);
  return g;
}

/** The exported model: ModelProto bytes (referring to `externalData`, `externalData`_1, …) and the external files.
 *  metadata_props carry the architecture (webtune.config and Hugging Face config names), the dtype and the LoRA
 *  scale. */
export function exportLlamaOnnx(m: LlamaModel, externalData = 'model.onnx_data',
  opts: LlamaGraphOptions & { maxFileBytes?: number } = {}): OnnxExport {
  const c = m.config, lora = opts.lora;
  const loraMeta: Record<string, string> = lora ? {
    'webtune.lora': JSON.stringify({ r: lora.r, lora_alpha: lora.alpha, scale: lora.scale, target_modules: lora.targets }),
    lora_scale: String(lora.scale), lora_alpha: String(lora.alpha), lora_r: String(lora.r),
  } : {};
  return serializeModel(buildLlamaGraph(m, opts), {
    externalData,
    maxFileBytes: opts.maxFileBytes,
    opset: 17,
    metadata: {
      'webtune.config': JSON.stringify(c),
      'webtune.dtype': opts.dtype ?? 'fp32',
      model_type: familyOfConfig(c).modelType,
      num_hidden_layers: String(c.numLayers),
      num_attention_heads: String(c.numHeads),
      num_key_value_heads: String(c.numKvHeads),
      head_dim: String(c.headDim),
      hidden_size: String(c.hiddenSize),
      intermediate_size: String(c.intermediateSize),
      vocab_size: String(c.vocabSize),
      max_position_embeddings: String(c.maxPositionEmbeddings),
      rms_norm_eps: String(c.rmsNormEps),
      rope_theta: String(c.ropeTheta),
      tie_word_embeddings: String(c.tieWordEmbeddings),
      ...loraMeta,
    },
  });
}
