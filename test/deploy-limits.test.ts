// Request limits under Node (deploy-limits-cases.ts, shared with Deno), plus what only Node's server or the app
// in-process can show: slow headers cut by --request_timeout, prompts that cannot fit refused before tokenizing
// (the byte bound is sound: never more than the real token count), and no client input answered with a 500.
import '../runtime/wasm-embedded.ts';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../models/load.ts';
import { loadTokenizerFile, type Tokenizer } from '../models/tokenizer.ts';
import { createWasmOps } from '../src/backend/wasm-ops.ts';
import type { Ops } from '../core/ops.ts';
import { createApp } from '../src/serve/app.ts';
import { Engine, type ServedModel } from '../src/serve/engine.ts';
import { maxBytesPerToken } from '../src/serve/prompt-bound.ts';
import { SHARED, STORIES } from './helpers.ts';
import { rawRequest, startDeploy } from './deploy-helpers.ts';
import { LIMIT_FLAGS, limitTests } from './deploy-limits-cases.ts';

limitTests('node');

test('node: headers that never finish are cut after --request_timeout (408, connection closed)', async () => {
  const srv = await startDeploy(['--model', STORIES, '--device', 'wasm', ...LIMIT_FLAGS]);
  try {
    const r = await rawRequest(srv.base, 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-');
    assert.equal(r.status, 408, r.head);
    assert.ok(r.ms < 5000, `cut after ${r.ms} ms`);
  } finally { await srv.stop(); }
});

let ops: Ops;
let stories: ServedModel;
before(async () => {
  ops = await createWasmOps();
  stories = { id: 'stories260K', root: 'stories260K', loaded: await loadModel(STORIES), created: 0 };
});
after(() => ops?.destroy());

/** The byte bound never claims more tokens than the tokenizer produces. */
function checkBound(tok: Tokenizer, texts: string[]) {
  const b = maxBytesPerToken(tok);
  assert.ok(b !== undefined && b >= 1);
  for (const t of texts) {
    const n = tok.encode(t, { addSpecialTokens: false }).length;
    assert.ok(n >= Math.ceil(new TextEncoder().encode(t).length / b), `${JSON.stringify(t.slice(0, 40))}: ${n} tokens < bound (B = ${b})`);
  }
  return b;
}

const samples = ['Once upon a time', ' the the the the', 'a'.repeat(1000), ' '.repeat(500), '\n\n\n', 'ünïcødé 猫 🐈‍⬛ 𝐀𝐁', 'x\u0301'.repeat(50),
  '<|endoftext|>'.repeat(20), 'Tom and Lily were friends. They liked to play with the red ball in the park.'.repeat(5)];

test('the prompt byte bound is sound for llama2.c and byte-level BPE tokenizers', async () => {
  checkBound(stories.loaded.tokenizer, samples);
  checkBound(await loadTokenizerFile(`${SHARED}/tokenizers/gpt2/tokenizer.json`), samples);
});

test('a prompt that provably cannot fit is refused (400 context_length_exceeded) without tokenizing it', async () => {
  let encodes = 0;
  const tok = stories.loaded.tokenizer;
  const counting = new Proxy(tok, { get: (t, k) => (k === 'encode' ? (...a: Parameters<Tokenizer['encode']>) => { encodes++; return t.encode(...a); } : Reflect.get(t, k)) });
  const m: ServedModel = { ...stories, loaded: { ...stories.loaded, tokenizer: counting } };
  const engine = new Engine(ops, [m]);
  const b = maxBytesPerToken(tok)!;
  const ctx = engine.contextLength(m);
  // just past the bound with 16 completion tokens: refused before encode
  const big = 'a'.repeat(b * (ctx - 16) + 1);
  assert.throws(() => engine.encode(m, big, 16), (e: { status: number; code: string; param: string }) =>
    e.status === 400 && e.code === 'context_length_exceeded' && e.param === 'prompt');
  assert.equal(encodes, 0);
  // 'a' is one byte per token for this tokenizer: a prompt within the bound is counted exactly, then refused by budget
  assert.throws(() => engine.budget(m, engine.encode(m, 'a '.repeat(600), 16).length, 16, 'prompt'), /maximum context length is 512/);
  assert.equal(encodes, 1);
  // chat messages likewise
  await assert.rejects(engine.chat(m, [{ role: 'user', content: big }], 16), /maximum context length/);
  assert.equal(encodes, 1);
});

test('a tokenizer that refuses text as too long (RangeError) is a 400, not a 500', async () => {
  const tok = stories.loaded.tokenizer;
  const refusing = new Proxy(tok, { get: (t, k) => (k === 'encode' ? () => { throw new RangeError('text too long to encode at once'); }
    : k === 'kind' ? 'hf' : Reflect.get(t, k)) }); // (kind hf with no spec: no byte bound, exact counting only)
  const m: ServedModel = { ...stories, loaded: { ...stories.loaded, tokenizer: refusing } };
  const app = createApp(new Engine(ops, [m]));
  const r = await app.fetch(new Request('http://x/v1/completions', { method: 'POST', body: JSON.stringify({ model: 'stories260K', prompt: 'hello' }) }));
  assert.equal(r.status, 400);
  assert.equal((await r.json() as { error: { code: string } }).error.code, 'context_length_exceeded');
});

test('no client input is answered with a 500: junk bodies, bad UTF-8, huge or odd fields', async () => {
  const app = createApp(new Engine(ops, [stories]), { limits: { maxRequestBytes: 8 * 2 ** 20, requestTimeoutS: 5 } });
  const json = (o: unknown) => JSON.stringify(o);
  const base = { model: 'stories260K' };
  const bodies: (string | Uint8Array<ArrayBuffer>)[] = [
    '', 'null', '"x"', '1e999', '{', '{"model":', '[[[[[[[[[[', '['.repeat(200_000) + ']'.repeat(200_000), '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000),
    new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(json({ ...base, prompt: 'x' }))]),
    json({ ...base, prompt: 'a'.repeat(6_000_000) }), json({ ...base, prompt: 'é'.repeat(3_000_000) }), json({ ...base, prompt: '\ud800\udfff\ud800' }),
    json({ ...base, prompt: [] }), json({ ...base, prompt: [[]] }), json({ ...base, prompt: [1e300] }), json({ ...base, prompt: [-1] }),
    json({ ...base, prompt: [2 ** 53] }), json({ ...base, prompt: Array(100_000).fill(5) }), json({ ...base, prompt: 'x', max_tokens: 1e300 }),
    json({ ...base, prompt: 'x', max_tokens: -1 }), json({ ...base, prompt: 'x', max_tokens: 0 }), json({ ...base, prompt: 'x', stop: Array(100_000).fill('a') }),
    json({ ...base, prompt: 'x', stop: ['y'.repeat(1_000_000)] }), json({ ...base, prompt: 'x', stop: [{}] }), json({ ...base, prompt: 'x', seed: 1e300 }),
    json({ ...base, prompt: 'x', top_k: 1e300 }), json({ ...base, prompt: 'x', temperature: -0 }), json({ ...base, prompt: 'x', logit_bias: { 1: 100 } }),
    json({ ...base, prompt: 'x', stream_options: 'yes' }), json({ model: ['a'], prompt: 'x' }), json({ model: 'x'.repeat(100_000), prompt: 'x' }),
    json({ ...base, messages: [] }), json({ ...base, messages: [null] }), json({ ...base, messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }),
    json({ ...base, messages: [{ role: 'user', content: 'a'.repeat(6_000_000) }] }), json({ ...base, messages: Array(50_000).fill({ role: 'user', content: 'hi' }) }),
    json({ ...base, messages: [{ role: 'user', content: '{{ raise_exception("x") }}{% for %}' }] }), json({ ...base, messages: [{ role: 'user', content: 'hi', name: 5 }] }),
  ];
  for (const path of ['/v1/completions', '/v1/chat/completions']) {
    for (const body of bodies) {
      const r = await app.fetch(new Request(`http://x${path}`, { method: 'POST', body }));
      const text = await r.text();
      const what = `${path} ${typeof body === 'string' ? body.slice(0, 80) : `bytes ${body.slice(0, 8)}`} → ${r.status} ${text.slice(0, 200)}`;
      assert.ok(r.status < 500, what);
      if (r.status !== 200) assert.deepEqual(Object.keys((JSON.parse(text) as { error: object }).error).sort(), ['code', 'message', 'param', 'type'], what);
    }
  }
  const r = await app.fetch(new Request('http://x/v1/completions', { method: 'POST', body: 'x'.repeat(9 * 2 ** 20) }));
  assert.equal(r.status, 413);
});
