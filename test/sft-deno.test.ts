// `webtune sft` under Deno: the same bundle trains there (wgpu's WebGPU on lavapipe, which exposes no subgroups, so
// the per-invocation vec4 GEMMs and blocked attention run, and LoRA dropout takes the materializing fallbacks),
// and its loss and gradient-norm curve matches Node's (Dawn, subgroup kernels) step by step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli, SHARED, STORIES } from './helpers.ts';
import { deviceOf } from './gpu.ts';

const DATA = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');
const args = (out: string) => ['sft', '--model', STORIES, '--dataset', `${DATA}#24`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
  '--model_author', '网调', 'Webtune', '--max_length', '64', '--per_device_train_batch_size', '4', '--learning_rate', '1e-3',
  '--lora_rank', '8', '--lora_dropout', '0.1', '--logging_steps', '1', '--max_steps', '3', '--save_steps', '3', '--seed', '5', '--device', 'webgpu', '--output_dir', out];

test('LoRA with dropout trains under Deno as under Node: same loss and gradient norm at every step', async () => {
  const curves = [];
  for (const runtime of ['node', 'deno'] as const) {
    const r = await runCli(args(mkdtempSync(join(tmpdir(), `webtune-sft-${runtime}-`))), runtime);
    assert.equal(r.status, 0, `${runtime}: ${r.stderr}`);
    deviceOf(r.stderr);  // both on WebGPU, else the comparison is of two reference runs
    const dir = r.stdout.trim().split('\n').pop()!;
    const log = readFileSync(join(dir, 'logging.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => 'loss' in l);
    assert.deepEqual(log.map((l) => l.step), [1, 2, 3], runtime);
    curves.push(log);
  }
  const [node, deno] = curves;
  for (let s = 0; s < 3; s++) {
    for (const k of ['loss', 'grad_norm']) {
      const a = node[s][k], b = deno[s][k];
      assert.ok(Number.isFinite(a) && Math.abs(a - b) <= 1e-3 * Math.abs(a) + 2e-5, `step ${s + 1} ${k}: node ${a}, deno ${b}`);
    }
  }
  console.log(`node vs deno, loss per step: ${node.map((l: { loss: number }) => l.loss).join(', ')} | ${deno.map((l: { loss: number }) => l.loss).join(', ')}`);
});
