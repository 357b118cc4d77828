// The embedded default model: a small Llama with fixed-seed random weights and a byte-level vocabulary.
// No pretrained weights can ship inside webtune, so this exists to run the whole pipeline anywhere
// (demo, smoke tests); its output is gibberish by construction.
import { Rng } from '../core/rng.ts';
import type { LlamaConfig, LlamaModel } from './llama.ts';
import type { LoadedModel } from './load.ts';
import { loadLlama2cTokenizer } from './tokenizer.ts';

export const TINY_RANDOM_NAME = 'webtune/tiny-random-llama';
const SEED = 20261128;

/** llama2.c tokenizer bytes: <unk>, BOS, EOS, 256 byte-fallback pieces, then printable ASCII. */
function byteVocabulary(): { bytes: Uint8Array; size: number } {
  const pieces = ['<unk>', '\n<s>\n', '\n</s>\n'];
  for (let b = 0; b < 256; b++) pieces.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  for (let c = 32; c < 127; c++) pieces.push(String.fromCharCode(c));
  const enc = new TextEncoder();
  const encoded = pieces.map((p) => enc.encode(p));
  const out = new Uint8Array(4 + encoded.reduce((n, p) => n + 8 + p.length, 0));
  const dv = new DataView(out.buffer);
  dv.setInt32(0, Math.max(...encoded.map((p) => p.length)), true);
  let at = 4;
  for (const p of encoded) {
    dv.setFloat32(at, 0, true);
    dv.setInt32(at + 4, p.length, true);
    out.set(p, at + 8);
    at += 8 + p.length;
  }
  return { bytes: out, size: pieces.length };
}

export function tinyRandomConfig(vocabSize: number): LlamaConfig {
  return {
    hiddenSize: 64, intermediateSize: 172, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16,
    vocabSize, maxPositionEmbeddings: 256, rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: false,
  };
}

export function tinyRandomWeights(c: LlamaConfig, seed = SEED): LlamaModel {
  const rng = new Rng(seed);
  const uniform = (n: number, fanIn: number) => {
    const a = 1 / Math.sqrt(fanIn), w = new Float32Array(n);
    for (let i = 0; i < n; i++) w[i] = (rng.nextFloat() * 2 - 1) * a;
    return w;
  };
  const D = c.hiddenSize, F = c.intermediateSize, qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
  const ones = () => new Float32Array(D).fill(1);
  const layers = Array.from({ length: c.numLayers }, () => ({
    inputNorm: ones(), q: uniform(qDim * D, D), k: uniform(kvDim * D, D), v: uniform(kvDim * D, D),
    o: uniform(D * qDim, qDim), postNorm: ones(), gate: uniform(F * D, D), up: uniform(F * D, D), down: uniform(D * F, F),
    // Qwen2's q/k/v biases and Qwen3's q/k norms, where the config asks for them
    ...(c.attentionBias ? { qBias: uniform(qDim, D), kBias: uniform(kvDim, D), vBias: uniform(kvDim, D) } : {}),
    ...(c.qkNorm ? { qNorm: new Float32Array(c.headDim).fill(1), kNorm: new Float32Array(c.headDim).fill(1) } : {}),
  }));
  const embedTokens = uniform(c.vocabSize * D, 1);
  const lmHead = c.tieWordEmbeddings ? undefined : uniform(c.vocabSize * D, D);
  return { config: c, weights: { embedTokens, layers, norm: ones(), lmHead } };
}

export async function loadTinyRandom(): Promise<LoadedModel> {
  const vocab = byteVocabulary();
  return {
    model: tinyRandomWeights(tinyRandomConfig(vocab.size)),
    tokenizer: await loadLlama2cTokenizer(vocab.bytes, vocab.size),
    modelFile: TINY_RANDOM_NAME,
    tokenizerFile: TINY_RANDOM_NAME,
  };
}
