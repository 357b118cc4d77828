// `webtune build-edge` + workerd: the worker it writes serves the same OpenAI-compatible API from the WASM
// backend, checked with the official `openai` client against llama2.c's greedy story and the PyTorch oracle.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError } from 'openai';
import { continuation, expectedStory, oracleContinuation, runCli, STORIES } from './helpers.ts';
import { handAdapter, post, startWorkerd, tinyHfModel, type Server } from './deploy-helpers.ts';
import { loadModel } from '../models/load.ts';
import { loadWithAdapters } from '../models/adapters.ts';
import { Generator } from '../src/generate.ts';
import { ReferenceOps } from '../src/backend/reference-ops.ts';

let srv: Server;
let dir = '';

before(async () => {
  dir = join(mkdtempSync(join(tmpdir(), 'webtune-edge-')), 'worker');
  const r = await runCli(['build-edge', '--model', STORIES, '--output_dir', dir, '--api_key', 'sk-edge']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), dir);
  srv = await startWorkerd(dir);
});
after(async () => { await srv?.stop(); });

test('build-edge writes the bundle, the weights as data modules and a workerd config', () => {
  for (const f of ['worker.mjs', 'kernels.wasm', 'tokenizer.wasm', 'webtune.json', 'config.json', 'model.safetensors', 'tokenizer.dat', 'config.capnp', 'README.md']) {
    assert.ok(existsSync(join(dir, f)), f);
  }
  assert.match(readFileSync(join(dir, 'config.capnp'), 'utf8'), /model\.safetensors", data = embed "model\.safetensors"/);
});

test('workerd: completions at temperature 0 reproduce llama2.c\'s greedy story and the PyTorch continuation', async () => {
  const client = srv.client('sk-edge');
  const story = await client.completions.create({ model: 'stories260K', prompt: '', max_tokens: 200, temperature: 0 });
  assert.equal(story.choices[0].text, expectedStory());
  const prompt = 'Tom and Lily';
  let streamed = '';
  for await (const chunk of await client.completions.create({ model: 'stories260K', prompt, max_tokens: 40, temperature: 0, stream: true })) {
    streamed += chunk.choices[0]?.text ?? '';
  }
  assert.equal(streamed, oracleContinuation(prompt, 40).text);
});

test('workerd: chat streaming assembles the same text as without; /v1/models', async () => {
  const client = srv.client('sk-edge');
  assert.deepEqual((await client.models.list()).data.map((m) => m.id), ['stories260K']);
  const messages = [{ role: 'user' as const, content: 'Tell me a story.' }];
  const whole = await client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 30, temperature: 0 });
  let streamed = '';
  for await (const chunk of await client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 30, temperature: 0, stream: true })) {
    streamed += chunk.choices[0]?.delta.content ?? '';
  }
  assert.ok(streamed.length > 10);
  assert.equal(streamed, whole.choices[0].message.content);
});

test('workerd: auth, 404 and 400 in OpenAI\'s shape; /health', async () => {
  assert.equal((await fetch(`${srv.base}/health`)).status, 200);
  assert.equal((await fetch(`${srv.base}/v1/models`)).status, 401);
  await assert.rejects(srv.client('sk-edge').completions.create({ model: 'nope', prompt: 'x' }), NotFoundError);
  const bad = await post(srv.base, '/v1/completions', '{"model": "stories260K", "prompt": "x", "temperature": "hot"}', { authorization: 'Bearer sk-edge' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error?.param, 'temperature');
  const long = await post(srv.base, '/v1/completions', '{"model": "stories260K", "prompt": "Once", "max_tokens": 600}', { authorization: 'Bearer sk-edge' });
  assert.equal(long.status, 400);
  assert.equal(long.json.error?.code, 'context_length_exceeded');
});

test('build-edge refuses a non-empty --output_dir with one error line', async () => {
  const r = await runCli(['build-edge', '--model', STORIES, '--output_dir', dir]);
  assert.equal(r.status, 1);
  assert.match(r.stderr.trim(), /^webtune: error: --output_dir .* already exists and is not empty/);
});

test('build-edge packs a Hugging Face model (safetensors + tokenizer.json): the worker generates and chats as infer does', async () => {
  const model = tinyHfModel();
  const out = join(mkdtempSync(join(tmpdir(), 'webtune-edge-hf-')), 'w');
  const r = await runCli(['build-edge', '--model', model, '--output_dir', out, '--served_model_name', 'tiny']);
  assert.equal(r.status, 0, r.stderr);
  const worker = await startWorkerd(out);
  try {
    const client = worker.client();
    const got = await client.completions.create({ model: 'tiny', prompt: 'Hello world', max_tokens: 12, temperature: 0 });
    const want = await runCli(['infer', '--model', model, '--prompt', 'Hello world', '--max_new_tokens', '12', '--temperature', '0', '--device', 'wasm', '--no-stats']);
    assert.equal(want.status, 0, want.stderr);
    assert.equal(got.choices[0].text, continuation(want.stdout));
    assert.ok(got.usage!.completion_tokens > 0);
    // chat: the template and special tokens come from the packed tokenizer_config.json, as `infer --query` reads them
    const chat = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 12, temperature: 0 });
    const query = await runCli(['infer', '--model', model, '--query', 'hi', '--max_new_tokens', '12', '--temperature', '0', '--device', 'wasm', '--no-stats']);
    assert.equal(query.status, 0, query.stderr);
    assert.equal(chat.choices[0].message.content, continuation(query.stdout));
    assert.ok(chat.usage!.prompt_tokens > 1);
  } finally { await worker.stop(); }
});

test('round trip: a folder written by `webtune export` packed by build-edge reproduces llama2.c\'s greedy story in workerd', async () => {
  const work = mkdtempSync(join(tmpdir(), 'webtune-edge-onnx-'));
  const exported = join(work, 'stories260K-onnx');
  const e = await runCli(['export', '--model', STORIES, '--to', 'onnx', '--output_dir', exported]);
  assert.equal(e.status, 0, e.stderr);
  const out = join(work, 'worker');
  const r = await runCli(['build-edge', '--model', exported, '--output_dir', out, '--served_model_name', 'exported']);
  assert.equal(r.status, 0, r.stderr);
  const worker = await startWorkerd(out);
  try {
    const got = await worker.client().completions.create({ model: 'exported', prompt: '', max_tokens: 200, temperature: 0 });
    assert.equal(got.choices[0].text, expectedStory());
  } finally { await worker.stop(); }
});

test('build-edge --adapters: the worker serves the LoRA checkpoint by its name and generates what the merged model does', async () => {
  const c = (await loadModel(STORIES)).model.config;
  const adapter = handAdapter(c.hiddenSize, c.numKvHeads * c.headDim, c.numLayers);
  const out = join(mkdtempSync(join(tmpdir(), 'webtune-edge-lora-')), 'w');
  const r = await runCli(['build-edge', '--model', STORIES, '--adapters', adapter, '--served_model_name', 'storyteller', '--output_dir', out]);
  assert.equal(r.status, 0, r.stderr);
  const worker = await startWorkerd(out);
  try {
    const client = worker.client();
    assert.deepEqual((await client.models.list()).data.map((m) => m.id), ['storyteller']);
    const got = await client.completions.create({ model: 'storyteller', prompt: 'Once', max_tokens: 30, temperature: 0 });
    const merged = await new Generator(new ReferenceOps(), await loadWithAdapters(adapter, { model: STORIES })).generate('Once', { maxNewTokens: 30, temperature: 0 });
    assert.equal(got.choices[0].text, merged.text);
    assert.notEqual(got.choices[0].text, oracleContinuation('Once', 30).text);
  } finally { await worker.stop(); }
});

test('build-edge limits: text bindings in config.capnp; workerd answers 413 for a large body, 429 past the queue, /metrics', async () => {
  assert.match(readFileSync(join(dir, 'config.capnp'), 'utf8'), /\(name = "MAX_REQUEST_BYTES", text = "1048576"\)/); // the edge default
  const out = join(mkdtempSync(join(tmpdir(), 'webtune-edge-limits-')), 'w');
  const r = await runCli(['build-edge', '--model', STORIES, '--output_dir', out, '--max_num_seqs', '1', '--max_queue', '0', '--max_request_bytes', '2000']);
  assert.equal(r.status, 0, r.stderr);
  const capnp = readFileSync(join(out, 'config.capnp'), 'utf8');
  for (const [k, v] of [['MAX_QUEUE', '0'], ['MAX_REQUEST_BYTES', '2000'], ['REQUEST_TIMEOUT', '30']]) assert.match(capnp, new RegExp(`\\(name = "${k}", text = "${v}"\\)`));
  const worker = await startWorkerd(out);
  try {
    const big = await post(worker.base, '/v1/completions', JSON.stringify({ model: 'stories260K', prompt: 'x'.repeat(3000) }));
    assert.equal(big.status, 413);
    assert.equal(big.json.error?.code, 'request_too_large');
    const send = () => fetch(`${worker.base}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: 'stories260K', prompt: 'Once', max_tokens: 300 }) });
    const rs = await Promise.all([send(), send()]);
    assert.deepEqual(rs.map((x) => x.status).sort(), [200, 429]);
    assert.ok(Number(rs.find((x) => x.status === 429)!.headers.get('retry-after')) >= 1);
    await Promise.all(rs.map((x) => x.text()));
    const metrics = await (await fetch(`${worker.base}/metrics`)).text();
    assert.match(metrics, /^webtune_http_requests_total\{code="413"\} 1$/m);
    assert.match(metrics, /^webtune_http_requests_total\{code="429"\} 1$/m);
  } finally { await worker.stop(); }
});
