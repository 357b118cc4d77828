// One loader for "a model and its tokenizer" (models/load.ts): every command that takes --model accepts the same
// things, and preprocess (which needs only the tokenizer) resolves them as sft and infer do, without the weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModel, loadModelTokenizer } from '../models/load.ts';
import { chatTokenizerOf, loadChatTokenizer } from '../src/data/model-tokenizer.ts';
import { runCli, SHARED, STORIES, tinyLoraCheckpoint } from './helpers.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'webtune-loader-'));
const DATA = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');
const TOK = join(STORIES, 'tok512.bin');

/** preprocess's output rows for --model `model` (8 rows, fixed order). */
async function preprocessRows(model: string): Promise<string> {
  const out = join(tmp(), 'encoded.jsonl');
  const r = await runCli(['preprocess', '--model', model, '--dataset', `${DATA}#8`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
    '--model_author', '网调', 'Webtune', '--dataset_shuffle', 'false', '--output', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /train: 8 rows/);
  return readFileSync(out, 'utf8');
}

/** One `webtune: error:` line that names `path` exactly once and carries no control characters (raw bytes). */
function assertCleanError(r: { status: number | null; stdout: string; stderr: string }, path: string, pattern: RegExp) {
  assert.notEqual(r.status, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^webtune: error: /);
  assert.match(lines[0], pattern);
  assert.equal(lines[0].split(path).length - 1, 1, `the path once: ${lines[0]}`);
  assert.doesNotMatch(lines[0], /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\ufffd]/);
}

test('preprocess takes a llama2.c model directory, encoding as sft does (the same chat tokenizer)', async () => {
  const rows = (await preprocessRows(STORIES)).trim().split('\n').map((l) => JSON.parse(l) as { input_ids: number[]; labels: number[] });
  assert.equal(rows.length, 8);
  assert.equal(rows[0].input_ids[0], 1, 'BOS of tok512.bin');
  assert.ok(rows.every((r) => r.labels.some((l) => l !== -100)), 'every row trains its answer');
  // the tokenizer-only load (no weights) and the full load give the same chat tokenizer
  const [alone, withModel] = [await loadChatTokenizer(STORIES), await chatTokenizerOf(await loadModel(STORIES))];
  const text = '<s>Who are you?</s> I am Xiaobai, made by Webtune.';
  assert.deepEqual(alone.encode(text), withModel.encode(text));
  assert.deepEqual([alone.bos, alone.eos], [withModel.bos, withModel.eos]);
  assert.equal(alone.contextLength, 512, "llama2.c's seq_len, read from the header");
  const t = await loadModelTokenizer(join(STORIES, 'stories260K.bin'));
  assert.equal(t.tokenizerFile, TOK);
  assert.equal(t.location.format, 'llama2c');
});

test('preprocess, tokenize and infer take a merge-lora output directory (Hugging Face layout with a llama2.c tok512.bin)', async () => {
  const dir = tmp();
  const ckpt = await tinyLoraCheckpoint(join(dir, 'run'));
  const merged = join(dir, 'merged');
  const m = await runCli(['merge-lora', '--adapters', ckpt, '--output_dir', merged]);
  assert.equal(m.status, 0, m.stderr);
  assert.equal(await preprocessRows(merged), await preprocessRows(STORIES), 'the merged model keeps the tokenizer');
  const tok = await runCli(['tokenize', '--tokenizer', merged, '--text', 'Once upon a time']);
  assert.equal(tok.status, 0, tok.stderr);
  assert.deepEqual(tok.stdout, (await runCli(['tokenize', '--tokenizer', TOK, '--text', 'Once upon a time'])).stdout);
  const loaded = await loadModelTokenizer(merged);
  assert.equal(loaded.location.format, 'hf');
  assert.equal(loaded.contextLength, 512, 'max_position_embeddings from config.json');
});

test('a tokenizer file as --model: the same one clean line from every command', async () => {
  const out = tmp();
  const runs = await Promise.all([
    ['preprocess', '--dataset', DATA, '--output', join(out, 'p.jsonl')],
    ['infer', '--prompt', 'hi', '--device', 'wasm'],
    ['sft', '--dataset', DATA, '--output_dir', join(out, 'sft')],
    ['export', '--output_dir', join(out, 'onnx')],
    ['deploy', '--port', '0', '--device', 'wasm'],
    ['build-edge', '--output_dir', join(out, 'edge')],
  ].map((args) => runCli([...args, '--model', TOK])));
  for (const r of runs) assertCleanError(r, TOK, /a tokenizer file, not a model; pass its directory/);
  assert.equal(new Set(runs.map((r) => r.stderr)).size, 1, 'every command words it the same');
});

test('errors name the path once: a model folder without a tokenizer, a missing path, a binary file as tokenizer.json', async () => {
  const dir = tmp();
  const cfg = JSON.stringify({ model_type: 'llama', vocab_size: 512, hidden_size: 64 });
  (await import('node:fs')).writeFileSync(join(dir, 'config.json'), cfg);
  assertCleanError(await runCli(['preprocess', '--model', dir, '--dataset', DATA, '--output', join(dir, 'o.jsonl')]), dir, /no tokenizer found/);
  assertCleanError(await runCli(['preprocess', '--model', join(dir, 'nope'), '--dataset', DATA, '--output', join(dir, 'o.jsonl')]),
    join(dir, 'nope'), /no such file or directory/);
  const fs = await import('node:fs');
  const bad = tmp();
  fs.copyFileSync(TOK, join(bad, 'tokenizer.json')); // binary bytes under a JSON name
  const r = await runCli(['preprocess', '--model', bad, '--dataset', DATA, '--output', join(bad, 'o.jsonl')]);
  assertCleanError(r, join(bad, 'tokenizer.json'), /tokenizer\.json: /);
});
