// An sft run's lifecycle and outputs as a user meets them (issue 12): the progress line and logging.jsonl show the
// same loss, TensorBoard event files and SVG curves beside the log, failed runs leave no directory behind, Ctrl-C
// keeps the log, images and checkpoints and says how to resume, and a run's adapters load from any folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { CLI, runCli, SHARED, STORIES, type RunResult } from './helpers.ts';
import { readEvents } from './tfrecord.ts';

const DATA = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');
const base = ['sft', '--model', STORIES, '--dataset', `${DATA}#40`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
  '--model_author', '网调', 'Webtune', '--max_length', '64', '--per_device_train_batch_size', '2', '--learning_rate', '1e-3', '--seed', '3'];
const tmp = () => mkdtempSync(join(tmpdir(), 'webtune-sft-run-'));
const logs = (runDir: string) => readFileSync(join(runDir, 'logging.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const runDirOf = (stdout: string) => stdout.trim().split('\n').pop()!;

/** `webtune ARGS` in another working directory */
function runIn(cwd: string, args: string[]): Promise<RunResult> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

test('the progress line shows logging.jsonl\'s loss (the logging window\'s mean); TensorBoard events and SVG curves hold the same rows', async () => {
  const out = tmp();
  const r = await runCli([...base, '--max_steps', '7', '--logging_steps', '3', '--eval_steps', '7', '--split_dataset_ratio', '0.2', '--output_dir', out]);
  assert.equal(r.status, 0, r.stderr);
  const dir = runDirOf(r.stdout), rows = logs(dir), train = rows.filter((l) => 'loss' in l);
  // stderr is not a terminal: one progress line per logged step, each with the loss logged for that step
  const shown = [...r.stderr.matchAll(/train (\d+)\/7 .*\| loss (\d+\.\d+) \|/g)].map((m) => [Number(m[1]), m[2]]);
  assert.deepEqual(shown, train.map((l) => [l.step, l.loss.toFixed(4)]));
  assert.deepEqual(train.map((l) => l.step), [3, 6, 7]);

  // runs/events.out.tfevents.<secs>.<host>: every record's CRCs check out, then one event per log row
  const files = readdirSync(join(dir, 'runs'));
  assert.equal(files.length, 1);
  assert.match(files[0], /^events\.out\.tfevents\.\d{10}\.[^.].*$/);
  const events = readEvents(readFileSync(join(dir, 'runs', files[0])));
  assert.equal(events[0].file_version, 'brain.Event:2');
  assert.ok(Math.abs(events[0].wall_time - Date.now() / 1000) < 600);
  const scalars = events.slice(1).map((e) => ({ step: e.step, values: Object.fromEntries(e.values.map((v) => [v.tag, v.value])) }));
  const f32 = (x: number) => Math.fround(x);
  assert.deepEqual(scalars.map((s) => s.step), rows.filter((l) => typeof l.step === 'number').map((l) => l.step));
  for (const l of train) {
    const v = scalars.find((s) => s.step === l.step && 'train/loss' in s.values)!.values;
    assert.deepEqual([v['train/loss'], v['train/learning_rate'], v['train/grad_norm'], v['train/epoch']],
      [f32(l.loss), f32(l.learning_rate), f32(l.grad_norm), f32(l.epoch)]);
  }
  const ev = rows.find((l) => 'eval_loss' in l);
  const evEvent = scalars.find((s) => 'eval/loss' in s.values)!;
  assert.deepEqual([evEvent.step, evEvent.values['eval/loss'], evEvent.values['eval/token_acc']], [7, f32(ev.eval_loss), f32(ev.eval_token_acc)]);

  // images/: ms-swift's names; the training loss raw and smoothed
  const images = readdirSync(join(dir, 'images')).sort();
  assert.deepEqual(images, ['eval_loss.png', 'eval_loss.svg', 'eval_token_acc.svg', 'train_grad_norm.svg', 'train_learning_rate.svg', 'train_loss.png', 'train_loss.svg']);
  const svg = readFileSync(join(dir, 'images', 'train_loss.svg'), 'utf8');
  assert.equal(svg.match(/<polyline /g)?.length, 2, 'raw and smoothed curves');
  assert.match(svg, />smoothed \(0\.6\)</);
});

test('a run that fails after its flags are accepted leaves nothing in --output_dir', async () => {
  const d = tmp(), out = join(d, 'out'), bad = join(d, 'bad.jsonl');
  writeFileSync(bad, `${JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] })}\n{"messages": [\n`);
  const cases: [string, string[], RegExp][] = [
    ['missing model', [...base, '--model', join(d, 'no-model')], /webtune: error: .*no-model/],
    ['bad dataset row', [...base, '--dataset', bad], /webtune: error: .*bad\.jsonl:2/],
    ['bad resume checkpoint', [...base, '--resume_from_checkpoint', d], /webtune: error: /],
    // fails in training, after the run directory exists and before any checkpoint: the directory is removed
    // (on WebGPU: there this run reaches a NaN gradient norm by step 3; on WASM it stays finite, if useless)
    ['divergence', [...base, '--learning_rate', '10', '--max_grad_norm', '0', '--lora_alpha', '100000', '--logging_steps', '1', '--device', 'webgpu'],
      /webtune: error: training stopped at step \d+/],
  ];
  for (const [what, args, err] of cases) {
    const r = await runCli([...args, '--max_steps', '30', '--output_dir', out]);
    assert.equal(r.status, 1, `${what}: ${r.stderr}`);
    assert.match(r.stderr, err, what);
    assert.deepEqual(readdirSync(out), [], `${what}: no run directory left`);
    if (what === 'divergence') assert.match(r.stderr, /removed .*out\/v0-\d{8}-\d{6}: the run failed before its first checkpoint/);
  }
});

/** Spawns sft and resolves once `ready(runDir)` holds; the child and a promise of its exit come back. */
async function spawnUntil(args: string[], out: string, ready: (run: string) => boolean) {
  const child = spawn(process.execPath, [CLI, ...args, '--output_dir', out], { env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  let stdout = '', stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const exited = new Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }>((done) =>
    child.on('close', (status, signal) => done({ status, signal, stdout, stderr })));
  const run = await new Promise<string>((done, fail) => {
    const timer = setInterval(() => {
      const v = existsSync(out) ? readdirSync(out).find((x) => x.startsWith('v')) : undefined;
      if (v && ready(join(out, v))) { clearInterval(timer); done(join(out, v)); }
    }, 50);
    void exited.then((e) => { clearInterval(timer); fail(new Error(`sft ended before it was ready: ${e.stderr}`)); });
  });
  const stderrMatch = (re: RegExp) => new Promise<void>((done) => {
    const look = () => { if (re.test(stderr)) { child.stderr.off('data', look); done(); } };
    child.stderr.on('data', look); look();
  });
  return { child, run, exited, stderrMatch };
}

test('Ctrl-C: the step ends, the log gets its last row and the images, stderr says where the last checkpoint is; exit 130', async () => {
  const out = tmp();
  const { child, run, exited } = await spawnUntil([...base, '--max_steps', '100000', '--logging_steps', '4', '--save_steps', '2'], out,
    (dir) => existsSync(join(dir, 'checkpoint-2', 'trainer_state.json')));
  child.kill('SIGINT');
  const r = await exited;
  assert.equal(r.status, 130, r.stderr);
  const m = /webtune: interrupted by SIGINT after step (\d+) of 100000: logging\.jsonl and images\/ written in (\S+)\n/.exec(r.stderr);
  assert.ok(m, r.stderr);
  const step = Number(m[1]);
  assert.equal(resolve(m[2]), resolve(run));
  const ckpts = readdirSync(run).filter((d) => d.startsWith('checkpoint-')).map((d) => Number(d.slice(11))).sort((a, b) => a - b);
  const lastCk = join(run, `checkpoint-${ckpts[ckpts.length - 1]}`);
  assert.ok(r.stderr.includes(`webtune: last checkpoint ${lastCk} (step ${ckpts[ckpts.length - 1]}); to continue, run the same command with --resume_from_checkpoint ${lastCk}\n`), r.stderr);
  assert.match(r.stderr, /SIGINT: stopping at the end of this step/);
  assert.equal(runDirOf(r.stdout), run);
  for (const f of ['train_loss.png', 'train_loss.svg', 'train_learning_rate.svg']) assert.ok(existsSync(join(run, 'images', f)), f);
  const rows = logs(run), final = rows[rows.length - 1], lastLoss = rows.filter((l) => 'loss' in l).pop();
  assert.deepEqual(final, { last_model_checkpoint: lastCk, best_model_checkpoint: null, interrupted: 'SIGINT', 'global_step/max_steps': `${step}/100000` });
  assert.equal(lastLoss.step, step, 'the last step done is logged even between logging steps');
  assert.ok(!readdirSync(run).some((f) => f.includes('.tmp')), 'no temporary files left');
});

test('a second SIGTERM exits at once with 143', async () => {
  const out = tmp();
  // steps of 8 sequences (about a second each here), so the second signal lands inside the step the first one ends
  const { child, exited, stderrMatch } = await spawnUntil([...base, '--max_steps', '100000', '--logging_steps', '1',
    '--per_device_train_batch_size', '8'], out, (dir) => existsSync(join(dir, 'logging.jsonl')));
  child.kill('SIGTERM');
  await stderrMatch(/SIGTERM: stopping at the end of this step/);  // two signals sent at once may arrive as one
  child.kill('SIGTERM');
  const r = await exited;
  assert.equal(r.status, 143, r.stderr);
  assert.match(r.stderr, /webtune: SIGTERM: second signal, exiting now/);
});

test('infer --adapters from another folder: args.json holds the base model absolute; an older relative one resolves against the run', async () => {
  const home = tmp(), elsewhere = tmp();
  const typed = relative(home, STORIES);
  const r = await runIn(home, [...base, '--model', typed, '--max_steps', '1', '--lora_rank', '2', '--report_to', 'none', '--output_dir', 'out']);
  assert.equal(r.status, 0, r.stderr);
  const run = resolve(home, runDirOf(r.stdout)), ck = join(run, 'checkpoint-1');
  assert.ok(!existsSync(join(run, 'runs')), '--report_to none writes no event files');
  for (const f of [join(run, 'args.json'), join(ck, 'args.json')]) {
    const args = JSON.parse(readFileSync(f, 'utf8'));
    assert.deepEqual([args.model, args.model_arg], [STORIES, typed], f);
  }
  assert.equal(JSON.parse(readFileSync(join(ck, 'adapter_config.json'), 'utf8')).base_model_name_or_path, STORIES);
  const infer = ['infer', '--adapters', ck, '--prompt', 'Once', '--max_new_tokens', '4', '--temperature', '0', '--device', 'wasm'];
  const a = await runIn(elsewhere, infer);
  assert.equal(a.status, 0, a.stderr);
  assert.ok(a.stderr.includes(`into ${STORIES} (from ${join(ck, 'args.json')})`), a.stderr);
  // args.json as older webtune wrote it: the model path as typed, relative to where sft ran (home)
  for (const f of [join(run, 'args.json'), join(ck, 'args.json')]) {
    const { model_arg: _typed, ...args } = JSON.parse(readFileSync(f, 'utf8'));
    writeFileSync(f, JSON.stringify({ ...args, model: typed }));
  }
  const b = await runIn(elsewhere, infer);
  assert.equal(b.status, 0, b.stderr);
  assert.equal(b.stdout, a.stdout);
  assert.ok(b.stderr.includes(`into ${STORIES} (from`), b.stderr);
  // and from the folder sft ran in, with the checkpoint given relative
  mkdirSync(join(home, 'sub'));
  const c = await runIn(join(home, 'sub'), [...infer.slice(0, 2), relative(join(home, 'sub'), ck), ...infer.slice(3)]);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout, a.stdout);
});
