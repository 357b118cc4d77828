// End to end: `webtune infer` on the real stories260K model reproduces llama2.c's greedy output on
// every backend and runtime, and continuations of prompts match the PyTorch oracle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { continuation, expectedStory, oracleContinuation, runCli, STORIES } from './helpers.ts';

const story = ['infer', '--model', STORIES, '--prompt', '', '--max_new_tokens', '200', '--temperature', '0'];

for (const [runtime, device] of [['node', 'webgpu'], ['deno', 'webgpu'], ['node', 'wasm'], ['deno', 'wasm']] as const) {
  test(`${runtime} + ${device}: greedy story equals llama2.c's exactly`, async () => {
    // WASM on a 2-thread pool (the same bits as 1 thread: test/wasm-ops.test.ts), fused multiply-adds: Node 20 after
    // setting V8's flag, Deno by default
    const r = await runCli([...story, '--device', device, ...(device === 'wasm' ? ['--threads', '2'] : [])], runtime);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(continuation(r.stdout), expectedStory());
    assert.match(r.stderr, new RegExp(`device: ${device === 'wasm' ? 'wasm on WebAssembly relaxed SIMD \\(fused multiply-add\\) \\(2 threads\\)' : device}`));
  });
}

test('--device auto picks webgpu when an adapter exists and says why on stderr', async () => {
  const r = await runCli([...story, '--max_new_tokens', '5']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /device: webgpu .*auto: a WebGPU adapter is available/);
});

const prompts = ['Once upon a time', 'The cat sat on the mat. The', 'Tom and Lily', 'A big red ball 🎈 and'];
for (const prompt of prompts) {
  test(`continuation of ${JSON.stringify(prompt)} matches the PyTorch llama2.c oracle (webgpu and wasm)`, async () => {
    const ref = oracleContinuation(prompt, 60);
    for (const device of ['webgpu', 'wasm']) {
      const r = await runCli(['infer', '--model', STORIES, '--prompt', prompt, '--max_new_tokens', '60',
        '--temperature', '0', '--device', device]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(continuation(r.stdout), ref.text, `${device}`);
    }
  });
}

test('sampling with a seed is reproducible and differs across seeds', async () => {
  const args = ['infer', '--model', STORIES, '--prompt', 'Once', '--max_new_tokens', '40', '--temperature', '1',
    '--top_k', '40', '--top_p', '0.95', '--repetition_penalty', '1.1', '--device', 'wasm'];
  const [a, b, c] = await Promise.all([runCli([...args, '--seed', '7']), runCli([...args, '--seed', '7']), runCli([...args, '--seed', '8'])]);
  for (const r of [a, b, c]) assert.equal(r.status, 0, r.stderr);
  assert.equal(a.stdout, b.stdout);
  assert.notEqual(a.stdout, c.stdout);
});

test('the model file itself is a valid --model when its tokenizer sits beside it', async () => {
  const r = await runCli(['infer', '--model', `${STORIES}/stories260K.bin`, '--prompt', '', '--max_new_tokens', '20',
    '--temperature', '0', '--device', 'wasm']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(expectedStory().startsWith(continuation(r.stdout)));
});

test('--query renders the chat template with a generation prompt (default template = its --prompt text)', async () => {
  const common = ['infer', '--model', STORIES, '--max_new_tokens', '30', '--temperature', '0', '--device', 'wasm'];
  const [q, p] = await Promise.all([
    runCli([...common, '--query', 'Who are you?', '--template', 'default']),
    runCli([...common, '--prompt', '### Human:\nWho are you?\n\n### Assistant:\n']),
  ]);
  assert.equal(q.status, 0, q.stderr);
  assert.match(q.stderr, /chat template: default/);
  assert.ok(continuation(q.stdout).length > 0);
  assert.equal(q.stdout, p.stdout);
  const both = await runCli([...common, '--query', 'x', '--prompt', 'y']);
  assert.notEqual(both.status, 0);
  assert.match(both.stderr, /--prompt or --query, not both/);
});
