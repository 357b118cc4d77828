// `deno run -A dist/webtune.mjs deploy` (Deno.serve, WebGPU built into Deno) with the official `openai` client:
// the greedy story, chat streaming = non-streaming, an unknown model, a malformed body and a disconnect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { NotFoundError } from 'openai';
import { expectedStory, oracleContinuation, STORIES } from './helpers.ts';
import { handAdapter, post, startDeploy, type Server } from './deploy-helpers.ts';
import { loadModel } from '../models/load.ts';
import { loadWithAdapters } from '../models/adapters.ts';
import { Generator } from '../src/generate.ts';
import { ReferenceOps } from '../src/backend/reference-ops.ts';

let srv: Server;
let adapter = '';
before(async () => {
  const c = (await loadModel(STORIES)).model.config;
  adapter = handAdapter(c.hiddenSize, c.numKvHeads * c.headDim, c.numLayers);
  srv = await startDeploy(['--model', STORIES, '--adapters', `storyteller=${adapter}`, '--device', 'webgpu'], 'deno');
});
after(async () => {
  if (srv) assert.equal(await srv.stop('SIGTERM'), 0, srv.log()); // Deno closes cleanly too
});

test('Deno + WebGPU: completions at temperature 0 reproduce llama2.c\'s greedy story', async () => {
  assert.match(srv.log(), /device: webgpu/);
  const r = await srv.client().completions.create({ model: 'stories260K', prompt: '', max_tokens: 200, temperature: 0 });
  assert.equal(r.choices[0].text, expectedStory());
  assert.equal(r.usage?.completion_tokens, 200);
});

test('Deno: an adapter is selected by model name and generates what the merged model does', async () => {
  const gen = (model: string) => srv.client().completions.create({ model, prompt: 'Once', max_tokens: 30, temperature: 0 }).then((r) => r.choices[0].text);
  const [base, tuned] = await Promise.all([gen('stories260K'), gen('storyteller')]);
  const merged = await new Generator(new ReferenceOps(), await loadWithAdapters(adapter, { model: STORIES })).generate('Once', { maxNewTokens: 30, temperature: 0 });
  assert.equal(tuned, merged.text);
  assert.equal(base, oracleContinuation('Once', 30).text);
  assert.notEqual(tuned, base);
});

test('Deno: chat streaming assembles the same text as without', async () => {
  const client = srv.client();
  const messages = [{ role: 'user' as const, content: 'Tell me a story about a dog.' }];
  const whole = await client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 30, temperature: 0 });
  let streamed = '';
  for await (const chunk of await client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 30, temperature: 0, stream: true })) {
    streamed += chunk.choices[0]?.delta.content ?? '';
  }
  assert.ok(streamed.length > 10);
  assert.equal(streamed, whole.choices[0].message.content);
});

test('Deno: 404 for an unknown model, 400 for malformed JSON, in OpenAI\'s error shape', async () => {
  await assert.rejects(srv.client().completions.create({ model: 'nope', prompt: 'x' }), NotFoundError);
  const r = await post(srv.base, '/v1/chat/completions', '{"model": "stories260K", "messages": [');
  assert.equal(r.status, 400);
  assert.equal(r.json.error?.type, 'invalid_request_error');
});

test('Deno: a client that leaves mid-stream stops its generation', async () => {
  const h = async () => (await (await fetch(`${srv.base}/health`)).json()) as { aborted: number; lastAbortedTokens: number };
  const ctl = new AbortController();
  let chunks = 0;
  for await (const _ of await srv.client().completions.create({ model: 'stories260K', prompt: '', max_tokens: 500, temperature: 0, stream: true },
    { signal: ctl.signal })) if (++chunks === 2) { ctl.abort(); break; }
  let s = await h();
  for (let i = 0; i < 100 && s.aborted === 0; i++) { await new Promise((r) => setTimeout(r, 20)); s = await h(); }
  assert.equal(s.aborted, 1);
  assert.ok(s.lastAbortedTokens < 500);
});
