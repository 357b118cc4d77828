// `webtune bundle` and the bundle's train.mjs: the job runs from a copy outside the checkout under Node and Deno with
// the losses `webtune sft` logs for the same flags, resumes after kill -9 on the same curve, and a tampered or
// truncated bundle is refused naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DENO, ROOT, runCli, SHARED, STORIES, type RunResult } from './helpers.ts';
import { deviceOf } from './gpu.ts';
import { decodeShard, encodeShard } from '../src/bundle/shards.ts';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../models/safetensors.ts';

const DATA = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');
const FLAGS = ['--model', STORIES, '--dataset', `${DATA}#24`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
  '--model_author', '网调', 'Webtune', '--max_length', '64', '--per_device_train_batch_size', '2', '--learning_rate', '2e-3',
  '--lora_rank', '8', '--lora_dropout', '0.1', '--logging_steps', '1', '--max_steps', '8', '--save_steps', '4', '--seed', '7', '--device', 'webgpu'];

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `webtune-bundle-${name}-`));
const lossesOf = (runDir: string) => readFileSync(join(runDir, 'logging.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  .filter((l) => 'loss' in l).map((l) => ({ step: l.step as number, loss: l.loss as number, grad_norm: l.grad_norm as number }));

/** A copy of the bundle in a fresh folder outside the checkout; Node gets Dawn as a user would: `npm i webgpu` beside it. */
function copyOut(job: string, name: string): string {
  const dir = join(tmp(name), 'job');
  cpSync(job, dir, { recursive: true });
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(resolve(ROOT, 'node_modules/webgpu'), join(dir, 'node_modules/webgpu'));
  return dir;
}

function runJob(dir: string, args: string[], runtime: 'node' | 'deno' = 'node', onStderr?: (s: string, kill: () => void) => void): Promise<RunResult> {
  const [cmd, pre] = runtime === 'node' ? [process.execPath, []] : [DENO, ['run', '-A']];
  return new Promise((done) => {
    // cwd elsewhere: the bundle finds its files from its own location
    const child = spawn(cmd, [...pre, join(dir, 'train.mjs'), ...args], { cwd: tmpdir(), env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, timeout: 300_000 });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; onStderr?.(stderr, () => child.kill('SIGKILL')); });
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

const closeTo = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.abs(b) + 1e-7;

let job = '';
let sftLosses: ReturnType<typeof lossesOf> = [];

test('bundle writes a self-contained folder whose job.json lists every file with its sha256', async () => {
  job = join(tmp('make'), 'job');
  const r = await runCli(['bundle', ...FLAGS, '--output_dir', job]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), job);
  const m = JSON.parse(readFileSync(join(job, 'job.json'), 'utf8'));
  assert.equal(m.format, 'webtune-bundle/1');
  assert.equal(m.args.max_length, 64);
  assert.equal(m.args.output_dir, undefined, 'where this machine writes is not part of the job');
  for (const f of ['train.mjs', 'model/config.json', 'model/model.safetensors', 'model/tok512.bin', 'data/train.shard']) {
    assert.ok(m.files[f], `${f} listed`);
    assert.equal(statSync(join(job, f)).size, m.files[f].size, f);
  }
  const bytes = Object.values(m.files as Record<string, { size: number }>).reduce((s, f) => s + f.size, 0);
  assert.ok(bytes < 8 * 2 ** 20, `stories260K job is a few MB (${bytes} bytes)`);
  assert.match(r.stderr, /bundle: \d+ files, [\d.]+ MiB/);
});

test('the bundle trains from a copy outside the checkout with the losses of webtune sft', async () => {
  const sft = await runCli(['sft', ...FLAGS, '--output_dir', tmp('sft')]);
  assert.equal(sft.status, 0, sft.stderr);
  deviceOf(sft.stderr);
  sftLosses = lossesOf(sft.stdout.trim().split('\n').pop()!);
  const dir = copyOut(job, 'node');
  const r = await runJob(dir, []);
  assert.equal(r.status, 0, r.stderr);
  deviceOf(r.stderr);
  const runDir = r.stdout.trim().split('\n').pop()!;
  assert.ok(runDir.startsWith(join(dir, 'output')), 'the default output folder is output/ inside the bundle');
  const got = lossesOf(runDir);
  assert.deepEqual(got.map((l) => l.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  for (const [i, l] of got.entries()) assert.ok(closeTo(l.loss, sftLosses[i].loss, 1e-6), `step ${l.step}: bundle ${l.loss}, sft ${sftLosses[i].loss}`);
  for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'trainer_state.json', 'adapter.onnx']) assert.ok(existsSync(join(runDir, 'checkpoint-8', f)), f);
  // the checkpoint is sft's: infer takes it (its args.json names the bundle's model)
  const inf = await runCli(['infer', '--adapters', join(runDir, 'checkpoint-8'), '--query', 'Who are you?', '--max_new_tokens', '8', '--temperature', '0']);
  assert.equal(inf.status, 0, inf.stderr);
});

test('Deno runs the same bundle on the same curve (within 1e-4 relative at every step)', async () => {
  const dir = copyOut(job, 'deno');
  const r = await runJob(dir, ['--output_dir', join(dir, 'deno-out')], 'deno');
  assert.equal(r.status, 0, r.stderr);
  deviceOf(r.stderr);
  const got = lossesOf(r.stdout.trim().split('\n').pop()!);
  for (const [i, l] of got.entries()) assert.ok(closeTo(l.loss, sftLosses[i].loss, 1e-4), `step ${l.step}: deno ${l.loss}, node ${sftLosses[i].loss}`);
});

test('killed with SIGKILL after its first checkpoint, --resume continues the same curve', async () => {
  const dir = copyOut(job, 'resume');
  const killed = await runJob(dir, [], 'node', (err, kill) => { if (/train 5\/8/.test(err)) kill(); });
  assert.equal(killed.status, null, 'killed mid-run');
  assert.ok(existsSync(join(readdirSync(join(dir, 'output')).map((d) => join(dir, 'output', d))[0], 'checkpoint-4')));
  const r = await runJob(dir, ['--resume']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /resumed from .*checkpoint-4 at step 4/);
  const got = lossesOf(r.stdout.trim().split('\n').pop()!);
  assert.deepEqual(got.map((l) => l.step), [1, 2, 3, 4, 5, 6, 7, 8], 'the resumed run logs the whole curve');
  for (const [i, l] of got.entries()) assert.ok(closeTo(l.loss, sftLosses[i].loss, 1e-6), `step ${l.step}: resumed ${l.loss}, uninterrupted ${sftLosses[i].loss}`);
});

test('a tampered, truncated or incomplete bundle is refused with one line naming the file', async () => {
  const cases: [string, (dir: string) => void, RegExp][] = [
    ['altered', (d) => { const f = join(d, 'model/model.safetensors'), b = readFileSync(f); b[b.length - 1] ^= 1; writeFileSync(f, b); },
      /model\/model\.safetensors does not match its sha256/],
    ['truncated', (d) => { const f = join(d, 'data/train.shard'); writeFileSync(f, readFileSync(f).subarray(0, 100)); }, /data\/train\.shard has 100 bytes, job\.json says \d+/],
    ['missing', (d) => { writeFileSync(join(d, 'job.json'), readFileSync(join(d, 'job.json'), 'utf8').replace('"files": {', '"files": {\n    "extra.bin": {"size": 1, "sha256": "00"},')); },
      /extra\.bin is missing/],
  ];
  for (const [name, damage, want] of cases) {
    const dir = copyOut(job, name);
    damage(dir);
    const r = await runJob(dir, []);
    assert.equal(r.status, 1, name);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${name}: one line:\n${r.stderr}`);
    assert.match(lines[0], /^webtune: error: /);
    assert.match(lines[0], want);
    assert.ok(!existsSync(join(dir, 'output')), `${name}: nothing written`);
  }
});

test('shards round-trip the sequences, and a damaged shard is named', () => {
  const ex = [3, 0, 5].map((n, k) => ({ ids: Int32Array.from({ length: n }, (_x, i) => i + k), labels: Int32Array.from({ length: n }, (_x, i) => (i ? i + k : -100)),
    positions: Int32Array.from({ length: n }, (_x, i) => i), segments: new Int32Array(n).fill(k + 1) }));
  const back = decodeShard(encodeShard(ex), 'x.shard');
  assert.deepEqual(back.map((e) => [...e.ids, ...e.labels, ...e.positions, ...e.segments]), ex.map((e) => [...e.ids, ...e.labels, ...e.positions, ...e.segments]));
  assert.throws(() => decodeShard(encodeShard(ex).subarray(0, 30), 'x.shard'), /x\.shard: not a webtune data shard/);
  assert.throws(() => decodeShard(new Uint8Array(40), 'y.shard'), /y\.shard: not a webtune data shard \(no WTSHARD1 header\)/);
});

test('a model whose values are all bfloat16 is stored as BF16, losslessly; others stay F32', () => {
  const bf = Float32Array.from([1, -2.5, 3.140625, 0, 1e-3].map((x) => new Float32Array(new Uint32Array([new Uint32Array(Float32Array.of(x).buffer)[0] & 0xffff0000]).buffer)[0]));
  const f32 = Float32Array.of(0.1, 0.2, 0.3, 0.4, 0.5);
  const bytes = writeSafetensors(new Map([['a', { shape: [5], data: bf }], ['b', { shape: [5], data: f32 }]]), undefined, { exactBf16: true });
  const { header } = readSafetensorsHeader(bytes);
  assert.equal(header.a.dtype, 'BF16');
  assert.equal(header.b.dtype, 'F32');
  const back = readSafetensors(bytes).tensors;
  assert.deepEqual([...back.get('a')!.data], [...bf]);
  assert.deepEqual([...back.get('b')!.data], [...f32]);
});
