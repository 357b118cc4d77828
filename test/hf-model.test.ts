// Hugging Face checkpoints (llama, mistral, qwen2, qwen3; f32/f16/bf16; sharded) load and match PyTorch logits
// on every backend. The oracle (test/oracle/hf_tiny_model.py) writes a tiny random checkpoint and its logits.
import '../runtime/wasm-embedded.ts';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadHfLlama } from '../models/hf-llama.ts';
import { LlamaRunner } from '../models/llama.ts';
import { ReferenceOps } from '../src/backend/reference-ops.ts';
import { createWasmOps } from '../src/backend/wasm-ops.ts';
import { createWebGpuOps } from '../gpu/webgpu-ops.ts';
import { releaseGPU } from '../runtime/webgpu.ts';
import { testGPU } from './gpu.ts';
import { readSafetensors, writeSafetensors } from '../models/safetensors.ts';
import type { Ops } from '../core/ops.ts';
import { ROOT } from './helpers.ts';

const gpu = await testGPU();
after(() => releaseGPU());

function oracle(family: string, dtype: string, shards: number) {
  const dir = mkdtempSync(join(tmpdir(), `webtune-hf-${family}-`));
  const r = spawnSync('/usr/bin/python3', [resolve(ROOT, 'test/oracle/hf_tiny_model.py'), dir, family, dtype, String(shards)],
    { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return { dir, ...JSON.parse(r.stdout) as { ids: number[]; logits: number[][] } };
}

async function backends(): Promise<Ops[]> {
  const list: Ops[] = [new ReferenceOps(), await createWasmOps()];
  if (gpu.ok) list.push(await createWebGpuOps(gpu.gpu));
  return list;
}

for (const [family, dtype, shards] of [['llama', 'F32', 1], ['mistral', 'F16', 1], ['qwen2', 'BF16', 2], ['qwen3', 'BF16', 3]] as const) {
  test(`${family} (${dtype}, ${shards} shard(s)) matches PyTorch logits at every position on every backend`, async () => {
    const ref = oracle(family, dtype, shards);
    const model = await loadHfLlama(ref.dir);
    assert.equal(model.config.modelType, family);
    for (const ops of await backends()) {
      const runner = new LlamaRunner(ops, model);
      for (let pos = 0; pos < ref.ids.length; pos++) {
        const logits = await runner.forward([ref.ids[pos]], [pos]);
        const want = ref.logits[pos];
        let worst = 0;
        for (let j = 0; j < want.length; j++) worst = Math.max(worst, Math.abs(logits[j] - want[j]));
        assert.ok(worst < 1e-4, `${ops.name} position ${pos}: max |Δlogit| = ${worst}`);
      }
      ops.destroy();
    }
  });
}

test('safetensors: our writer round-trips and reads what PyTorch wrote', () => {
  const ref = oracle('llama', 'F32', 1);
  const { tensors, metadata } = readSafetensors(new Uint8Array(readFileSync(join(ref.dir, 'model.safetensors'))));
  assert.equal(metadata.format, 'pt');
  const again = readSafetensors(writeSafetensors(tensors, { format: 'pt', note: 'ünïcode' }));
  assert.equal(again.metadata.note, 'ünïcode');
  assert.deepEqual([...again.tensors.keys()].sort(), [...tensors.keys()].sort());
  for (const [name, t] of tensors) assert.deepEqual(again.tensors.get(name), t, name);
});

test('bad checkpoints fail with the file and the problem named', async () => {
  const ref = oracle('llama', 'F32', 1);
  const file = join(ref.dir, 'model.safetensors');
  writeFileSync(file, readFileSync(file).subarray(0, 5000));
  await assert.rejects(loadHfLlama(ref.dir), /model\.safetensors: .*(truncated|past the end)/);
  const cfg = join(ref.dir, 'config.json');
  writeFileSync(cfg, JSON.stringify({ ...JSON.parse(readFileSync(cfg, 'utf8')), model_type: 'gpt_neox' }));
  await assert.rejects(loadHfLlama(ref.dir), /config\.json: model_type "gpt_neox" is not supported/);
  writeFileSync(cfg, '{"model_type": "llama", ');
  await assert.rejects(loadHfLlama(ref.dir), /config\.json: /);
});
