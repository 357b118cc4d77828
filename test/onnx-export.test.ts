// `webtune export --to onnx` on stories260K: onnxruntime-node runs the exported graph with its KV cache and
// reproduces llama2.c's greedy story exactly, its logits match webtune's reference backend within 1e-4, a
// prefill of several tokens and a left-padded batch agree with step-by-step decoding, and the onnx checker
// (Debian python3-onnx) accepts the model. Also: the fp16 variant (close to fp32, weights bit-equal to numpy's
// float16 rounding), external data split into several files, and a LoRA checkpoint exported unmerged (separate
// lora_A/lora_B initializers) against the same checkpoint merged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { expectedStory, runCli, STORIES, tinyLoraCheckpoint } from './helpers.ts';
import { loadModel, type LoadedModel } from '../models/load.ts';
import { LlamaRunner } from '../models/llama.ts';
import { ReferenceOps } from '../src/backend/reference-ops.ts';
import { f16ToF32 } from '../models/safetensors.ts';

const work = mkdtempSync(join(tmpdir(), 'webtune-onnx-'));
const outDir = join(work, 'stories-onnx');
const modelFile = join(outDir, 'onnx/model.onnx');
const fp16File = join(outDir, 'onnx/model_fp16.onnx');
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

let exported: Promise<{ session: ort.InferenceSession; loaded: LoadedModel }> | undefined;
function setup() {
  exported ??= (async () => {
    const r = await runCli(['export', '--model', STORIES, '--to', 'onnx', '--dtype', 'fp32', 'fp16', '--output_dir', outDir]);
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

const argmax = (a: ArrayLike<number>) => { let best = 0; for (let j = 1; j < a.length; j++) if (a[j] > a[best]) best = j; return best; };
const maxDiff = (a: Float32Array, b: Float32Array) => { let m = 0; for (let j = 0; j < a.length; j++) m = Math.max(m, Math.abs(a[j] - b[j])); return m; };

test('the export folder has config.json, generation_config.json, the tokenizer and the ONNX files', async () => {
  const { loaded } = await setup();
  for (const f of ['config.json', 'generation_config.json', 'tok512.bin', 'tokenizer.json', 'tokenizer_config.json',
    'onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data']) {
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
  assert.deepEqual(cfg['transformers.js_config'], { dtype: 'fp32', use_external_data_format: 1 });
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

/** python3-onnx: check_model(full_check) on each file; prints {opset, metadata, inputs/outputs elem types,
 *  initializer names} per file, and whether each float16 initializer of the second file is numpy's float16
 *  rounding of the first file's (bit for bit). */
const CHECK = `
import json, sys, onnx, numpy as np
from onnx import numpy_helper
out = []
for f in sys.argv[1:]:
    onnx.checker.check_model(f, full_check=True)
    m = onnx.load(f)
    out.append({'opset': m.opset_import[0].version, 'metadata': {p.key: p.value for p in m.metadata_props},
        'types': {v.name: v.type.tensor_type.elem_type for v in list(m.graph.input) + list(m.graph.output)},
        'inits': {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}})
res = [dict({k: v for k, v in o.items() if k != 'inits'}, names=sorted(o['inits'])) for o in out]
if len(out) == 2:
    a, b = out[0]['inits'], out[1]['inits']
    res.append({'fp16_initializers': sum(1 for n in b if b[n].dtype == np.float16),
        'fp16_mismatch': [n for n in b if b[n].dtype == np.float16 and not np.array_equal(a[n].astype(np.float16).view(np.uint16), b[n].view(np.uint16))]})
print(json.dumps(res))
`;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function pythonCheck(files: string[]): any[] | undefined {
  if (spawnSync('/usr/bin/python3', ['-c', 'import onnx, numpy'], { encoding: 'utf8' }).status !== 0) return undefined;
  const r = spawnSync('/usr/bin/python3', ['-c', CHECK, ...files], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('the onnx checker (python3-onnx) accepts the fp32 and fp16 models; metadata_props carry the architecture', async (t) => {
  const { loaded } = await setup();
  const res = pythonCheck([modelFile, fp16File]);
  if (!res) return t.skip('python3-onnx is not installed');
  const [fp32, fp16, cmp] = res;
  const c = loaded.model.config;
  for (const m of [fp32, fp16]) {
    assert.equal(m.opset, 17);
    assert.equal(m.metadata.model_type, 'llama');
    assert.equal(m.metadata.num_hidden_layers, String(c.numLayers));
    assert.equal(m.metadata.num_key_value_heads, String(c.numKvHeads));
    assert.equal(m.metadata.head_dim, String(c.headDim));
    assert.equal(m.metadata.rope_theta, String(c.ropeTheta));
    assert.deepEqual(JSON.parse(m.metadata['webtune.config']), c);
  }
  assert.equal(fp32.metadata['webtune.dtype'], 'fp32');
  assert.equal(fp16.metadata['webtune.dtype'], 'fp16');
  // fp16: float16 (10) cache and logits, int64 (7) ids; fp32: float (1)
  assert.equal(fp16.types['past_key_values.0.key'], 10);
  assert.equal(fp16.types['present.4.value'], 10);
  assert.equal(fp16.types.logits, 10);
  assert.equal(fp16.types.input_ids, 7);
  assert.equal(fp32.types.logits, 1);
  assert.deepEqual(fp16.names, fp32.names);
  // every weight (embeddings, norms, 7 matrices per layer) is float16, rounded as numpy rounds
  assert.ok(cmp.fp16_initializers >= 1 + 1 + c.numLayers * 9, `${cmp.fp16_initializers} float16 initializers`);
  assert.deepEqual(cmp.fp16_mismatch, []);
});

const toF32 = (h: Uint16Array) => Float32Array.from(h, f16ToF32);

test('fp16: onnxruntime logits close to fp32 (float16 tolerance); greedy story tokens compared', async (t) => {
  const { session, loaded } = await setup();
  const s16 = await ort.InferenceSession.create(fp16File);
  const c = loaded.model.config;
  const empty16 = (): Feeds => Object.fromEntries(Object.keys(emptyPast(loaded)).map((k) => [k, new ort.Tensor('float16', new Uint16Array(0), [1, c.numKvHeads, 0, c.headDim])]));
  const story = loaded.tokenizer.encode(expectedStory(), { bos: true }); // BOS + the 200 generated tokens
  assert.equal(story.length, 201);
  // teacher-forced on llama2.c's story: each step's fp16 logits against fp32's, and fp16's own greedy choice
  let p32 = emptyPast(loaded), p16 = empty16(), worst = 0, same = 0;
  for (let pos = 0; pos < 200; pos++) {
    const feeds = { input_ids: i64([story[pos]], [1, 1]), attention_mask: i64(new Array(pos + 1).fill(1), [1, pos + 1]), position_ids: i64([pos], [1, 1]) };
    const [o32, o16] = [await session.run({ ...feeds, ...p32 }), await s16.run({ ...feeds, ...p16 })];
    assert.equal(o16.logits.type, 'float16');
    const l32 = o32.logits.data as Float32Array, l16 = toF32(o16.logits.data as Uint16Array);
    const scale = Math.max(...l32.map(Math.abs));
    worst = Math.max(worst, maxDiff(l16, l32) / scale);
    if (argmax(l16) === story[pos + 1]) same++;
    p32 = nextPast(loaded, o32); p16 = nextPast(loaded, o16);
  }
  t.diagnostic(`fp16 vs fp32: max |Δlogit| / max |logit| = ${worst.toExponential(2)}; fp16 greedy picks llama2.c's next token at ${same}/200 steps`);
  assert.ok(worst < 2e-2, `relative logit difference ${worst}`);
  assert.ok(same >= 190, `${same}/200`);
});

test('external data splits into model.onnx_data, model.onnx_data_1, … past the size limit; onnxruntime loads it', async () => {
  const { session, loaded } = await setup();
  const { exportModel } = await import('../src/cli/export.ts');
  const dir = join(work, 'split');
  await exportModel({ model: STORIES, to: 'onnx', output_dir: dir, maxFileBytes: 150_000 });
  const names = readdirSync(join(dir, 'onnx')).filter((n) => n.startsWith('model.onnx_data')).sort();
  const n = names.length;
  assert.ok(n >= 5, `${n} files`);
  assert.deepEqual(names, ['model.onnx_data', ...Array.from({ length: n - 1 }, (_, i) => `model.onnx_data_${i + 1}`)].sort());
  // no file passes the limit unless one tensor alone does (the 128 KiB embedding is below it)
  for (const f of names) assert.ok(statSync(join(dir, 'onnx', f)).size <= 150_000, f);
  const total = names.reduce((a, f) => a + statSync(join(dir, 'onnx', f)).size, 0);
  assert.ok(total >= statSync(join(outDir, 'onnx/model.onnx_data')).size - 64 * n);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.equal(cfg['transformers.js_config'].use_external_data_format, n);
  const split = await ort.InferenceSession.create(join(dir, 'onnx/model.onnx'));
  const feeds = { input_ids: i64([1, 403, 407], [1, 3]), attention_mask: i64([1, 1, 1], [1, 3]), position_ids: i64([0, 1, 2], [1, 3]), ...emptyPast(loaded) };
  const [a, b] = [await session.run(feeds), await split.run(feeds)];
  assert.deepEqual(b.logits.data, a.logits.data);
});

test('export refuses a non-empty output directory and an unknown format', async () => {
  await setup();
  let r = await runCli(['export', '--model', STORIES, '--to', 'onnx', '--output_dir', outDir]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /already exists and is not empty/);
  r = await runCli(['export', '--model', STORIES, '--to', 'tflite', '--output_dir', join(work, 'other')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--to tflite: unsupported format/);
  r = await runCli(['export', '--model', STORIES, '--dtype', 'int4', '--output_dir', join(work, 'other')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^webtune: error: --dtype int4: unsupported \(supported: fp32, fp16, or both\)$/m);
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
    // the fp16 graph of the same model: prefill logits within float16 tolerance
    const f16 = exportLlamaOnnx(m, 'model_fp16.onnx_data', { dtype: 'fp16' });
    writeFileSync(join(dir, 'model_fp16.onnx'), f16.model);
    writeFileSync(join(dir, 'model_fp16.onnx_data'), f16.data);
    const s16 = await ort.InferenceSession.create(join(dir, 'model_fp16.onnx'));
    const past16 = Object.fromEntries(Object.keys(emptyPast(loaded)).map((k) => [k, new ort.Tensor('float16', new Uint16Array(0), [1, c.numKvHeads, 0, c.headDim])]));
    const pre16 = await s16.run({ input_ids: i64(ids, [1, 6]), attention_mask: i64(new Array(6).fill(1), [1, 6]), position_ids: i64([0, 1, 2, 3, 4, 5], [1, 6]), ...past16 });
    const rel = maxDiff(toF32(pre16.logits.data as Uint16Array), ref) / Math.max(...ref.map(Math.abs));
    assert.ok(rel < 2e-2, `fp16 prefill differs by ${rel} (relative)`);
  });
}

test('a LoRA checkpoint exported unmerged (lora_A/lora_B initializers) gives the merged export\'s logits within 1e-4', async (t) => {
  const { session: base, loaded } = await setup();
  const ckpt = await tinyLoraCheckpoint(join(work, 'sft'));
  const [un, me] = [join(work, 'lora-unmerged'), join(work, 'lora-merged')];
  for (const [dir, extra] of [[un, []], [me, ['--merge_lora']]] as const) {
    const r = await runCli(['export', '--adapters', ckpt, ...extra, '--output_dir', dir]);
    assert.equal(r.status, 0, r.stderr);
  }
  const [su, sm] = await Promise.all([un, me].map((d) => ort.InferenceSession.create(join(d, 'onnx/model.onnx'))));
  const ids = loaded.tokenizer.encode('Q: Who are you?\nA:', { bos: true }), n = ids.length;
  const feeds = { input_ids: i64(ids, [1, n]), attention_mask: i64(new Array(n).fill(1), [1, n]), position_ids: i64(ids.map((_, i) => i), [1, n]) };
  let [ou, om, ob] = [await su.run({ ...feeds, ...emptyPast(loaded) }), await sm.run({ ...feeds, ...emptyPast(loaded) }), await base.run({ ...feeds, ...emptyPast(loaded) })];
  let worst = maxDiff(ou.logits.data as Float32Array, om.logits.data as Float32Array);
  // the adapter changes the model (B ≠ 0 after training), so agreeing is not trivial
  const effect = maxDiff(om.logits.data as Float32Array, ob.logits.data as Float32Array);
  for (let step = 0; step < 4; step++) { // decode steps on each one's own cache
    const V = loaded.model.config.vocabSize, last = (om.logits.data as Float32Array).subarray(-V);
    const next = argmax(last), pos = n + step;
    const f = { input_ids: i64([next], [1, 1]), attention_mask: i64(new Array(pos + 1).fill(1), [1, pos + 1]), position_ids: i64([pos], [1, 1]) };
    [ou, om] = [await su.run({ ...f, ...nextPast(loaded, ou) }), await sm.run({ ...f, ...nextPast(loaded, om) })];
    worst = Math.max(worst, maxDiff(ou.logits.data as Float32Array, om.logits.data as Float32Array));
  }
  t.diagnostic(`unmerged vs merged: max |Δlogit| ${worst.toExponential(2)}; merged vs base ${effect.toFixed(3)}`);
  assert.ok(worst < 1e-4, `unmerged vs merged logits differ by ${worst}`);
  assert.ok(effect > 1e-2, `the adapter barely changes the logits (${effect})`);
  const cfg = JSON.parse(readFileSync(join(un, 'config.json'), 'utf8'));
  assert.equal(cfg.lora.scale, cfg.lora.lora_alpha / cfg.lora.r);
  const res = pythonCheck([join(un, 'onnx/model.onnx')]);
  if (!res) return t.skip('python3-onnx is not installed');
  const [m] = res;
  assert.equal(Number(m.metadata.lora_scale), cfg.lora.scale);
  for (let i = 0; i < loaded.model.config.numLayers; i++) {
    for (const mod of ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']) {
      for (const w of ['weight_t', 'lora_A.weight_t', 'lora_B.weight_t']) assert.ok(m.names.includes(`layers.${i}.${mod}.${w}`), `layers.${i}.${mod}.${w}`);
    }
  }
});
