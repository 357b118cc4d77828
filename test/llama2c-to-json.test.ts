import '../runtime/wasm-embedded.ts';
// A llama2.c vocabulary (stories260K's tok512.bin) converted to tokenizer.json encodes exactly as llama2.c's run.c
// (webtune's llama2.c tokenizer), as @huggingface/tokenizers (what transformers.js runs) and as webtune's own
// tokenizer.json engine, on a varied corpus; decoding gives the text back. The documented differences (special
// token strings, "▁" in text) are checked to be what they are said to be.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as Ref } from '@huggingface/tokenizers';
import { STORIES, expectedStory } from './helpers.ts';
import { buildCorpus } from './hf-corpus.ts';
import { convertLlama2cTokenizer, llama2cTokenizerJson, readLlama2cPieces } from '../models/hf/llama2c-to-json.ts';
import { loadLlama2cTokenizer } from '../models/tokenizer.ts';
import { hfTokenizerFromJson } from '../models/hf/tokenizer-json.ts';

const bytes = new Uint8Array(readFileSync(join(STORIES, 'tok512.bin')));
const { tokenizerJson, tokenizerConfig } = convertLlama2cTokenizer(bytes, { vocabSize: 512, modelMaxLength: 512, name: 'tok512.bin' });
const setup = (async () => ({
  llama: await loadLlama2cTokenizer(bytes, 512),
  ref: new Ref(tokenizerJson, tokenizerConfig),
  hf: await hfTokenizerFromJson(tokenizerJson as Record<string, unknown>, tokenizerConfig),
}))();

const show = (s: string) => JSON.stringify(s).slice(0, 100);
/** Where the converted tokenizer is documented to differ from run.c (llama2c-to-json.ts). */
const documentedDifference = (s: string) => /<s>|<\/s>|<unk>|\u2581/.test(s);
const wellFormed = (s: string) => !/[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''));

const corpus = [
  '', ' ', '  ', '   x', ' leading space', 'trailing space ', 'two  spaces', 'tab\there', 'new\nline', '\n\nparagraphs\n\n',
  'Once upon a time', 'Lily and Ben', 'Zoë naïve café', '中文字符', '😂👍🏽', 'a\u0301', '\r\n', 'x', 'The', 'the the the',
  expectedStory(), ...expectedStory().split(/(?<=\.)/), ...buildCorpus(6000, 3),
];

test('tokenizer.json has the Llama-2 layout: byte fallback, merges from the scores, <s> added, specials', () => {
  const m = tokenizerJson.model as { vocab: Record<string, number>; merges: [string, string][]; byte_fallback: boolean };
  assert.equal(Object.keys(m.vocab).length, 512);
  assert.equal(m.byte_fallback, true);
  assert.equal(m.vocab['<unk>'], 0); assert.equal(m.vocab['<s>'], 1); assert.equal(m.vocab['</s>'], 2);
  assert.equal(m.vocab['<0x0A>'], 3 + 10);
  assert.equal(m.vocab['\u2581the'], 265); // " the" in tok512.bin
  // the best-scored piece (" t", score 0) is the first merge; every merge makes a piece of the vocabulary
  assert.deepEqual(m.merges[0], ['\u2581', 't']);
  for (const [a, b] of m.merges) assert.ok(Object.hasOwn(m.vocab, a + b), `${a} ${b}`);
  assert.equal(tokenizerConfig.tokenizer_class, 'LlamaTokenizer');
  assert.equal(tokenizerConfig.model_max_length, 512);
  assert.equal(tokenizerConfig.bos_token, '<s>');
  assert.equal('chat_template' in tokenizerConfig, false);
});

test(`run.c ids == @huggingface/tokenizers ids == webtune's tokenizer.json engine on ${corpus.length} strings`, async () => {
  const { llama, ref, hf } = await setup;
  let compared = 0, mismatches = 0;
  for (const text of corpus) {
    if (documentedDifference(text)) continue;
    compared++;
    const want = llama.encode(text, { bos: true });
    const fromRef = ref.encode(text).ids; // add_special_tokens defaults to true: <s> first
    const fromHf = hf.encode(text, { addSpecialTokens: true });
    if (want.join() !== fromRef.join() || want.join() !== fromHf.join()) {
      if (mismatches++ < 3) {
        assert.deepEqual(fromRef, want, `@huggingface/tokenizers ${show(text)}`);
        assert.deepEqual(fromHf, want, `webtune tokenizer.json ${show(text)}`);
      }
    }
  }
  assert.equal(mismatches, 0);
  assert.ok(compared > 5000, `${compared} strings compared`);
});

test('the empty string is [<s>] everywhere (run.c adds no dummy prefix to empty text)', async () => {
  const { llama, ref, hf } = await setup;
  assert.deepEqual(llama.encode('', { bos: true }), [1]);
  assert.deepEqual(hf.encode('', { addSpecialTokens: true }), [1]);
  assert.deepEqual(ref.encode('').ids, [1]);
});

test('decoding gives the text back (all three, special tokens skipped)', async () => {
  const { llama, ref, hf } = await setup;
  let checked = 0;
  for (const text of corpus) {
    if (documentedDifference(text) || !wellFormed(text)) continue;
    const ids = llama.encode(text, { bos: true });
    // (decodeBytes: Llama2cTokenizer.decode's TextDecoder drops a leading U+FEFF)
    assert.equal(new TextDecoder('utf-8', { ignoreBOM: true }).decode(llama.decodeBytes(ids, llama.bosId, true)), text, `llama2.c ${show(text)}`);
    // @huggingface/tokenizers' ByteFallback decodes each byte run with a TextDecoder that drops a U+FEFF opening
    // the run (a JS quirk): compare without them
    const fromRef = ref.decode(ids, { skip_special_tokens: true });
    assert.equal(fromRef.replaceAll('\ufeff', ''), text.replaceAll('\ufeff', ''), `@huggingface/tokenizers ${show(text)}`);
    if (!text.includes('\ufeff')) assert.equal(fromRef, text);
    assert.equal(hf.decode(ids, { skipSpecialTokens: true }), text, `webtune tokenizer.json ${show(text)}`);
    checked++;
  }
  assert.ok(checked > 5000);
});

test('documented differences: special-token strings and "▁" in text', async () => {
  const { llama, ref, hf } = await setup;
  // tokenizer.json reads "</s>" in text as EOS (as Llama-2's does); run.c spells it out
  assert.deepEqual(ref.encode('a</s>').ids.slice(-1), [2]);
  assert.deepEqual(hf.encode('a</s>', { addSpecialTokens: true }).slice(-1), [2]);
  assert.ok(!llama.encode('a</s>', { bos: true }).includes(2));
  // "▁" is a space to tokenizer.json, three bytes to run.c
  assert.deepEqual(ref.encode('a\u2581b').ids, ref.encode('a b').ids);
  assert.deepEqual(llama.encode('\u2581', { bos: false }).slice(1), [0xe2 + 3, 0x96 + 3, 0x81 + 3]);
});

test('vocabularies that tokenizer.json cannot express are refused with the file name', () => {
  const pieces = readLlama2cPieces(bytes, 512, 'tok512.bin');
  const dup = pieces.map((p, i) => (i === 300 ? { ...p, piece: pieces[299].piece } : p));
  assert.throws(() => llama2cTokenizerJson(dup, 'tok512.bin'), /tok512\.bin: piece 300 .* repeats piece 299/);
  const withSpace = pieces.map((p, i) => (i === 300 ? { ...p, piece: '\u2581the' } : p));
  assert.throws(() => llama2cTokenizerJson(withSpace, 'tok512.bin'), /repeats piece 265/);
  assert.throws(() => readLlama2cPieces(bytes.subarray(0, 1000), Infinity, 'tok512.bin'), /tok512\.bin: .*(truncated|at least 259)/);
});
