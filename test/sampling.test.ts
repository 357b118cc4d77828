// Sampling: greedy, temperature, top-k, top-p and repetition penalty behave as Hugging Face defines them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyRepetitionPenalty, argmax, Rng, Sampler } from '../src/sampling.ts';

const logits = () => Float32Array.from([1.0, 3.0, 2.0, 0.5, 2.9]);

test('temperature 0 is argmax', () => {
  assert.equal(new Sampler({ temperature: 0 }).sample(logits(), []), 1);
  assert.equal(argmax(Float32Array.from([-5, -1, -3])), 1);
});

test('top_k 1 and a tiny top_p both reduce to the most likely token', () => {
  for (let seed = 0; seed < 20; seed++) {
    assert.equal(new Sampler({ temperature: 1, topK: 1, seed }).sample(logits(), []), 1);
    assert.equal(new Sampler({ temperature: 1, topP: 1e-6, seed }).sample(logits(), []), 1);
  }
});

test('sampling frequencies follow softmax(logits / T) restricted by top-k', () => {
  const T = 0.7, n = 40_000, counts = new Array(5).fill(0);
  const s = new Sampler({ temperature: T, topK: 3, seed: 1 });
  for (let i = 0; i < n; i++) counts[s.sample(logits(), [])]++;
  const kept = [1, 4, 2].map((id) => Math.exp(logits()[id] / T));
  const z = kept.reduce((a, b) => a + b, 0);
  assert.equal(counts[0] + counts[3], 0, 'tokens outside the top 3 never drawn');
  [1, 4, 2].forEach((id, j) => assert.ok(Math.abs(counts[id] / n - kept[j] / z) < 0.01, `token ${id}`));
});

test('top_p keeps the smallest prefix reaching the mass', () => {
  // probs at T=1: sorted ids 1, 4, 2, 0, 3; p(1)+p(4) ≈ 0.67 < 0.8 ≤ p(1)+p(4)+p(2)
  const s = new Sampler({ temperature: 1, topP: 0.8, seed: 3 });
  const seen = new Set<number>();
  for (let i = 0; i < 5000; i++) seen.add(s.sample(logits(), []));
  assert.deepEqual([...seen].sort(), [1, 2, 4]);
});

test('repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
  const l = Float32Array.from([2, -2, 4]);
  applyRepetitionPenalty(l, [0, 1, 1], 2);
  assert.deepEqual([...l], [1, -4, 4]);
});

test('the RNG is deterministic per seed', () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xs = Array.from({ length: 5 }, () => a.nextU32());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.nextU32()));
  assert.notDeepEqual(xs, Array.from({ length: 5 }, () => c.nextU32()));
  for (let i = 0; i < 1000; i++) { const f = a.nextFloat(); assert.ok(f >= 0 && f < 1); }
});
