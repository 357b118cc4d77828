// Distributed training on loopback: two ranks in one process (reference kernels, so the test is quick and needs no
// GPU) against one process with the doubled batch: the same losses at every step and the same final weights, for
// DDP and ZeRO-1/2; the launchers' environments; a rank that disappears is named.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runSft, type SftArgs } from '../src/train/sft.ts';
import { ReferenceTrainOps } from '../src/backend/reference-train-ops.ts';
import { distEnvFrom, expandNodelist, localLaunchFrom, rankVariables } from '../src/dist/env.ts';
import { Group } from '../src/dist/comm.ts';
import { readSafetensors } from '../models/safetensors.ts';
import type { TrainOps } from '../core/train-ops.ts';
import { createWebGpuTrainOps } from '../gpu/train-ops.ts';
import { testGPU } from './gpu.ts';
import { releaseGPU } from '../runtime/webgpu.ts';
import { CLI, PYTHON, SHARED, STORIES, runCli, sftArgs } from './helpers.ts';

const gpu = await testGPU();
after(() => releaseGPU());
const DATA = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');
const args = (o: Partial<SftArgs>): SftArgs => sftArgs({ output_dir: mkdtempSync(join(tmpdir(), 'webtune-dist-')), ...o });

const lossesOf = (r: { logs: Record<string, unknown>[] }) => r.logs.filter((l) => 'loss' in l).map((l) => l.loss as number);
const weightsOf = (ck: string, lora: boolean) => readSafetensors(readFileSync(join(ck, lora ? 'adapter_model.safetensors' : 'model.safetensors'))).tensors;

async function compare(o: Partial<SftArgs>, port: number, makeOps: () => Promise<TrainOps> = async () => new ReferenceTrainOps(),
  tol = { loss: 1e-4, weights: 1e-5 }): Promise<void> {
  const single = await runSft(args({ ...o, per_device_train_batch_size: 2 }), { ops: await makeOps() });
  const dist = (rank: number) => ({ rank, world: 2, localRank: rank, localWorld: 2, masterAddr: '127.0.0.1', masterPort: port,
    launcher: 'torchrun' as const, timeoutMs: 30_000, bucketFloats: 3000 });
  const out = mkdtempSync(join(tmpdir(), 'webtune-dist-'));
  const ranks = [await makeOps(), await makeOps()];
  const [r0, r1] = await Promise.all([0, 1].map((r) => runSft(args({ ...o, output_dir: out }), { ops: ranks[r], dist: dist(r) })));
  assert.equal(r1.runDir, '', 'rank 1 writes nothing');
  const want = lossesOf(single), got = lossesOf(r0);
  assert.equal(got.length, want.length);
  got.forEach((l, i) => assert.ok(Math.abs(l - want[i]) <= tol.loss * Math.abs(want[i]), `step ${i + 1}: ${l} vs ${want[i]}`));
  const lora = (o.train_type ?? 'lora') === 'lora', a = weightsOf(single.lastCheckpoint, lora), b = weightsOf(r0.lastCheckpoint, lora);
  let worst = 0;
  for (const [k, t] of a) { const u = b.get(k)!.data; t.data.forEach((x, i) => { worst = Math.max(worst, Math.abs(x - u[i])); }); }
  const norms = (r: { logs: Record<string, unknown>[] }) => r.logs.filter((l) => "loss" in l).map((l) => l.grad_norm).join(" ");
  assert.ok(worst <= tol.weights, `final weights differ by ${worst} (grad norms ${norms(r0)} vs ${norms(single)})`);
  if (o.optim !== 'sgd') checkMemory(r0.logs, o.deepspeed, lora);  // its shares assume AdamW's two moments
}

// What each rank holds, as logged (MiB): DDP all of it; ZeRO-1 1/W of the optimizer state (AdamW's moments and the
// f32 master shard); ZeRO-2 also 1/W of the gradients; ZeRO-3 also 1/W of the weights, LoRA's frozen base included,
// plus one layer's worth while it is in use. The shards are chunks of the same buckets, so the shares add up to the whole.
function checkMemory(logs: Record<string, unknown>[], deepspeed: string | undefined, lora: boolean): void {
  type Mem = { rank: number; weights: number; frozen?: number; grads: number; optimizer: number; transient?: number };
  const mem = logs.filter((l) => 'loss' in l).at(-1)!['memory_per_rank(MiB)'] as Mem[];
  assert.equal(mem.length, 2);
  const whole = mem[0].weights * (deepspeed === 'zero3' ? 2 : 1), half = (x: number, what: string) => mem.forEach((m) =>
    assert.ok(Math.abs((m as unknown as Record<string, number>)[what] - x / 2) <= 0.02 * x, `${deepspeed ?? 'DDP'} rank ${m.rank} ${what}: ${JSON.stringify(mem)}`));
  const stage = { zero1: 1, zero2: 2, zero3: 3 }[deepspeed ?? ''] ?? 0;
  // logged to 4 significant digits
  const same = (what: 'weights' | 'frozen' | 'grads' | 'optimizer', x: number) => mem.forEach((m) => assert.ok(Math.abs(m[what]! - x) <= 1e-3 * x, `${what}: ${JSON.stringify(mem)}`));
  if (stage === 3) { half(whole, 'weights'); assert.ok(mem[0].transient! > 0 && (lora || mem[0].transient! < 2 * whole), JSON.stringify(mem)); }
  else same('weights', whole);
  if (stage >= 2) half(whole, 'grads'); else same('grads', whole);
  if (stage >= 1) half(stage === 3 ? 2 * whole : 3 * whole, 'optimizer'); else same('optimizer', 2 * whole);
  if (!lora) { assert.ok(mem.every((m) => m.frozen === undefined), JSON.stringify(mem)); return; }
  const frozen = stage === 3 ? mem.reduce((s, m) => s + m.frozen!, 0) : mem[0].frozen!;
  assert.ok(frozen > 10 * whole, `the frozen base dwarfs the adapters: ${JSON.stringify(mem)}`);
  if (stage === 3) half(frozen, 'frozen'); else same('frozen', frozen);
}

test('Slurm and PyTorchJob environments; Slurm host lists', () => {
  assert.deepEqual(expandNodelist('node[01-03,7],gpu-a[1-2]x,solo'), ['node01', 'node02', 'node03', 'node7', 'gpu-a1x', 'gpu-a2x', 'solo']);
  const slurm = distEnvFrom((k) => ({ SLURM_PROCID: '3', SLURM_NTASKS: '4', SLURM_LOCALID: '1', SLURM_JOB_NODELIST: 'n[08-09]', SLURM_TASKS_PER_NODE: '2(x2)' } as Record<string, string>)[k]);
  assert.deepEqual(slurm, { rank: 3, world: 4, localRank: 1, localWorld: 2, masterAddr: 'n08', masterPort: 29500, launcher: 'slurm' });
  const job = distEnvFrom((k) => ({ RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: 'job-master-0', MASTER_PORT: '23456' } as Record<string, string>)[k]);
  assert.deepEqual(job, { rank: 1, world: 2, localRank: 0, localWorld: 1, masterAddr: 'job-master-0', masterPort: 23456, launcher: 'torchrun' });
  assert.equal(distEnvFrom(() => undefined), null);
  assert.throws(() => distEnvFrom((k) => ({ RANK: '2', WORLD_SIZE: '2' } as Record<string, string>)[k]), /RANK=2 is not below WORLD_SIZE=2/);
});

test('DDP LoRA: 2 ranks × batch 1 = 1 process × batch 2 (accumulation 2)', () => compare({}, 29611));
test('DDP full: 2 ranks × batch 1 = 1 process × batch 2', () => compare({ train_type: 'full', learning_rate: 1e-3 }, 29631));
// ZeRO clips with the norm summed as the single process sums it: summed in f64 instead, the weights drifted ~1e-4
// apart within 3 steps (Adam near its epsilon magnifies a last-bit change of the clipping factor).
for (const [stage, port] of [['zero1', 29651], ['zero2', 29871], ['zero3', 29901]] as const) {
  test(`${stage} LoRA: the same losses and weights`, () => compare({ deepspeed: stage }, port));
  test(`${stage} full: the same losses and weights`, () => compare({ deepspeed: stage, train_type: 'full', learning_rate: 1e-3 }, port + 10));
  test(`${stage} full, gradient checkpointing, accumulation 3: the same losses and weights`,
    () => compare({ deepspeed: stage, train_type: 'full', learning_rate: 1e-3, gradient_accumulation_steps: 3, gradient_checkpointing: true }, port + 20));
}
// Without clipping, whose update does not depend on the gradient's scale, so a gradient summed twice or not at all
// (a rank's share alone) changes the weights: SGD, the reference kernels, every mode.
test('no clipping: DDP, zero1, zero2, zero3 sum the gradients exactly once (SGD, full)', async () => {
  for (const [deepspeed, port] of [[undefined, 30011], ['zero1', 30021], ['zero2', 30031], ['zero3', 30041]] as const) {
    await compare({ deepspeed, train_type: 'full', optim: 'sgd', learning_rate: 1e-2, max_grad_norm: 0 }, port);
  }
});

// WebGPU: the backward goes on while each layer's gradients go round the ring (DDP, ZeRO-1: all-reduced in the step's
// last micro-batch, accumulation 2 here; ZeRO-2/3: reduce-scattered each micro-batch); the collectives run in issue order. The kernels sum in f32 in batch-dependent order, so SGD keeps the comparison at
// rounding level (see the torchrun tests below).
test('DDP and ZeRO-1/2/3 on WebGPU, the ring overlapping the backward: the same losses and weights as one process', { skip: gpu.ok ? false : 'no WebGPU adapter' }, async () => {
  if (!gpu.ok) return;
  const make = () => createWebGpuTrainOps(gpu.gpu);
  for (const [deepspeed, port] of [[undefined, 29981], ['zero1', 29991], ['zero2', 29961], ['zero3', 29971]] as const) {
    await compare({ deepspeed, train_type: 'full', optim: 'sgd', learning_rate: 1e-2, max_grad_norm: 0 }, port, make, { loss: 1e-5, weights: 1e-5 });
  }
});

// Mixed precision: ZeRO-3 gathers the 16-bit copies (rounded from the gathered f32 masters, as castHalf rounds them);
// float16 adds loss scaling, whose skip/grow decision every rank takes from the same summed norm.
test('zero3 full in bfloat16, zero2 full in float16: the same losses and weights as one process', async () => {
  await compare({ deepspeed: 'zero3', train_type: 'full', learning_rate: 1e-3, torch_dtype: 'bfloat16' }, 29941);
  await compare({ deepspeed: 'zero2', train_type: 'full', learning_rate: 1e-3, torch_dtype: 'float16' }, 29951);
});

// The real launcher: torchrun (Debian's PyTorch) starts two `webtune sft` processes with --no_python (1.13's spelling); they find each
// other from its variables and train as one process with the doubled batch does (WASM kernels, one thread each).
// SGD: the WASM GEMMs sum in f32, so two ranks' gradients differ from one process's in the last bits, and AdamW near its
// epsilon magnifies that to ~1e-4 in 3 steps; SGD keeps it at rounding level, so 1e-5 still catches a wrong data split
// or reduction (AdamW's equivalence is tested above on the reference kernels, which sum in f64).
const cliFlags = ['--model', STORIES, '--dataset', `${DATA}#16`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
  '--model_author', '网调', 'Webtune', '--max_length', '48', '--truncation_strategy', 'right', '--split_dataset_ratio', '0', '--lora_rank', '4', '--lora_dropout', '0',
  '--max_steps', '3', '--gradient_accumulation_steps', '2', '--seed', '5', '--logging_steps', '1',
  '--report_to', 'none', '--device', 'wasm', '--threads', '1', '--optim', 'sgd', '--learning_rate', '0.5'];
const runDirIn = (out: string) => join(out, readdirSync(out).find((d) => d.startsWith('v'))!);
const logged = (runDir: string) => readFileSync(join(runDir, 'logging.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => 'loss' in r);

// zero3 also evaluates 3 validation sequences: rank 1's second batch is past the end, yet it must take part in the
// parameter gathers of rank 0's second batch.
for (const [launcher, mode, port] of [['torchrun', 'DDP', 29691], ['torchrun', 'zero2', 29711], ['NPROC_PER_NODE', 'zero1', 29731],
  ['torchrun', 'zero3', 29931]] as const) {
  const how = launcher === 'torchrun' ? 'torchrun --nproc_per_node 2 --no_python' : 'NPROC_PER_NODE=2 webtune sft (self-launch)';
  test(`${how}, ${mode}: two processes train as one with the doubled batch`, async () => {
    const single = mkdtempSync(join(tmpdir(), 'webtune-dist-')), multi = mkdtempSync(join(tmpdir(), 'webtune-dist-'));
    const evalFlags = mode === 'zero3' ? ['--split_dataset_ratio', '0.2', '--eval_steps', '3'] : [];
    const one = await runCli(['sft', ...cliFlags, ...evalFlags, '--per_device_train_batch_size', '2', '--output_dir', single]);
    assert.equal(one.status, 0, one.stderr);
    const extra = mode === 'DDP' ? [] : ['--deepspeed', mode];
    const sft = [process.execPath, CLI, 'sft', ...cliFlags, ...evalFlags, ...extra, '--per_device_train_batch_size', '1', '--output_dir', multi];
    // --redirects/--tee 1: Debian 12's torch 1.13 on Python 3.11 parses their default "0" as None and fails to start
    const r = launcher === 'torchrun'
      ? spawnSync(PYTHON, ['-m', 'torch.distributed.run', '--nnodes', '1', '--nproc_per_node', '2', '--master_port', String(port),
        '--redirects', '1', '--tee', '1', '--log_dir', mkdtempSync(join(tmpdir(), 'webtune-torchrun-')), '--no_python', ...sft], { encoding: 'utf8', timeout: 240_000 })
      : spawnSync(sft[0], sft.slice(1), { encoding: 'utf8', timeout: 240_000, env: { ...process.env, NPROC_PER_NODE: '2', MASTER_PORT: String(port) } });
    assert.equal(r.status, 0, `${launcher}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`distributed: 2 ranks \\(torchrun\\), ${{ DDP: 'DDP', zero1: 'ZeRO-1', zero2: 'ZeRO-2', zero3: 'ZeRO-3' }[mode]}`));
    const want = logged(runDirIn(single)), got = logged(runDirIn(multi));
    assert.equal(got.length, 3);
    got.forEach((row, i) => assert.ok(Math.abs(row.loss - want[i].loss) <= 1e-4 * Math.abs(want[i].loss), `step ${i + 1}: ${row.loss} vs ${want[i].loss}`));
    const ck = (dir: string) => join(runDirIn(dir), 'checkpoint-3');
    const a = weightsOf(ck(single), true), b = weightsOf(ck(multi), true);
    let worst = 0;
    for (const [k, t] of a) { const u = b.get(k)!.data; t.data.forEach((x, i) => { worst = Math.max(worst, Math.abs(x - u[i])); }); }
    assert.ok(worst <= 1e-5, `final weights differ by ${worst}`);
    if (evalFlags.length) {
      const evals = (dir: string) => readFileSync(join(runDirIn(dir), 'logging.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((x) => 'eval_loss' in x);
      const [e1, e2] = [evals(single), evals(multi)];
      assert.equal(e2.length, 1);
      assert.ok(Math.abs(e2[0].eval_loss - e1[0].eval_loss) <= 1e-4 * e1[0].eval_loss, `eval_loss ${e2[0].eval_loss} vs ${e1[0].eval_loss}`);
    }
  });
}

test('NPROC_PER_NODE: the ranks\' variables; bad values name the variable', async () => {
  const l = localLaunchFrom((k) => ({ NPROC_PER_NODE: '4', NNODES: '2', NODE_RANK: '1', MASTER_ADDR: 'n0' } as Record<string, string>)[k])!;
  assert.deepEqual(rankVariables(l, 3), { RANK: '7', WORLD_SIZE: '8', LOCAL_RANK: '3', LOCAL_WORLD_SIZE: '4', GROUP_RANK: '1', MASTER_ADDR: 'n0', MASTER_PORT: '29500' });
  assert.equal(localLaunchFrom((k) => ({ NPROC_PER_NODE: '2', RANK: '0', WORLD_SIZE: '2' } as Record<string, string>)[k]), null, 'a launched rank does not launch again');
  assert.throws(() => localLaunchFrom((k) => ({ NPROC_PER_NODE: 'two' } as Record<string, string>)[k]), /NPROC_PER_NODE=two: expected an integer ≥ 1/);
  assert.throws(() => localLaunchFrom((k) => ({ NPROC_PER_NODE: '2', NNODES: '2' } as Record<string, string>)[k]), /NNODES=2: set MASTER_ADDR/);
  const bad = spawnSync(process.execPath, [CLI, 'sft', ...cliFlags, '--output_dir', mkdtempSync(join(tmpdir(), 'webtune-dist-'))],
    { encoding: 'utf8', env: { ...process.env, NPROC_PER_NODE: '0' } });
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr.trim(), 'webtune: error: NPROC_PER_NODE=0: expected an integer ≥ 1');
});

// torchrun's store holds MASTER_PORT and hangs up on a stranger's hello: rank 0 takes the next port and the probing
// rank finds it there. (Between processes the hang-up could land before the hello's write, whose 'drain' then never
// came and hung the torchrun tests above about one run in four; in one process the timing never lines up.)
test('MASTER_PORT held by a server that hangs up: the ranks still meet', async () => {
  const net = await import('node:net');
  const port = 29751, store = net.createServer((s) => s.end());
  await new Promise<void>((r) => store.listen(port, r));
  try {
    const check = { flags: {}, model: 'm', data: 'd' };
    const env = (rank: number) => ({ rank, world: 2, localRank: rank, localWorld: 2, masterAddr: '127.0.0.1', masterPort: port, launcher: 'torchrun' as const });
    const joined = Promise.all([0, 1].map((r) => Group.join(env(r), check, { timeoutMs: 10_000, startTimeoutMs: 10_000 })));
    const groups = await joined;
    const x = [new Float32Array([1, 2]), new Float32Array([10, 20])];
    await Promise.all(groups.map((g, i) => g.allReduce(x[i])));
    assert.deepEqual([...x[0]], [11, 22]);
    groups.forEach((g) => g.close());
  } finally { store.close(); }
});

// A zero2 run of 2 ranks, saved at step 2, resumed on 1 rank (batch 2: the same global batch, so exactly the same
// steps 3–4) and on 3 ranks (batch 1: a global batch of 3, so the curve goes on from the same weights and moments)
test('zero2: 2 ranks saved at step 2 resume on 1 rank and on 3 ranks', async () => {
  const o: Partial<SftArgs> = { deepspeed: 'zero2', max_steps: 4, save_steps: 2 };
  const dist = (rank: number, world: number, port: number) => ({ rank, world, localRank: rank, localWorld: world, masterAddr: '127.0.0.1', masterPort: port,
    launcher: 'torchrun' as const, timeoutMs: 30_000, bucketFloats: 3000 });
  const out = mkdtempSync(join(tmpdir(), 'webtune-dist-'));
  const [full] = await Promise.all([0, 1].map((r) => runSft(args({ ...o, output_dir: out }), { ops: new ReferenceTrainOps(), dist: dist(r, 2, 29771) })));
  const ck2 = join(full.runDir, 'checkpoint-2');
  const one = await runSft(args({ ...o, output_dir: out, per_device_train_batch_size: 2, resume_from_checkpoint: ck2 }), { ops: new ReferenceTrainOps() });
  const after = (r: { logs: Record<string, unknown>[] }) => r.logs.filter((l) => 'loss' in l && (l.step as number) > 2).map((l) => l.loss as number);
  assert.equal(after(one).length, 2);
  after(one).forEach((l, i) => assert.ok(Math.abs(l - after(full)[i]) <= 1e-4 * after(full)[i], `1 rank, step ${i + 3}: ${l} vs ${after(full)[i]}`));
  const lora = true, a = weightsOf(full.lastCheckpoint, lora), b = weightsOf(one.lastCheckpoint, lora);
  let worst = 0;
  for (const [k, t] of a) { const u = b.get(k)!.data; t.data.forEach((x, i) => { worst = Math.max(worst, Math.abs(x - u[i])); }); }
  assert.ok(worst <= 1e-5, `1 rank: final weights differ by ${worst}`);

  const notes: string[] = [];
  const [three] = await Promise.all([0, 1, 2].map((r) => runSft(args({ ...o, output_dir: out, resume_from_checkpoint: ck2 }),
    { ops: new ReferenceTrainOps(), dist: dist(r, 3, 29791), note: (s) => notes.push(s) })));
  assert.ok(notes.some((n) => /resumed from .*checkpoint-2 at step 2/.test(n)), notes.join('\n'));
  assert.ok(notes.some((n) => /stopped 8 sequences into epoch 0, inside a global micro-batch of 3 .* 2 sequences are trained on again/.test(n)), notes.join('\n'));
  const got = after(three), want = after(full);
  assert.deepEqual(three.logs.filter((l) => 'loss' in l).map((l) => l.step), [1, 2, 3, 4], 'the curve: steps 1–2 from the checkpoint, 3–4 trained');
  // other sequences in each batch than the 2-rank run's, so the reference is one process with the 3-rank global batch
  // resumed from the same checkpoint: the same curve
  const oneOf3 = await runSft(args({ ...o, output_dir: out, per_device_train_batch_size: 3, resume_from_checkpoint: ck2 }), { ops: new ReferenceTrainOps() });
  const ref = after(oneOf3);
  assert.equal(got.length, 2);
  assert.ok(got.some((l, i) => Math.abs(l - want[i]) > 1e-3 * want[i]), `3 ranks train other sequences than 2 did: ${got} vs ${want}`);
  got.forEach((l, i) => assert.ok(Math.abs(l - ref[i]) <= 1e-4 * ref[i], `3 ranks, step ${i + 3}: ${l} vs one process with batch 3: ${ref[i]}`));
});

// torchrun --max_restarts: a rank killed mid-run makes torchrun restart both; they resume from the newest checkpoint
// by themselves (TORCHELASTIC_RESTART_COUNT → --resume_from_checkpoint auto) and finish the run.
test('torchrun --max_restarts 1: a rank killed mid-run, the restarted ranks resume from the last checkpoint and finish', async () => {
  const out = mkdtempSync(join(tmpdir(), 'webtune-dist-'));
  const steps = 150;
  const child = spawn(PYTHON, ['-m', 'torch.distributed.run', '--nnodes', '1', '--nproc_per_node', '2', '--master_port', '29811', '--max_restarts', '1',
    '--redirects', '1', '--tee', '1', '--log_dir', mkdtempSync(join(tmpdir(), 'webtune-torchrun-')), '--no_python',
    process.execPath, CLI, 'sft', ...cliFlags, '--max_steps', String(steps), '--save_steps', '10', '--output_dir', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  // the first checkpoint written: kill one worker (SIGKILL: no cleanup, as a crash or an OOM kill)
  const firstCheckpoint = () => readdirSync(out).some((d) => d.startsWith('v') && readdirSync(join(out, d)).some((c) => /^checkpoint-\d+$/.test(c)));
  for (let i = 0; i < 3000 && !firstCheckpoint(); i++) await new Promise((r) => setTimeout(r, 10));
  const workers = spawnSync('ps', ['-o', 'pid=', '--ppid', String(child.pid)], { encoding: 'utf8' }).stdout.trim().split(/\s+/).map(Number);
  assert.equal(workers.length, 2, `torchrun's workers: ${workers}`);
  process.kill(workers[1], 'SIGKILL');
  let timer: ReturnType<typeof setTimeout> | undefined;
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), 200_000); })]);
  clearTimeout(timer);
  if (code === 'timeout') child.kill('SIGKILL');
  assert.equal(code, 0, stderr);
  assert.match(stderr, /torchrun restart 1: resuming with --resume_from_checkpoint auto/);
  const from = /resumed from (\S+checkpoint-(\d+)) at step (\d+)/.exec(stderr);
  assert.ok(from, stderr);
  assert.ok(Number(from[2]) < steps, `resumed at step ${from[2]}: the kill came after the end`);
  const runs = readdirSync(out).filter((d) => d.startsWith('v')).sort((x, y) => parseInt(x.slice(1)) - parseInt(y.slice(1)));
  assert.equal(runs.length, 2, 'the first attempt\'s run (kept: it holds checkpoints) and the restarted one');
  const rows = logged(join(out, runs[1]));
  assert.deepEqual(rows.map((r) => r.step), Array.from({ length: steps }, (_x, i) => i + 1), 'the whole curve: the saved steps, then the rest');
  assert.ok(readdirSync(join(out, runs[1])).includes(`checkpoint-${steps}`));
});
