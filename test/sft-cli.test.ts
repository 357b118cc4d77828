// `webtune sft` end to end on stories260K with the ms-swift self-cognition set (default template, tok512 wired
// into the data pipeline): the run directory as ms-swift lays it out, PEFT key names, resume continuing the loss
// curve exactly (after kill -9), full training's Hugging Face files, and bad input failing in one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readSafetensorsHeader } from '../models/safetensors.ts';
import { CLI, runCli, SHARED, STORIES } from './helpers.ts';
import { deviceOf } from './gpu.ts';

const DATA = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');
const base = ['sft', '--model', STORIES, '--dataset', `${DATA}#40`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
  '--model_author', '网调', 'Webtune', '--max_length', '64', '--per_device_train_batch_size', '2', '--gradient_accumulation_steps', '2',
  '--learning_rate', '1e-3', '--logging_steps', '1', '--seed', '3'];
const tmp = () => mkdtempSync(join(tmpdir(), 'webtune-sft-'));
const logs = (runDir: string) => readFileSync(join(runDir, 'logging.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const losses = (runDir: string) => logs(runDir).filter((l) => 'loss' in l).map((l) => [l.step, l.loss, l.grad_norm, l.learning_rate]);
const runDirOf = (stdout: string) => stdout.trim().split('\n').pop()!;

test('LoRA run: args.json, logging.jsonl, loss plots, PEFT checkpoints, trainer state, save_total_limit', async () => {
  const out = tmp();
  const r = await runCli([...base, '--max_steps', '4', '--save_steps', '2', '--eval_steps', '2', '--split_dataset_ratio', '0.2',
    '--save_total_limit', '1', '--lora_rank', '4', '--device', 'webgpu', '--output_dir', out]);
  assert.equal(r.status, 0, r.stderr);
  deviceOf(r.stderr);  // trained on WebGPU where one is required (auto would pick WASM on lavapipe)
  const dir = runDirOf(r.stdout);
  assert.match(dir, /\/v0-\d{8}-\d{6}$/);
  assert.match(r.stderr, /train 4\/4 .* loss \d+\.\d+ \| lr .* tok\/s/);
  assert.equal(JSON.parse(readFileSync(join(dir, 'args.json'), 'utf8')).lora_rank, 4);
  const log = logs(dir);
  const train = log.filter((l) => 'loss' in l);
  assert.deepEqual(train.map((l) => l.step), [1, 2, 3, 4]);
  for (const l of train) for (const k of ['epoch', 'learning_rate', 'grad_norm', 'tokens/s', 'memory(GiB)']) assert.equal(typeof l[k], 'number', k);
  assert.ok(train.every((l) => Number.isFinite(l.loss)));
  const evals = log.filter((l) => 'eval_loss' in l);
  assert.deepEqual(evals.map((l) => l.step), [2, 4]);
  assert.ok(evals.every((l) => l.eval_token_acc >= 0 && l.eval_token_acc <= 1));
  const final = log[log.length - 1];
  assert.equal(final.last_model_checkpoint, join(dir, 'checkpoint-4'));
  for (const png of ['train_loss.png', 'eval_loss.png']) {
    assert.deepEqual([...readFileSync(join(dir, 'images', png)).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  }
  // save_total_limit 1 keeps the newest, plus the best when it is another
  const ckpts = readdirSync(dir).filter((d) => d.startsWith('checkpoint-'));
  assert.ok(ckpts.includes('checkpoint-4') && ckpts.length <= 2, ckpts.join());
  const ck = join(dir, 'checkpoint-4');
  const cfg = JSON.parse(readFileSync(join(ck, 'adapter_config.json'), 'utf8'));
  assert.equal(cfg.peft_type, 'LORA');
  assert.equal(cfg.r, 4);
  assert.deepEqual(cfg.target_modules, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
  const { header } = readSafetensorsHeader(readFileSync(join(ck, 'adapter_model.safetensors')));
  assert.deepEqual(header['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'].shape, [4, 64]);
  assert.deepEqual(header['base_model.model.model.layers.4.mlp.down_proj.lora_B.weight'].shape, [64, 4]);
  assert.equal(Object.keys(header).filter((k) => k !== '__metadata__').length, 5 * 7 * 2);
  const state = JSON.parse(readFileSync(join(ck, 'trainer_state.json'), 'utf8'));
  assert.equal(state.global_step, 4);
  assert.ok(existsSync(join(ck, 'optimizer.safetensors')) && existsSync(join(ck, 'rng_state.json')));
  assert.ok(!readdirSync(dir).some((f) => f.includes('.tmp')), 'no temporary files left');
});

test('kill -9 then --resume_from_checkpoint: the loss curve continues exactly as an uninterrupted run', async () => {
  const args = [...base, '--max_steps', '6', '--save_steps', '2', '--lora_dropout', '0.1'];
  const whole = tmp(), cut = tmp();
  const r = await runCli([...args, '--output_dir', whole]);
  assert.equal(r.status, 0, r.stderr);
  const want = losses(runDirOf(r.stdout));
  // the interrupted run: killed once checkpoint-2 exists
  const child = spawn(process.execPath, [CLI, ...args, '--output_dir', cut], { env: { ...process.env }, stdio: 'ignore' });
  const ck = await new Promise<string>((done, fail) => {
    const timer = setInterval(() => {
      const run = readdirSync(cut).find((d) => d.startsWith('v'));
      const c = run && join(cut, run, 'checkpoint-2');
      if (c && existsSync(join(c, 'trainer_state.json'))) { clearInterval(timer); child.kill('SIGKILL'); done(c); }
    }, 50);
    child.on('exit', () => { clearInterval(timer); const run = readdirSync(cut).find((d) => d.startsWith('v')); run ? done(join(cut, run, 'checkpoint-2')) : fail(new Error('no run')); });
  });
  const resumed = await runCli([...args, '--output_dir', cut, '--resume_from_checkpoint', ck]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resumed from .*checkpoint-2 at step 2/);
  assert.deepEqual(losses(runDirOf(resumed.stdout)), want);
});

test('full training writes model.safetensors with Hugging Face names, config.json and the tokenizer', async () => {
  const out = tmp();
  const r = await runCli([...base, '--train_type', 'full', '--max_steps', '1', '--output_dir', out]);
  assert.equal(r.status, 0, r.stderr);
  const ck = join(runDirOf(r.stdout), 'checkpoint-1');
  const { header } = readSafetensorsHeader(readFileSync(join(ck, 'model.safetensors')));
  assert.deepEqual(header['model.embed_tokens.weight'].shape, [512, 64]);
  assert.deepEqual(header['model.layers.0.self_attn.k_proj.weight'].shape, [32, 64]);
  assert.ok('model.layers.4.post_attention_layernorm.weight' in header && 'model.norm.weight' in header);
  assert.equal(JSON.parse(readFileSync(join(ck, 'config.json'), 'utf8')).num_key_value_heads, 4);
  assert.ok(existsSync(join(ck, 'tok512.bin')));
});

test('bad input: unwritable --output_dir fails before training; unknown --target_modules lists the valid ones', async () => {
  const d = tmp(), file = join(d, 'a-file');
  writeFileSync(file, 'x');
  const r = await runCli([...base, '--max_steps', '1', '--output_dir', join(file, 'out')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /webtune: error: --output_dir .* is not writable/);
  assert.doesNotMatch(r.stderr, /train \d/);
  const t = await runCli([...base, '--max_steps', '1', '--output_dir', d, '--target_modules', 'q_proj', 'qkv']);
  assert.equal(t.status, 1);
  assert.match(t.stderr, /unknown --target_modules qkv; valid: all-linear or q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj/);
});

test('bad input: a batch over a device limit names the limit and what to lower', async () => {
  const d = mkdtempSync(join(tmpdir(), 'webtune-sft-limit-'));
  const r = await runCli([...base, '--max_steps', '1', '--output_dir', d, '--max_length', '512', '--per_device_train_batch_size', '200', '--device', 'webgpu']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /webtune: error: .*(maxComputeWorkgroupsPerDimension|maxStorageBufferBindingSize).*lower --per_device_train_batch_size \(200\) or --max_length/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});
