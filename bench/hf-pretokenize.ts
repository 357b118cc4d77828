// Throughput (MB/s of UTF-8 input) of the wasm normalizer + pre-tokenizer for the GPT-2, Llama 3 and Qwen3
// pipelines, next to @huggingface/tokenizers' normalizer + pre-tokenizer on the same texts (one call per
// dataset text, ~2 MB in all). Not a test. Prints one JSON line per figure:
//   node build/bench/hf-pretokenize.mjs      (HF_PIPELINE_WASM=path overrides build/tokenizer.wasm)
import '../runtime/wasm-embedded.ts';
import { readFileSync } from 'node:fs';
import { instantiateWasm, registerWasm } from '../runtime/wasm.ts';
import { configurePipeline, type PipelineEngine } from '../models/hf/pipeline-config.ts';
import * as HF from '@huggingface/tokenizers';

interface Engine extends PipelineEngine {
  scratchPtr(size: number): number;
  normalizeForTest(len: number): number;
  pretokenizeForTest(len: number, first: number): number;
  pipelineTestOut(): number;
}

if (process.env.HF_PIPELINE_WASM) registerWasm('tokenizer', new Uint8Array(readFileSync(process.env.HF_PIPELINE_WASM)));
const w = (await instantiateWasm('tokenizer')).exports as unknown as Engine;
const Ref = HF as unknown as Record<string, new (c: unknown) => any>;

const texts: string[] = [];
for (const f of ['alpaca_en_demo.json', 'alpaca_zh_demo.json', 'glaive_toolcall_en_demo.json']) {
  const walk = (x: unknown): void => { if (typeof x === 'string') texts.push(x); else if (x && typeof x === 'object') Object.values(x).forEach(walk); };
  walk(JSON.parse(readFileSync(`../shared/datasets/llamafactory/${f}`, 'utf8')));
}
const enc = new TextEncoder();
const bytes = texts.map((t) => enc.encode(t));
const totalMB = bytes.reduce((n, b) => n + b.length, 0) / 1e6;

const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const split = (Regex: string) => ({ type: 'Split', pattern: { Regex }, behavior: 'Isolated', invert: false });
const byteLevel = (use_regex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex });
const pipelines: [string, unknown, unknown][] = [
  ['gpt2', null, byteLevel(true)],
  ['llama3', null, { type: 'Sequence', pretokenizers: [split(LLAMA3), byteLevel(false)] }],
  ['qwen3', { type: 'NFC' }, { type: 'Sequence', pretokenizers: [split(LLAMA3.replace('\\p{N}{1,3}', '\\p{N}')), byteLevel(false)] }],
];

/** Best time of `reps` runs (s), after one warm-up run (wasm tiers up to optimized code). */
function best(run: () => number, reps: number): number {
  let t = Infinity, pieces = run();
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    pieces = run();
    t = Math.min(t, performance.now() - t0);
  }
  if (pieces <= 0) throw new Error('no pieces');
  return t / 1000;
}

for (const [name, norm, pre] of pipelines) {
  configurePipeline(w, norm, pre);
  const wasmS = best(() => {
    let pieces = 0;
    for (const b of bytes) {
      const ptr = w.scratchPtr(b.length);
      new Uint8Array(w.memory.buffer, ptr, b.length).set(b);
      let n = b.length;
      if (norm) { // the pipeline's normalized text goes back to the scratch block (B's encode does this in wasm)
        n = w.normalizeForTest(n);
        const out = w.pipelineTestOut();
        new Uint8Array(w.memory.buffer).copyWithin(w.scratchPtr(n), out, out + n);
      }
      pieces += w.pretokenizeForTest(n, 1);
    }
    return pieces;
  }, 10);
  const refNorm = norm ? new Ref.SequenceNormalizer({ normalizers: [norm] }) : null;
  const refPre = new Ref.SequencePreTokenizer({ pretokenizers: [pre] });
  const refS = best(() => {
    let pieces = 0;
    for (const t of texts) pieces += refPre.pre_tokenize(refNorm ? refNorm.normalize(t) : t, { section_index: 0 }).length;
    return pieces;
  }, 2);
  console.log(JSON.stringify({
    bench: 'hf-pretokenize', pipeline: name, MB: +totalMB.toFixed(2), wasm_MBps: +(totalMB / wasmS).toFixed(1),
    reference_MBps: +(totalMB / refS).toFixed(1), speedup: +(refS / wasmS).toFixed(1),
  }));
}
