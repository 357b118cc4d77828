// The llama2.c loader: HF's wq/wk permutation (checked against PyTorch) and the file's layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadLlama2c, permuteInterleavedToHalf } from '../models/llama2c.ts';
import { ROOT, STORIES } from './helpers.ts';

test('wq/wk rows are permuted exactly as Hugging Face\'s conversion script does', () => {
  for (const [heads, rows, cols] of [[8, 64, 64], [4, 32, 64], [2, 12, 5]]) {
    const r = spawnSync('/usr/bin/python3', [resolve(ROOT, 'test/oracle/hf_permute.py'), String(heads), String(rows), String(cols)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const { w, permuted } = JSON.parse(r.stdout);
    assert.deepEqual([...permuteInterleavedToHalf(Float32Array.from(w), heads, rows, cols)], [...Float32Array.from(permuted)]);
  }
});

test('stories260K loads with the README\'s shapes, shared classifier and permuted q/k', () => {
  const bytes = new Uint8Array(readFileSync(resolve(STORIES, 'stories260K.bin')));
  const { config: c, weights: w } = loadLlama2c(bytes);
  assert.deepEqual([c.hiddenSize, c.intermediateSize, c.numLayers, c.numHeads, c.numKvHeads, c.vocabSize, c.maxPositionEmbeddings],
    [64, 172, 5, 8, 4, 512, 512]);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(w.lmHead, undefined);
  const f32 = new Float32Array(bytes.buffer.slice(28));
  assert.deepEqual([...w.embedTokens.subarray(0, 8)], [...f32.subarray(0, 8)]);
  // first row of layer-0 wq after permutation = old row 0; second half of head 0 starts with old row 1
  const wq0 = f32.subarray(512 * 64 + 5 * 64, 512 * 64 + 5 * 64 + 64 * 64);
  assert.deepEqual([...w.layers[0].q.subarray(0, 64)], [...wq0.subarray(0, 64)]);
  assert.deepEqual([...w.layers[0].q.subarray(4 * 64, 5 * 64)], [...wq0.subarray(64, 128)]);
});
