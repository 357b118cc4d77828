// Loads llama2.c checkpoints (Karpathy's run.c format) into Hugging Face Llama conventions.
//
// Legacy format: 7 little-endian int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
// vocab_size < 0 means a separate classifier), then f32 tensors in run.c's order. The newer "ak42" exports
// (version 1/2) are recognised and refused with a clear message. llama2.c applies RoPE to interleaved pairs (0,1),(2,3)…; Hugging Face uses
// rotate-half, so wq/wk rows are permuted per head exactly as HF's convert_llama_weights_to_hf.py does.
import type { LlamaConfig, LlamaModel } from './llama.ts';

const MAGIC_AK42 = 0x616b3432;

export class ModelFormatError extends Error {}

/**
 * HF permute: view(n_heads, rows/n_heads/2, 2, cols).transpose(1, 2): within each head, the even rows
 * (first of each interleaved pair) come first, then the odd rows.
 */
export function permuteInterleavedToHalf(w: Float32Array, nHeads: number, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const headRows = rows / nHeads, half = headRows / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < half; j++) {
      for (let pair = 0; pair < 2; pair++) {
        const src = (h * headRows + 2 * j + pair) * cols;
        const dst = (h * headRows + pair * half + j) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

interface Header { config: LlamaConfig; shared: boolean; offset: number }

function readHeader(bytes: Uint8Array): Header {
  if (bytes.byteLength < 28) throw new ModelFormatError(`too small to be a llama2.c checkpoint (${bytes.byteLength} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const i32 = (o: number) => dv.getInt32(o, true);
  if (dv.getUint32(0, true) === MAGIC_AK42) {
    throw new ModelFormatError(`llama2.c export version ${i32(4)} is not supported; export with llama2.c's legacy format (version 0)`);
  }
  const [dim, hidden, layers, heads, kvHeads, vocabRaw, seqLen] = Array.from({ length: 7 }, (_, k) => i32(4 * k));
  const shared = vocabRaw > 0;
  const vocab = Math.abs(vocabRaw);
  const sane = [dim, hidden, layers, heads, kvHeads, vocab, seqLen].every((v) => Number.isInteger(v) && v > 0 && v < 1 << 24)
    && dim % heads === 0 && heads % kvHeads === 0 && (dim / heads) % 2 === 0;
  if (!sane) throw new ModelFormatError(`not a llama2.c checkpoint (header ${[dim, hidden, layers, heads, kvHeads, vocabRaw, seqLen].join(', ')})`);
  const config: LlamaConfig = {
    hiddenSize: dim, intermediateSize: hidden, numLayers: layers, numHeads: heads, numKvHeads: kvHeads,
    headDim: dim / heads, vocabSize: vocab, maxPositionEmbeddings: seqLen, rmsNormEps: 1e-5, ropeTheta: 10000,
    tieWordEmbeddings: shared,
  };
  return { config, shared, offset: 28 };
}

/** True when the bytes start like a llama2.c checkpoint (used to tell model files from tokenizer files). */
export function looksLikeLlama2c(bytes: Uint8Array): boolean {
  try { readHeader(bytes); return true; } catch { return false; }
}

/** The configuration in a checkpoint's 28-byte header (enough to size its tokenizer without reading the weights). */
export function llama2cConfig(head: Uint8Array): LlamaConfig {
  return readHeader(head).config;
}

export function loadLlama2c(bytes: Uint8Array): LlamaModel {
  const { config: c, shared, offset } = readHeader(bytes);
  const D = c.hiddenSize, L = c.numLayers, F = c.intermediateSize, V = c.vocabSize;
  const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
  const freqFloats = c.maxPositionEmbeddings * c.headDim; // freq_cis_real + imag: unused, RoPE is computed
  const sizes = {
    embed: V * D, rmsAtt: L * D, wq: L * qDim * D, wk: L * kvDim * D, wv: L * kvDim * D, wo: L * D * qDim,
    rmsFfn: L * D, w1: L * F * D, w2: L * D * F, w3: L * F * D, rmsFinal: D,
  };
  const floats = Object.values(sizes).reduce((a, b) => a + b, 0) + freqFloats + (shared ? 0 : V * D);
  const expected = offset + floats * 4;
  if (bytes.byteLength !== expected) {
    throw new ModelFormatError(`corrupt or truncated llama2.c checkpoint: ${bytes.byteLength} bytes, the header implies ${expected}`);
  }
  // Copy once into an aligned buffer (the file's bytes may not be 4-aligned).
  const all = new Float32Array(floats);
  new Uint8Array(all.buffer).set(bytes.subarray(offset, offset + floats * 4));
  let at = 0;
  const take = (n: number) => all.subarray(at, (at += n));
  const embedTokens = take(sizes.embed);
  const rmsAtt = take(sizes.rmsAtt), wq = take(sizes.wq), wk = take(sizes.wk), wv = take(sizes.wv), wo = take(sizes.wo);
  const rmsFfn = take(sizes.rmsFfn), w1 = take(sizes.w1), w2 = take(sizes.w2), w3 = take(sizes.w3);
  const norm = take(sizes.rmsFinal);
  take(freqFloats);
  const lmHead = shared ? undefined : take(V * D);
  const layer = (a: Float32Array, i: number, n: number) => a.subarray(i * n, (i + 1) * n);
  const layers = Array.from({ length: L }, (_, i) => ({
    inputNorm: layer(rmsAtt, i, D),
    q: permuteInterleavedToHalf(layer(wq, i, qDim * D), c.numHeads, qDim, D),
    k: permuteInterleavedToHalf(layer(wk, i, kvDim * D), c.numKvHeads, kvDim, D),
    v: layer(wv, i, kvDim * D),
    o: layer(wo, i, D * qDim),
    postNorm: layer(rmsFfn, i, D),
    gate: layer(w1, i, F * D),
    up: layer(w3, i, F * D),
    down: layer(w2, i, D * F),
  }));
  return { config: c, weights: { embedTokens, layers, norm, lmHead } };
}
