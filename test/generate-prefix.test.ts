// Generator reuses the KV cache of a prompt prefix it has already run (a chat's earlier turns): the output equals a
// fresh generator's, and only the new positions go through the model.
import '../runtime/wasm-embedded.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../models/load.ts';
import { ReferenceOps } from '../src/backend/reference-ops.ts';
import { Generator } from '../src/generate.ts';
import { STORIES } from './helpers.ts';

/** Counts the positions each forward pass of `gen`'s runner processes. */
function countPositions(gen: Generator): number[] {
  const runner = (gen as unknown as { runner: { forward(ids: number[], pos: number[]): Promise<Float32Array> } }).runner;
  const seen: number[] = [];
  const forward = runner.forward.bind(runner);
  runner.forward = (ids, pos) => { seen.push(...pos); return forward(ids, pos); };
  return seen;
}

test('a prompt extending the previous call reuses its cached positions and generates what a fresh generator does', async () => {
  const loaded = await loadModel(STORIES);
  const gen = new Generator(new ReferenceOps(), loaded);
  const first = await gen.generate('Once upon a time', { maxNewTokens: 12, temperature: 0 });
  const prompt = loaded.tokenizer.encode('Once upon a time', { addSpecialTokens: true });
  const second = [...prompt, ...first.ids, ...loaded.tokenizer.encode(' Then the cat', { addSpecialTokens: false })];
  const positions = countPositions(gen);
  const reused = await gen.generate(second, { maxNewTokens: 12, temperature: 0 });
  const fresh = await new Generator(new ReferenceOps(), loaded).generate(second, { maxNewTokens: 12, temperature: 0 });
  assert.deepEqual(reused.ids, fresh.ids);
  // the first call's prompt and all but its last generated token (never run) are reused
  const cached = prompt.length + first.ids.length - 1;
  assert.equal(Math.min(...positions), cached);
  // a different prompt starts over from the first position where it differs
  const other = [prompt[0], ...loaded.tokenizer.encode(' The dog', { addSpecialTokens: false })];
  positions.length = 0;
  const diverged = await gen.generate(other, { maxNewTokens: 8, temperature: 0 });
  assert.equal(Math.min(...positions), 1);
  assert.deepEqual(diverged.ids, (await new Generator(new ReferenceOps(), loaded).generate(other, { maxNewTokens: 8, temperature: 0 })).ids);
});
