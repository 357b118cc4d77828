// `webtune deploy` under Node, driven by the official `openai` client: greedy completions reproduce llama2.c's
// story (PyTorch oracle), streamed chat assembles the non-streamed text, adapters are picked by model name,
// bearer auth, OpenAI's error shape for every bad input, client disconnects stop generation, and 64 concurrent
// streams complete without leaking descriptors. WASM backend except one WebGPU test.
import '../runtime/wasm-embedded.ts';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { APIError, AuthenticationError, BadRequestError, NotFoundError } from 'openai';
import { loadWithAdapters } from '../models/adapters.ts';
import { loadModel } from '../models/load.ts';
import { createWasmOps } from '../src/backend/wasm-ops.ts';
import { Generator } from '../src/generate.ts';
import { expectedStory, oracleContinuation, STORIES } from './helpers.ts';
import { handAdapter, post, processUsage, startDeploy, type Server } from './deploy-helpers.ts';

const KEY = 'sk-webtune-test';
let srv: Server;
let adapter = '';

before(async () => {
  const c = (await loadModel(STORIES)).model.config;
  adapter = handAdapter(c.hiddenSize, c.numKvHeads * c.headDim, c.numLayers);
  srv = await startDeploy(['--model', STORIES, '--adapters', `storyteller=${adapter}`, '--device', 'wasm', '--api_key', KEY]);
});
after(async () => { await srv?.stop(); });

const health = async () => (await (await fetch(`${srv.base}/health`)).json()) as { status: string; models: string[]; active: number;
  queued: number; completed: number; aborted: number; lastAbortedTokens: number | null };

test('completions at temperature 0 reproduce llama2.c\'s greedy story and the PyTorch continuation, with usage', async () => {
  const client = srv.client(KEY);
  const story = await client.completions.create({ model: 'stories260K', prompt: '', max_tokens: 200, temperature: 0 });
  assert.equal(story.choices[0].text, expectedStory());
  assert.equal(story.object, 'text_completion');
  assert.deepEqual(story.usage, { prompt_tokens: 1, completion_tokens: 200, total_tokens: 201 });
  assert.equal(story.choices[0].finish_reason, 'length');

  const prompt = 'Tom and Lily';
  const oracle = oracleContinuation(prompt, 40);
  const cont = await client.completions.create({ model: 'stories260K', prompt, max_tokens: 40, temperature: 0 });
  assert.equal(cont.choices[0].text, oracle.text);
  assert.equal(cont.usage?.prompt_tokens, oracle.prompt_ids.length);
  assert.equal(cont.usage?.completion_tokens, 40);
  // streamed: the same text, then [DONE] (the client ends the iteration on it)
  let streamed = '';
  for await (const chunk of await client.completions.create({ model: 'stories260K', prompt, max_tokens: 40, temperature: 0, stream: true })) {
    streamed += chunk.choices[0]?.text ?? '';
  }
  assert.equal(streamed, oracle.text);
});

test('stop sequences cut the text before them (finish_reason stop); a seed makes sampling repeatable', async () => {
  const client = srv.client(KEY);
  const story = expectedStory();
  const r = await client.completions.create({ model: 'stories260K', prompt: '', max_tokens: 200, temperature: 0, stop: ['red ball', 'xyz'] });
  assert.equal(r.choices[0].text, story.slice(0, story.indexOf('red ball')));
  assert.equal(r.choices[0].finish_reason, 'stop');
  let streamed = '';
  for await (const chunk of await client.completions.create({ model: 'stories260K', prompt: '', max_tokens: 200, temperature: 0, stop: 'red ball', stream: true })) {
    streamed += chunk.choices[0]?.text ?? '';
  }
  assert.equal(streamed, r.choices[0].text);
  const sample = (seed: number) => client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 30, temperature: 1, top_p: 0.95, seed })
    .then((x) => x.choices[0].text);
  const [a, b, c] = await Promise.all([sample(7), sample(7), sample(8)]);
  assert.equal(a, b);
  assert.notEqual(a, c);
});

test('chat: streaming assembles the same text as without; usage with stream_options', async () => {
  const client = srv.client(KEY);
  const messages = [{ role: 'system' as const, content: 'You tell stories.' }, { role: 'user' as const, content: 'Tell me about a cat.' }];
  const whole = await client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 40, temperature: 0 });
  assert.equal(whole.object, 'chat.completion');
  assert.equal(whole.choices[0].message.role, 'assistant');
  const text = whole.choices[0].message.content ?? '';
  assert.ok(text.length > 20, text);
  let streamed = '', role = '', usage;
  for await (const chunk of await client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 40, temperature: 0, stream: true,
    stream_options: { include_usage: true } })) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    role ||= chunk.choices[0]?.delta.role ?? '';
    streamed += chunk.choices[0]?.delta.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(streamed, text);
  assert.equal(role, 'assistant');
  assert.deepEqual(usage, whole.usage);
  // the raw stream ends with data: [DONE]
  const raw = await fetch(`${srv.base}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model: 'stories260K', messages, max_tokens: 3, stream: true }) });
  assert.match(raw.headers.get('content-type') ?? '', /text\/event-stream/);
  assert.match(await raw.text(), /\n\ndata: \[DONE\]\n\n$/);
});

test('an adapter is selected by model name: /v1/models lists it, and it generates what the merged model does', async () => {
  const client = srv.client(KEY);
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['stories260K', 'storyteller']);
  const gen = (model: string) => client.completions.create({ model, prompt: 'Once', max_tokens: 30, temperature: 0 }).then((r) => r.choices[0].text);
  const [base, tuned] = await Promise.all([gen('stories260K'), gen('storyteller')]);
  const ops = await createWasmOps();
  try {
    const merged = await new Generator(ops, await loadWithAdapters(adapter, { model: STORIES })).generate('Once', { maxNewTokens: 30, temperature: 0 });
    assert.equal(tuned, merged.text);
    assert.equal(base, oracleContinuation('Once', 30).text);
    assert.notEqual(tuned, base);
  } finally { ops.destroy(); }
});

test('bearer auth on /v1/* (401 in OpenAI\'s shape); /health is open', async () => {
  await assert.rejects(srv.client('wrong').models.list(), (e) => e instanceof AuthenticationError && e.status === 401);
  const r = await fetch(`${srv.base}/v1/models`);
  assert.equal(r.status, 401);
  const body = await r.json() as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(body.error.code, 'invalid_api_key');
  const h = await health();
  assert.equal(h.status, 'ok');
  assert.deepEqual(h.models, ['stories260K', 'storyteller']);
});

test('bad input: 400 for malformed JSON, wrong field types and over-long requests; 404 for an unknown model', async () => {
  const auth = { authorization: `Bearer ${KEY}` };
  const cases: [string, string, string | null][] = [
    ['/v1/completions', '{"model": "stories260K", "prompt": ', null],
    ['/v1/completions', '[1, 2]', null],
    ['/v1/completions', '{"model": "stories260K", "prompt": "x", "temperature": "hot"}', 'temperature'],
    ['/v1/completions', '{"model": "stories260K", "prompt": "x", "max_tokens": "10"}', 'max_tokens'],
    ['/v1/completions', '{"model": "stories260K", "prompt": "x", "max_tokens": 2.5}', 'max_tokens'],
    ['/v1/completions', '{"model": "stories260K", "prompt": {"text": "x"}}', 'prompt'],
    ['/v1/completions', '{"model": "stories260K", "prompt": "x", "stream": "yes"}', 'stream'],
    ['/v1/completions', '{"model": "stories260K", "prompt": "x", "stop": 5}', 'stop'],
    ['/v1/completions', '{"model": "stories260K", "prompt": "x", "top_p": 0}', 'top_p'],
    ['/v1/completions', '{"model": "stories260K", "prompt": "x", "seed": "1"}', 'seed'],
    ['/v1/completions', '{"model": 7, "prompt": "x"}', 'model'],
    ['/v1/completions', '{"model": "stories260K", "prompt": "x", "n": 2}', 'n'],
    ['/v1/completions', '{"model": "stories260K", "prompt": "Once", "max_tokens": 511}', 'prompt'],
    ['/v1/completions', `{"model": "stories260K", "prompt": ${JSON.stringify('the cat '.repeat(300))}}`, 'prompt'],
    ['/v1/chat/completions', '{"model": "stories260K", "messages": "hi"}', 'messages'],
    ['/v1/chat/completions', '{"model": "stories260K", "messages": [{"role": "user", "content": 3}]}', 'messages[0].content'],
    ['/v1/chat/completions', '{"model": "stories260K", "messages": [{"role": "wizard", "content": "hi"}]}', 'messages[0].role'],
    ['/v1/chat/completions', '{"model": "stories260K", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 600}', 'messages'],
  ];
  for (const [path, body, param] of cases) {
    const r = await post(srv.base, path, body, auth);
    assert.equal(r.status, 400, `${body} → ${JSON.stringify(r.json)}`);
    assert.deepEqual(Object.keys(r.json.error!).sort(), ['code', 'message', 'param', 'type'], body);
    assert.equal(r.json.error!.type, 'invalid_request_error');
    assert.equal(r.json.error!.param, param, body);
  }
  const long = await post(srv.base, '/v1/completions', '{"model": "stories260K", "prompt": "Once", "max_tokens": 511}', auth);
  assert.equal(long.json.error!.code, 'context_length_exceeded');
  assert.match(long.json.error!.message, /maximum context length is 512 tokens/);
  // the openai client sees the same errors as typed exceptions
  const client = srv.client(KEY);
  await assert.rejects(client.completions.create({ model: 'gpt-4', prompt: 'x' }), (e) => e instanceof NotFoundError && e.status === 404 &&
    (e as APIError).code === 'model_not_found');
  await assert.rejects(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }), NotFoundError);
  await assert.rejects(client.completions.create({ model: 'stories260K', prompt: 'x', temperature: 5 }), (e) => e instanceof BadRequestError &&
    (e as APIError).param === 'temperature');
});

test('a client that disconnects mid-stream stops its generation; the next request is served at once', async () => {
  const before = await health();
  const ctl = new AbortController();
  const stream = await srv.client(KEY).completions.create({ model: 'stories260K', prompt: '', max_tokens: 500, temperature: 0, stream: true },
    { signal: ctl.signal });
  let chunks = 0;
  for await (const _ of stream) if (++chunks === 3) { ctl.abort(); break; }
  let h = await health();
  for (let i = 0; i < 100 && h.aborted === before.aborted; i++) { await new Promise((r) => setTimeout(r, 20)); h = await health(); }
  assert.equal(h.aborted, before.aborted + 1);
  assert.ok(h.lastAbortedTokens! < 500, `the aborted request generated ${h.lastAbortedTokens} tokens`);
  assert.equal(h.active, 0);
  const t0 = performance.now();
  const next = await srv.client(KEY).completions.create({ model: 'stories260K', prompt: '', max_tokens: 5, temperature: 0 });
  assert.equal(next.choices[0].text, 'Once upon a time,');
  assert.ok(performance.now() - t0 < 5000);
});

test('requests take turns: a short request sent during a long one finishes first', async () => {
  const client = srv.client(KEY);
  const done: string[] = [];
  const long = client.completions.create({ model: 'stories260K', prompt: '', max_tokens: 400, temperature: 0 }).then(() => done.push('long'));
  await new Promise((r) => setTimeout(r, 20));
  const short = client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 5, temperature: 0 }).then(() => done.push('short'));
  await Promise.all([long, short]);
  assert.deepEqual(done, ['short', 'long']);
});

test('64 concurrent streaming requests all complete, fairly queued, without leaking descriptors', async () => {
  const client = srv.client(KEY);
  const round = () => Promise.all(Array.from({ length: 64 }, async (_, i) => {
    let text = '', finish = '';
    for await (const chunk of await client.completions.create({ model: i % 2 ? 'stories260K' : 'storyteller', prompt: 'Once', max_tokens: 16,
      temperature: 0, stream: true })) {
      text += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    return { text, finish };
  }));
  const before = processUsage(srv.pid);
  const results = await round();
  assert.equal(new Set(results.filter((_, i) => i % 2).map((r) => r.text)).size, 1);
  assert.equal(new Set(results.filter((_, i) => i % 2 === 0).map((r) => r.text)).size, 1);
  assert.ok(results.every((r) => r.finish === 'length' && r.text.length > 0));
  // once the clients' keep-alive sockets time out (5 s), the server is back to the descriptors it had
  let now = processUsage(srv.pid);
  for (let i = 0; i < 100 && now.fds > before.fds; i++) { await new Promise((r) => setTimeout(r, 100)); now = processUsage(srv.pid); }
  assert.ok(now.fds <= before.fds, `descriptors: ${before.fds} before, ${now.fds} after`);
  const h = await health();
  assert.equal(h.active, 0);
  assert.equal(h.queued, 0);
});

test('deploy on WebGPU serves the same greedy continuation', async () => {
  const gpu = await startDeploy(['--model', STORIES, '--device', 'webgpu']);
  try {
    assert.match(gpu.log(), /device: webgpu/);
    const r = await gpu.client().completions.create({ model: 'stories260K', prompt: 'Tom and Lily', max_tokens: 30, temperature: 0 });
    assert.equal(r.choices[0].text, oracleContinuation('Tom and Lily', 30).text);
  } finally {
    assert.equal(await gpu.stop('SIGINT'), 0, gpu.log()); // closes cleanly
  }
  assert.match(gpu.log(), /SIGINT: shutting down/);
});

test('deploy refuses a bad adapter spec or a missing model with one error line', async () => {
  const { runCli } = await import('./helpers.ts');
  const r = await runCli(['deploy', '--model', '/nonexistent/model', '--port', '0']);
  assert.equal(r.status, 1);
  assert.match(r.stderr.trim(), /^webtune: error: --model \/nonexistent\/model: no such file or directory$/);
  const dup = await runCli(['deploy', '--model', STORIES, '--adapters', `stories260K=${adapter}`, '--port', '0', '--device', 'wasm']);
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /already taken/);
});
