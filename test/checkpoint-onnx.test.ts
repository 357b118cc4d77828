// Every checkpoint-N also holds adapter.onnx (trainable tensors, PEFT/HF names) and optimizer.onnx (AdamW
// exp_avg / exp_avg_sq per parameter and the step): python3-onnx's onnx.load + checker + numpy_helper.to_array read
// them (test/oracle/onnx_containers.py) with values equal to the safetensors files; webtune reads them back too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readSafetensors } from '../models/safetensors.ts';
import { readTensorContainer, writeTensorContainer } from '../models/onnx/tensor-container.ts';
import { ROOT, runCli, SHARED, STORIES } from './helpers.ts';

const DATA = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');
const work = mkdtempSync(join(tmpdir(), 'webtune-ckpt-onnx-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const sft = (type: string, out: string) => runCli(['sft', '--model', STORIES, '--dataset', `${DATA}#8`, '--template', 'default',
  '--model_name', '小白', 'Xiaobai', '--model_author', '网调', 'Webtune', '--max_length', '48', '--per_device_train_batch_size', '2',
  '--learning_rate', '1e-3', '--max_steps', '2', '--save_steps', '2', '--lora_rank', '4', '--train_type', type, '--seed', '1',
  '--output_dir', out]);
const hasOnnx = () => spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { encoding: 'utf8' }).status === 0;

for (const type of ['lora', 'full'] as const) {
  test(`${type}: checkpoint-2 holds adapter.onnx and optimizer.onnx equal to its safetensors (onnx.load + numpy_helper)`, async (t) => {
    const out = join(work, type);
    const r = await sft(type, out);
    assert.equal(r.status, 0, r.stderr);
    const ckpt = join(r.stdout.trim().split('\n').pop()!, 'checkpoint-2');
    const files = readdirSync(ckpt);
    for (const f of ['adapter.onnx', 'optimizer.onnx', 'optimizer.safetensors']) assert.ok(files.includes(f), `${f} in ${files}`);
    // webtune reads its containers back: same names and values as the safetensors
    const weights = readSafetensors(new Uint8Array(readFileSync(join(ckpt, type === 'lora' ? 'adapter_model.safetensors' : 'model.safetensors')))).tensors;
    const adapter = await readTensorContainer(new Uint8Array(readFileSync(join(ckpt, 'adapter.onnx'))), 'adapter.onnx');
    assert.deepEqual([...adapter.tensors.keys()].sort(), [...weights.keys()].sort());
    for (const [k, w] of weights) assert.deepEqual(adapter.tensors.get(k), { shape: w.shape, data: w.data }, k);
    if (type === 'lora') assert.ok([...weights.keys()].every((k) => /^base_model\.model\.model\.layers\.\d+\..*\.lora_[AB]\.weight$/.test(k)));
    const opt = await readTensorContainer(new Uint8Array(readFileSync(join(ckpt, 'optimizer.onnx'))), 'optimizer.onnx');
    assert.deepEqual(opt.tensors.get('step'), { shape: [], data: BigInt64Array.of(2n) });
    assert.equal(opt.tensors.size, 2 * weights.size + 1);
    for (const k of weights.keys()) assert.ok(opt.tensors.has(`${k}.exp_avg`) && opt.tensors.has(`${k}.exp_avg_sq`), k);
    if (!hasOnnx()) return t.skip('python3-onnx is not installed');
    const o = spawnSync('/usr/bin/python3', [resolve(ROOT, 'test/oracle/onnx_containers.py'), 'check', ckpt], { encoding: 'utf8', maxBuffer: 1 << 24 });
    assert.equal(o.status, 0, o.stderr);
    const res = JSON.parse(o.stdout);
    assert.deepEqual(res.missing, []);
    assert.deepEqual(res.extra, []);
    assert.equal(res.tensors, weights.size);
    assert.equal(res.optimizer_tensors, 2 * weights.size);
    assert.equal(res.max_abs_diff, 0);
    assert.equal(res.step, 2);
    assert.equal(res.optimizer_steps, '2');
  });
}

test('a container round-trips float32 and int64 tensors, shapes and metadata, and python reads what webtune wrote', async (t) => {
  const tensors = new Map([['a.weight', { shape: [2, 3], data: Float32Array.of(1, -2, 3.5, 0, 1e-8, -0) }],
    ['scalar', { shape: [], data: Float32Array.of(7) }], ['step', { shape: [], data: BigInt64Array.of(12345678901n) }]]);
  const bytes = writeTensorContainer(tensors, { note: 'x' });
  const back = await readTensorContainer(bytes, 'c.onnx');
  assert.deepEqual(back.tensors, tensors);
  assert.equal(back.metadata.note, 'x');
  if (!hasOnnx()) return t.skip('python3-onnx is not installed');
  const file = join(work, 'c.onnx');
  (await import('node:fs')).writeFileSync(file, bytes);
  const r = spawnSync('/usr/bin/python3', ['-c', `import onnx, sys, json
from onnx import numpy_helper
m = onnx.load(sys.argv[1]); onnx.checker.check_model(m)
print(json.dumps({t.name: [list(numpy_helper.to_array(t).shape), numpy_helper.to_array(t).ravel().tolist(), str(numpy_helper.to_array(t).dtype)] for t in m.graph.initializer}))`, file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.deepEqual(got['a.weight'][0], [2, 3]);
  assert.deepEqual(got['a.weight'][1], [...tensors.get('a.weight')!.data as Float32Array]);
  assert.equal(got['a.weight'][2], 'float32');
  assert.deepEqual(got.scalar, [[], [7], 'float32']);
  assert.deepEqual(got.step, [[], [12345678901], 'int64']);
});
