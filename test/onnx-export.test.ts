// `webtune export --to onnx` on stories260K: onnxruntime-node runs the exported graph with its KV cache and
// reproduces llama2.c's greedy story exactly, its logits match webtune's reference backend within 1e-4, a
// prefill of several tokens and a left-padded batch agree with step-by-step decoding, and the onnx checker
// (Debian python3-onnx) accepts the model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { expectedStory, runCli, STORIES } from './helpers.ts';
import { loadModel, type LoadedModel } from '../models/load.ts';
import { LlamaRunner } from '../models/llama.ts';
import { ReferenceOps } from '../src/backend/reference-ops.ts';

const work = mkdtempSync(join(tmpdir(), 'webtune-onnx-'));
const outDir = join(work, 'stories-onnx');
const modelFile = join(outDir, 'onnx/model.onnx');
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

let exported: Promise<{ session: ort.InferenceSession; loaded: LoadedModel }> | undefined;
function setup() {
  exported ??= (async () => {
    const r = await runCli(['export', '--model', STORIES, '--to', 'onnx', '--output_dir', outDir]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), outDir);
    const session = await ort.InferenceSession.create(modelFile);
    return { session, loaded: await loadModel(STORIES) };
  })();
  return exported;
}

type Feeds = Record<string, ort.Tensor>;
const i64 = (v: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), dims);

function emptyPast(loaded: LoadedModel, batch = 1): Feeds {
  const c = loaded.model.config, feeds: Feeds = {};
  for (let i = 0; i < c.numLayers; i++) {
    for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [batch, c.numKvHeads, 0, c.headDim]);
  }
  return feeds;
}

function nextPast(loaded: LoadedModel, out: ort.InferenceSession.OnnxValueMapType): Feeds {
  const feeds: Feeds = {};
  for (let i = 0; i < loaded.model.config.numLayers; i++) {
    for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = out[`present.${i}.${kv}`] as ort.Tensor;
  }
  return feeds;
}

const argmax = (a: Float32Array) => { let best = 0; for (let j = 1; j < a.length; j++) if (a[j] > a[best]) best = j; return best; };
const maxDiff = (a: Float32Array, b: Float32Array) => { let m = 0; for (let j = 0; j < a.length; j++) m = Math.max(m, Math.abs(a[j] - b[j])); return m; };

test('the export folder has config.json, generation_config.json, the tokenizer and the ONNX files', async () => {
  const { loaded } = await setup();
  for (const f of ['config.json', 'generation_config.json', 'tok512.bin', 'onnx/model.onnx', 'onnx/model.onnx_data']) {
    assert.ok(existsSync(join(outDir, f)), f);
  }
  const cfg = JSON.parse(readFileSync(join(outDir, 'config.json'), 'utf8'));
  const c = loaded.model.config;
  assert.equal(cfg.model_type, 'llama');
  assert.equal(cfg.num_hidden_layers, c.numLayers);
  assert.equal(cfg.num_key_value_heads, c.numKvHeads);
  assert.equal(cfg.head_dim, c.headDim);
  assert.equal(cfg.bos_token_id, 1);
  assert.equal(cfg.eos_token_id, 2);
  assert.ok(cfg['transformers.js_config']);
  // every weight lives in the external file: the graph itself is small
  assert.ok(readFileSync(modelFile).length < 100_000);
  assert.ok(readFileSync(join(outDir, 'onnx/model.onnx_data')).length >= c.vocabSize * c.hiddenSize * 4);
});

test('onnxruntime-node decodes llama2.c\'s greedy story with the KV cache; logits match webtune within 1e-4', async () => {
  const { session, loaded } = await setup();
  const runner = new LlamaRunner(new ReferenceOps(), loaded.model);
  const tok = loaded.tokenizer, decoder = tok.streamDecoder();
  let past = emptyPast(loaded), prev = tok.bosId, text = '';
  for (let pos = 0; pos < 200; pos++) {
    const out = await session.run({
      input_ids: i64([prev], [1, 1]), attention_mask: i64(new Array(pos + 1).fill(1), [1, pos + 1]), position_ids: i64([pos], [1, 1]), ...past,
    });
    const logits = out.logits.data as Float32Array;
    assert.deepEqual(out.logits.dims, [1, 1, loaded.model.config.vocabSize]);
    if (pos < 5) {
      const ref = await runner.forward([prev], [pos]);
      const d = maxDiff(logits, ref);
      assert.ok(d < 1e-4, `step ${pos}: logits differ by ${d}`);
    }
    const next = argmax(logits);
    if (next === tok.eosId || next === tok.bosId) break;
    text += decoder.push(prev, next);
    prev = next;
    past = nextPast(loaded, out);
  }
  text += decoder.flush();
  assert.equal(text, expectedStory());
});

test('a prefill of several tokens and a left-padded batch give the step-by-step logits (no NaN on padding)', async () => {
  const { session, loaded } = await setup();
  const V = loaded.model.config.vocabSize;
  const ids = [1, 403, 407, 261, 378];
  // step by step
  const steps: Float32Array[] = [];
  let past = emptyPast(loaded);
  for (let pos = 0; pos < ids.length; pos++) {
    const out = await session.run({ input_ids: i64([ids[pos]], [1, 1]), attention_mask: i64(new Array(pos + 1).fill(1), [1, pos + 1]), position_ids: i64([pos], [1, 1]), ...past });
    steps.push((out.logits.data as Float32Array).slice());
    past = nextPast(loaded, out);
  }
  // prefill of 3, then 2 more in one call on the cache
  const n = ids.length;
  const pre = await session.run({ input_ids: i64(ids.slice(0, 3), [1, 3]), attention_mask: i64([1, 1, 1], [1, 3]), position_ids: i64([0, 1, 2], [1, 3]), ...emptyPast(loaded) });
  const rest = await session.run({ input_ids: i64(ids.slice(3), [1, 2]), attention_mask: i64(new Array(n).fill(1), [1, n]), position_ids: i64([3, 4], [1, 2]), ...nextPast(loaded, pre) });
  const all = [...[0, 1, 2].map((t) => (pre.logits.data as Float32Array).subarray(t * V, (t + 1) * V)),
    ...[0, 1].map((t) => (rest.logits.data as Float32Array).subarray(t * V, (t + 1) * V))];
  all.forEach((l, t) => assert.ok(maxDiff(l, steps[t]) < 1e-4, `prefill row ${t}`));
  // batch of 2: the second row is left-padded by two (pad id 0, position 0)
  const batch = await session.run({
    input_ids: i64([...ids, 0, 0, ...ids.slice(0, 3)], [2, n]),
    attention_mask: i64([1, 1, 1, 1, 1, 0, 0, 1, 1, 1], [2, n]),
    position_ids: i64([0, 1, 2, 3, 4, 0, 0, 0, 1, 2], [2, n]),
    ...emptyPast(loaded, 2),
  });
  const b = batch.logits.data as Float32Array;
  assert.ok(b.every(Number.isFinite), 'padded rows must not produce NaN or infinity');
  for (let t = 0; t < n; t++) assert.ok(maxDiff(b.subarray(t * V, (t + 1) * V), steps[t]) < 1e-4, `batch row 0, token ${t}`);
  for (let t = 0; t < 3; t++) assert.ok(maxDiff(b.subarray((n + 2 + t) * V, (n + 3 + t) * V), steps[t]) < 1e-4, `batch row 1, token ${t}`);
});

test('the onnx checker (python3-onnx) accepts the exported model', async (t) => {
  await setup();
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { encoding: 'utf8' });
  if (probe.status !== 0) return t.skip('python3-onnx is not installed');
  const r = spawnSync('/usr/bin/python3', ['-c', `import onnx, sys; onnx.checker.check_model(sys.argv[1], full_check=True); m = onnx.load(sys.argv[1]); print(m.opset_import[0].version)`, modelFile], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '17');
});

test('export refuses a non-empty output directory and an unknown format', async () => {
  await setup();
  let r = await runCli(['export', '--model', STORIES, '--to', 'onnx', '--output_dir', outDir]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /already exists and is not empty/);
  r = await runCli(['export', '--model', STORIES, '--to', 'tflite', '--output_dir', join(work, 'other')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--to tflite: unsupported format/);
});

for (const variant of ['qwen2', 'qwen3'] as const) {
  test(`a ${variant}-style model (untied lm_head, GQA, ${variant === 'qwen2' ? 'q/k/v biases' : 'q/k norms'}) matches webtune within 1e-4`, async () => {
    const { tinyRandomConfig, tinyRandomWeights } = await import('../models/tiny-random.ts');
    const { exportLlamaOnnx } = await import('../models/onnx/export-llama.ts');
    const { writeFileSync, mkdirSync } = await import('node:fs');
    const c = { ...tinyRandomConfig(96), modelType: variant, attentionBias: variant === 'qwen2', qkNorm: variant === 'qwen3' };
    const m = tinyRandomWeights(c, 7);
    let s = 1;
    const rnd = (n: number, base: number) => Float32Array.from({ length: n }, () => base + ((s = (s * 48271) % 2147483647) / 2147483647 - 0.5) * 0.4);
    for (const l of m.weights.layers) {
      if (c.attentionBias) { l.qBias = rnd(c.numHeads * c.headDim, 0); l.kBias = rnd(c.numKvHeads * c.headDim, 0); l.vBias = rnd(c.numKvHeads * c.headDim, 0); }
      if (c.qkNorm) { l.qNorm = rnd(c.headDim, 1); l.kNorm = rnd(c.headDim, 1); }
    }
    const dir = join(work, variant);
    mkdirSync(dir);
    const files = exportLlamaOnnx(m);
    writeFileSync(join(dir, 'model.onnx'), files.model);
    writeFileSync(join(dir, 'model.onnx_data'), files.data);
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    const runner = new LlamaRunner(new ReferenceOps(), m, { maxTokens: 6 });
    const ids = [5, 17, 42, 9, 88, 3], V = c.vocabSize;
    const loaded = { model: m } as LoadedModel;
    const pre = await session.run({ input_ids: i64(ids, [1, 6]), attention_mask: i64(new Array(6).fill(1), [1, 6]), position_ids: i64([0, 1, 2, 3, 4, 5], [1, 6]), ...emptyPast(loaded) });
    const ref = await runner.forward(ids, [0, 1, 2, 3, 4, 5]);
    assert.ok(maxDiff(pre.logits.data as Float32Array, ref) < 1e-4, `prefill differs by ${maxDiff(pre.logits.data as Float32Array, ref)}`);
    const step = await session.run({ input_ids: i64([61], [1, 1]), attention_mask: i64(new Array(7).fill(1), [1, 7]), position_ids: i64([6], [1, 1]), ...nextPast(loaded, pre) });
    const ref2 = await runner.forward([61], [6]);
    assert.ok(maxDiff(step.logits.data as Float32Array, ref2.subarray(0, V)) < 1e-4, 'decode step differs');
  });
}
