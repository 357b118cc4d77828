import '../runtime/wasm-embedded.ts';
// transformers.js (@huggingface/transformers, offline, CPU) loads `webtune export` folders as they are:
// stories260K's export generates llama2.c's greedy story (same ids, and the text-generation pipeline gives the same
// text) through the converted tokenizer.json; the fp16 variant loads with dtype 'fp16'; external data split into
// several files loads; a LoRA checkpoint exported unmerged and merged generates the same ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, env, pipeline } from '@huggingface/transformers';
import { expectedStory, STORIES, tinyLoraCheckpoint } from './helpers.ts';
import { loadModel } from '../models/load.ts';
import { exportModel } from '../src/cli/export.ts';

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = '/'; // absolute folders below are looked up as they are

const work = mkdtempSync(join(tmpdir(), 'webtune-tjs-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const stories = join(work, 'stories');
const exported = exportModel({ model: STORIES, to: 'onnx', output_dir: stories, dtype: ['fp32', 'fp16'] });
/** llama2.c's story as ids: BOS and the 200 greedy tokens (webtune's llama2.c tokenizer; 201 ids). */
const storyIds = (async () => (await loadModel(STORIES)).tokenizer.encode(expectedStory(), { bos: true }))();

type Model = Awaited<ReturnType<typeof AutoModelForCausalLM.from_pretrained>>;
async function greedy(dir: string, dtype: 'fp32' | 'fp16', prompt: string, maxNewTokens: number): Promise<number[]> {
  const tokenizer = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
  const model: Model = await AutoModelForCausalLM.from_pretrained(dir, { dtype, device: 'cpu', local_files_only: true });
  try {
    const inputs = tokenizer(prompt);
    const out = await model.generate({ ...inputs, max_new_tokens: maxNewTokens, do_sample: false }) as unknown as { tolist(): bigint[][] };
    return out.tolist()[0].map(Number);
  } finally {
    await model.dispose();
  }
}

test('stories260K export: transformers.js generate (greedy, 200 tokens from BOS) gives llama2.c\'s story ids', async () => {
  await exported;
  const want = await storyIds;
  assert.equal(want.length, 201);
  assert.deepEqual(await greedy(stories, 'fp32', '', 200), want);
});

test('stories260K export: the text-generation pipeline gives llama2.c\'s story text', async () => {
  await exported;
  const generator = await pipeline('text-generation', stories, { dtype: 'fp32', device: 'cpu', local_files_only: true });
  try {
    const out = await generator('', { max_new_tokens: 200, do_sample: false }) as { generated_text: string }[];
    assert.equal(out[0].generated_text, expectedStory());
  } finally {
    await generator.dispose();
  }
});

test('fp16 export: transformers.js loads model_fp16.onnx with dtype \'fp16\' (float16 cache) and generates the story', async (t) => {
  await exported;
  const want = await storyIds, got = await greedy(stories, 'fp16', '', 200);
  let same = 0;
  while (same < got.length && got[same] === want[same]) same++;
  t.diagnostic(`fp16: the first ${same - 1} of 200 generated tokens equal llama2.c's`);
  assert.ok(same - 1 >= 100, `fp16 diverges after ${same - 1} tokens`);
});

test('external data in several files (use_external_data_format: n) loads in transformers.js', async () => {
  const dir = join(work, 'split');
  await exportModel({ model: STORIES, to: 'onnx', output_dir: dir, maxFileBytes: 200_000 });
  assert.deepEqual(await greedy(dir, 'fp32', 'Once upon a time', 40), (await greedy(stories, 'fp32', 'Once upon a time', 40)));
});

test('a LoRA checkpoint exported unmerged and merged: transformers.js generates the same ids (and not the base model\'s)', async () => {
  const ckpt = await tinyLoraCheckpoint(join(work, 'sft'));
  const [un, me] = [join(work, 'lora-unmerged'), join(work, 'lora-merged')];
  await exportModel({ adapters: ckpt, to: 'onnx', output_dir: un, dtype: ['fp32', 'fp16'] });
  await exportModel({ adapters: ckpt, merge_lora: true, to: 'onnx', output_dir: me });
  const prompt = 'Q: Who are you?\nA:';
  const merged = await greedy(me, 'fp32', prompt, 40);
  assert.deepEqual(await greedy(un, 'fp32', prompt, 40), merged);
  assert.notDeepEqual(await greedy(stories, 'fp32', prompt, 40), merged);
  // the unmerged fp16 variant loads too
  assert.equal((await greedy(un, 'fp16', prompt, 10)).length, merged.length - 30);
});
