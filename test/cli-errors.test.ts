// Bad input: one clear error line on stderr naming the file or flag, a non-zero exit, no stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, STORIES } from './helpers.ts';

function assertOneLineError(r: { status: number | null; stdout: string; stderr: string }, pattern: RegExp) {
  assert.notEqual(r.status, 0, 'exit status must be non-zero');
  assert.equal(r.stdout, '', 'nothing on stdout');
  const lines = r.stderr.trim().split('\n').filter((l) => !/^Warning: /.test(l)); // Dawn's own warnings aside
  assert.equal(lines.length, 1, `one error line, got:\n${r.stderr}`);
  assert.match(lines[0], /^webtune: error: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

const tmp = () => mkdtempSync(join(tmpdir(), 'webtune-test-'));
const infer = (...args: string[]) => runCli(['infer', '--prompt', 'hi', '--device', 'wasm', ...args]);

test('missing model path', async () => {
  assertOneLineError(await infer('--model', '/nonexistent/model'), /--model \/nonexistent\/model: no such file/);
});

test('truncated model file', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'model.bin'), readFileSync(join(STORIES, 'stories260K.bin')).subarray(0, 500_000));
  copyFileSync(join(STORIES, 'tok512.bin'), join(dir, 'tok512.bin'));
  assertOneLineError(await infer('--model', dir), /model\.bin: corrupt or truncated llama2\.c checkpoint/);
});

test('unknown model format', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'weights.bin'), new TextEncoder().encode('{"this is": "not a checkpoint"}'.repeat(10)));
  copyFileSync(join(STORIES, 'tok512.bin'), join(dir, 'tok512.bin'));
  assertOneLineError(await infer('--model', dir), /weights\.bin: unknown model format/);
});

test('directory without a model', async () => {
  assertOneLineError(await infer('--model', tmp()), /no model found/);
});

test('model without a tokenizer', async () => {
  const dir = tmp();
  copyFileSync(join(STORIES, 'stories260K.bin'), join(dir, 'stories260K.bin'));
  assertOneLineError(await infer('--model', dir), /no tokenizer found/);
});

test('corrupt tokenizer file', async () => {
  const dir = tmp();
  copyFileSync(join(STORIES, 'stories260K.bin'), join(dir, 'stories260K.bin'));
  writeFileSync(join(dir, 'tok512.bin'), readFileSync(join(STORIES, 'tok512.bin')).subarray(0, 3000));
  assertOneLineError(await infer('--model', dir), /tok512\.bin: /);
});

test('prompt longer than the context', async () => {
  assertOneLineError(await infer('--model', STORIES, '--prompt', 'Once upon a time there was a cat. '.repeat(80)),
    /--prompt is \d+ tokens; the model's context is 512/);
});

for (const [flag, value, pattern] of [
  ['--max_new_tokens', '-1', /--max_new_tokens/],
  ['--max_new_tokens', 'ten', /--max_new_tokens/],
  ['--temperature', 'hot', /--temperature/],
  ['--temperature', '-0.5', /--temperature/],
  ['--top_p', '0', /--top_p/],
  ['--top_p', '1.5', /--top_p/],
  ['--top_k', '2.5', /--top_k/],
  ['--repetition_penalty', '0', /--repetition_penalty/],
  ['--device', 'cuda', /--device/],
] as const) {
  test(`impossible flag value ${flag} ${value}`, async () => {
    assertOneLineError(await infer('--model', STORIES, flag, value), pattern);
  });
}

test('unknown flag', async () => {
  assertOneLineError(await infer('--model', STORIES, '--max_tokens', '5'), /unknown option '--max_tokens'/);
});

test('unknown command', async () => {
  assertOneLineError(await runCli(['trian']), /unknown command 'trian'/);
});

test('--help describes every infer flag', async () => {
  const r = await runCli(['infer', '--help']);
  assert.equal(r.status, 0);
  for (const flag of ['--model', '--prompt', '--max_new_tokens', '--temperature', '--top_k', '--top_p',
    '--repetition_penalty', '--seed', '--device', '--tokenizer']) {
    assert.match(r.stdout, new RegExp(`${flag}\\b`), flag);
  }
  const top = await runCli(['--help']);
  assert.equal(top.status, 0);
  assert.match(top.stdout, /infer/);
});

test('WEBTUNE_GPU_ADAPTER naming no adapter: one error line naming the variable, exit 1', async () => {
  const { spawnSync } = await import('node:child_process');
  const { CLI } = await import('./helpers.ts');
  const r = spawnSync(process.execPath, [CLI, 'infer', '--model', STORIES, '--prompt', 'Once', '--max_new_tokens', '2', '--device', 'webgpu'],
    { encoding: 'utf8', env: { ...process.env, WEBTUNE_GPU_ADAPTER: 'no-such-gpu', XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^webtune: error: --device webgpu: WEBTUNE_GPU_ADAPTER=no-such-gpu: /m);
});
