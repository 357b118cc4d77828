// webtune runs its own ONNX exports natively (models/onnx/reader.ts + import-llama.ts, through loadModel): the
// exported stories260K folder reproduces llama2.c's greedy story in Node (WebGPU, WASM) and Deno; an exported
// qwen3-style Hugging Face model reloads with bit-identical weights and logits; the in-memory loader (edge) agrees;
// python3-onnx's external data in several files is read; unmerged LoRA initializers are merged at load; bad
// input fails with one line naming the file.
import '../runtime/wasm-embedded.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import * as proto from 'onnx-proto';
import { continuation, expectedStory, ROOT, runCli, SHARED, STORIES } from './helpers.ts';
import { loadModel, loadOnnxModelFromFiles } from '../models/load.ts';
import { loadHfLlama } from '../models/hf-llama.ts';
import { LlamaRunner, type LlamaModel } from '../models/llama.ts';
import { exportLlamaOnnx } from '../models/onnx/export-llama.ts';
import { GraphBuilder, serializeModel, toFloat16 } from '../models/onnx/writer.ts';
import { initializerFloats, readOnnxFile } from '../models/onnx/reader.ts';
import { mergeLora } from '../models/adapters.ts';
import { tinyRandomConfig, tinyRandomWeights } from '../models/tiny-random.ts';
import { f16ToF32, writeSafetensors, type Tensor } from '../models/safetensors.ts';
import { ReferenceOps } from '../src/backend/reference-ops.ts';

const onnx = (proto as unknown as { onnx?: typeof proto.onnx }).onnx ?? (proto as unknown as { default: typeof proto }).default.onnx;
const work = mkdtempSync(join(tmpdir(), 'webtune-onnx-import-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const GPT2 = resolve(SHARED, 'tokenizers/gpt2');

let storiesExport: Promise<string> | undefined;
const exportStories = () => (storiesExport ??= (async () => {
  const out = join(work, 'stories-onnx');
  const r = await runCli(['export', '--model', STORIES, '--to', 'onnx', '--output_dir', out]);
  assert.equal(r.status, 0, r.stderr);
  return out;
})());

/** Every weight tensor of two models, compared bit for bit. */
function assertSameWeights(a: LlamaModel, b: LlamaModel) {
  assert.deepEqual(JSON.parse(JSON.stringify(a.config)), JSON.parse(JSON.stringify(b.config)));
  const flat = (m: LlamaModel) => [['embed', m.weights.embedTokens], ['norm', m.weights.norm], ['lm_head', m.weights.lmHead],
    ...m.weights.layers.flatMap((l, i) => Object.entries(l).filter(([, v]) => v).map(([k, v]) => [`${i}.${k}`, v]))] as [string, Float32Array | undefined][];
  const fa = flat(a), fb = new Map(flat(b));
  assert.equal(fa.length, fb.size);
  for (const [k, v] of fa) {
    const w = fb.get(k);
    assert.equal(v === undefined, w === undefined, k);
    if (v && w) assert.ok(Buffer.compare(Buffer.from(v.buffer, v.byteOffset, v.byteLength), Buffer.from(w.buffer, w.byteOffset, w.byteLength)) === 0, `${k} differs`);
  }
}

const story = (model: string, device: string) => ['infer', '--model', model, '--prompt', '', '--max_new_tokens', '200', '--temperature', '0', '--device', device];

for (const [runtime, device] of [['node', 'wasm'], ['node', 'webgpu'], ['deno', 'wasm']] as const) {
  test(`${runtime} + ${device}: infer on the exported stories260K folder gives llama2.c's greedy story`, async () => {
    const out = await exportStories();
    const r = await runCli(story(out, device), runtime);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(continuation(r.stdout), expectedStory());
    assert.match(r.stderr, new RegExp(`device: ${device}`));
  });
}

test('the exported folder, its model.onnx and the in-memory files all load the source weights bit for bit', async () => {
  const out = await exportStories();
  const src = await loadModel(STORIES);
  const fromDir = await loadModel(out);
  assertSameWeights(fromDir.model, src.model);
  assert.equal(fromDir.modelFile, join(out, 'onnx/model.onnx'));
  // tokenizer.json when the export wrote one (converted from tok512.bin), else the tok*.bin it copied
  const hasJson = existsSync(join(out, 'tokenizer.json'));
  assert.equal(fromDir.tokenizerFile, hasJson ? out : join(out, 'tok512.bin'));
  assert.deepEqual(fromDir.tokenizer.encode('Once upon a time'), src.tokenizer.encode('Once upon a time'));
  assertSameWeights((await loadModel(join(out, 'onnx/model.onnx'))).model, src.model);
  const files = new Map<string, Uint8Array>();
  const walk = (d: string) => { for (const e of readdirSync(d, { withFileTypes: true })) e.isDirectory() ? walk(join(d, e.name)) : files.set(relative(out, join(d, e.name)), new Uint8Array(readFileSync(join(d, e.name)))); };
  walk(out);
  const mem = await loadOnnxModelFromFiles(files);
  assertSameWeights(mem.model, src.model);
  assert.equal(mem.tokenizerFile, hasJson ? 'tokenizer.json' : 'tok512.bin');
  assert.deepEqual(mem.tokenizer.encode('Once upon a time'), src.tokenizer.encode('Once upon a time'));
  files.delete('tokenizer.json');
  const bin = await loadOnnxModelFromFiles(files);
  assert.equal(bin.tokenizerFile, 'tok512.bin');
  assert.deepEqual(bin.tokenizer.encode('Once upon a time'), src.tokenizer.encode('Once upon a time'));
});

test('sft fine-tunes from an exported folder: the first loss equals training from the source model', async () => {
  const out = await exportStories();
  const data = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');
  const sft = (model: string) => runCli(['sft', '--model', model, '--dataset', `${data}#4`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
    '--model_author', '网调', 'Webtune', '--max_length', '48', '--per_device_train_batch_size', '2', '--max_steps', '1', '--logging_steps', '1',
    '--seed', '1', '--output_dir', mkdtempSync(join(work, 'sft-'))]);
  const loss = (r: { stdout: string }) => readFileSync(join(r.stdout.trim().split('\n').pop()!, 'logging.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l)).find((l) => 'loss' in l).loss;
  const [a, b] = [await sft(out), await sft(STORIES)];
  assert.equal(a.status, 0, a.stderr);
  assert.equal(b.status, 0, b.stderr);
  assert.equal(loss(a), loss(b));
});

function rng(seed: number) { let s = seed >>> 0; return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1; }

/** A tiny random qwen3 checkpoint (GQA, q/k norms, tied embeddings) with GPT-2's tokenizer. */
function tinyQwen3(): string {
  const dir = mkdtempSync(join(work, 'qwen3-')), r = rng(5), D = 16, F = 24, V = 50257, L = 2;
  const rand = (shape: number[], base = 0): Tensor => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => base + 0.3 * r()) });
  const t = new Map<string, Tensor>([['model.embed_tokens.weight', rand([V, D])], ['model.norm.weight', rand([D], 1)]]);
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}.`;
    for (const [n, s, base] of [['input_layernorm', [D], 1], ['post_attention_layernorm', [D], 1], ['self_attn.q_proj', [16, D], 0],
      ['self_attn.k_proj', [8, D], 0], ['self_attn.v_proj', [8, D], 0], ['self_attn.o_proj', [D, 16], 0], ['self_attn.q_norm', [8], 1],
      ['self_attn.k_norm', [8], 1], ['mlp.gate_proj', [F, D], 0], ['mlp.up_proj', [F, D], 0], ['mlp.down_proj', [D, F], 0]] as const) {
      t.set(`${p}${n}.weight`, rand([...s], base));
    }
  }
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(t, { format: 'pt' }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: D,
    intermediate_size: F, num_hidden_layers: L, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, vocab_size: V,
    max_position_embeddings: 128, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true, bos_token_id: 50256, eos_token_id: 50256 }));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) cpSync(join(GPT2, f), join(dir, f));
  return dir;
}

async function logits(m: LlamaModel, ids: number[]): Promise<Float32Array> {
  const runner = new LlamaRunner(new ReferenceOps(), m, { maxTokens: ids.length, maxSeq: 32 });
  return runner.forward(ids, ids.map((_, i) => i));
}

test('a qwen3-style Hugging Face model exported and re-imported gives bit-identical weights, logits and tokenizer', async () => {
  const src = tinyQwen3(), out = join(work, 'qwen3-onnx');
  const r = await runCli(['export', '--model', src, '--to', 'onnx', '--output_dir', out]);
  assert.equal(r.status, 0, r.stderr);
  const [a, b] = [await loadHfLlama(src), await loadModel(out)];
  assert.equal(b.tokenizerFile, out); // tokenizer.json (+ tokenizer_config.json) of the folder
  assert.equal(b.model.config.qkNorm, true);
  assertSameWeights(b.model, a);
  const ids = b.tokenizer.encode('Hello world, hello ONNX');
  assert.ok(ids.length > 3);
  assert.deepEqual(await logits(b.model, ids), await logits(a, ids));
  const gen = await runCli(['infer', '--model', out, '--prompt', 'Hello', '--max_new_tokens', '8', '--temperature', '0', '--device', 'wasm']);
  const ref = await runCli(['infer', '--model', src, '--prompt', 'Hello', '--max_new_tokens', '8', '--temperature', '0', '--device', 'wasm']);
  assert.equal(gen.status, 0, gen.stderr);
  assert.equal(gen.stdout, ref.stdout);
});

/** A qwen2-style model (biases, untied lm_head) exported in memory; `edit` may rewrite the ModelProto. */
function qwen2Export(edit?: (m: proto.onnx.ModelProto) => void): { model: LlamaModel; files: Map<string, Uint8Array> } {
  const c = { ...tinyRandomConfig(512), modelType: 'qwen2', attentionBias: true, tieWordEmbeddings: false };
  const m = tinyRandomWeights(c, 3);
  const r = rng(9);
  m.weights.lmHead ??= Float32Array.from({ length: c.vocabSize * c.hiddenSize }, () => 0.2 * r());
  for (const l of m.weights.layers) {
    l.qBias = Float32Array.from({ length: c.numHeads * c.headDim }, r);
    l.kBias = Float32Array.from({ length: c.numKvHeads * c.headDim }, r);
    l.vBias = Float32Array.from({ length: c.numKvHeads * c.headDim }, r);
  }
  const e = exportLlamaOnnx(m);
  let bytes = e.model;
  if (edit) { const pm = onnx.ModelProto.decode(bytes); edit(pm); bytes = onnx.ModelProto.encode(pm).finish(); }
  // stories260K's llama2.c tokenizer stands in (512 tokens; only the weights matter here)
  const tok = readFileSync(join(STORIES, 'tok512.bin'));
  return { model: m, files: new Map([['onnx/model.onnx', bytes], ...e.files.map((f) => [`onnx/${f.name}`, f.bytes] as [string, Uint8Array]),
    ['tok512.bin', new Uint8Array(tok)]]) };
}

test('qwen2-style biases and an untied lm_head round-trip through the in-memory loader', async () => {
  const { model, files } = qwen2Export();
  const loaded = await loadOnnxModelFromFiles(files);
  assertSameWeights(loaded.model, model);
  assert.equal(loaded.tokenizerFile, 'tok512.bin');
  // GPT-2's 50257 tokens do not fit the model's 512: the loader says so, naming the tokenizer
  files.set('tokenizer.json', new Uint8Array(readFileSync(join(GPT2, 'tokenizer.json'))));
  await assert.rejects(loadOnnxModelFromFiles(files), /tokenizer\.json: the tokenizer has 50257 tokens but the model.s vocab_size is 512$/);
});

test('an fp16 export split over several external data files loads with float16 weights widened exactly', async () => {
  const m = tinyRandomWeights(tinyRandomConfig(512), 4);
  const e = exportLlamaOnnx(m, 'model_fp16.onnx_data', { dtype: 'fp16', maxFileBytes: 40_000 });
  assert.ok(e.files.length > 2, `${e.files.length} data files`);
  const files = new Map<string, Uint8Array>([['onnx/model_fp16.onnx', e.model], ...e.files.map((f) => [`onnx/${f.name}`, f.bytes] as [string, Uint8Array]),
    ['tok512.bin', new Uint8Array(readFileSync(join(STORIES, 'tok512.bin')))]]);
  const loaded = await loadOnnxModelFromFiles(files);
  const half = (a: Float32Array) => Float32Array.from(toFloat16(a), f16ToF32);
  const want: LlamaModel = { config: m.config, weights: { embedTokens: half(m.weights.embedTokens), norm: half(m.weights.norm), lmHead: half(m.weights.lmHead!),
    layers: m.weights.layers.map((l) => Object.fromEntries(Object.entries(l).map(([k, v]) => [k, half(v)])) as unknown as typeof l) } };
  assertSameWeights(loaded.model, want);
  files.delete(`onnx/${e.files[1].name}`);
  await assert.rejects(loadOnnxModelFromFiles(files), new RegExp(`onnx/model_fp16\\.onnx: external data file ${e.files[1].name} .* is missing`));
});

test('unmerged LoRA initializers (PEFT [r,in]/[out,r] or transposed) are merged at load with the metadata scale', async () => {
  const r = rng(21), rank = 2;
  const mk = (n: number) => Float32Array.from({ length: n }, () => 0.5 * r());
  const { model } = qwen2Export();
  const c = model.config, D = c.hiddenSize, q = c.numHeads * c.headDim, F = c.intermediateSize;
  const qA = mk(rank * D), qB = mk(q * rank), dA = mk(rank * F), dB = mk(D * rank);
  const tr = (a: Float32Array, rows: number, cols: number) => { const o = new Float32Array(a.length); for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) o[j * rows + i] = a[i * cols + j]; return o; };
  const t = (name: string, dims: number[], data: Float32Array) => onnx.TensorProto.create({ name, dims, dataType: 1, rawData: new Uint8Array(data.buffer) });
  const { files } = qwen2Export((pm) => {
    pm.graph!.initializer!.push(t('layers.0.self_attn.q_proj.lora_A.weight', [rank, D], qA), t('layers.0.self_attn.q_proj.lora_B.weight', [q, rank], qB),
      t('layers.1.mlp.down_proj.lora_A.weight_t', [F, rank], tr(dA, rank, F)), t('layers.1.mlp.down_proj.lora_B.weight_t', [rank, D], tr(dB, D, rank)));
    pm.metadataProps.push(onnx.StringStringEntryProto.create({ key: 'webtune.lora', value: JSON.stringify({ r: rank, lora_alpha: 8 }) }));
  });
  const loaded = await loadOnnxModelFromFiles(files);
  const want = mergeLora(model, { dir: 'x', r: rank, alpha: 8, scale: 4, targets: ['q_proj', 'down_proj'], layers: new Map([
    [0, new Map([['q_proj', { A: { shape: [rank, D], data: qA }, B: { shape: [q, rank], data: qB } }]])],
    [1, new Map([['down_proj', { A: { shape: [rank, F], data: dA }, B: { shape: [D, rank], data: dB } }]])],
  ]) as never });
  assertSameWeights(loaded.model, want);
  assert.notDeepEqual(loaded.model.weights.layers[0].q, model.weights.layers[0].q);
});

test('export --adapters without --merge_lora (rsLoRA scale in metadata): infer on the folder equals infer --adapters', async () => {
  const ad = mkdtempSync(join(work, 'adapter-')), r = rng(33), rank = 4, D = 64, kv = 32, t = new Map<string, Tensor>();
  const rand = (shape: number[]) => ({ shape, data: Float32Array.from({ length: shape[0] * shape[1] }, () => 0.3 * r()) });
  for (let i = 0; i < 5; i++) {
    const p = `base_model.model.model.layers.${i}.self_attn`;
    t.set(`${p}.q_proj.lora_A.weight`, rand([rank, D])).set(`${p}.q_proj.lora_B.weight`, rand([D, rank]));
    t.set(`${p}.v_proj.lora_A.weight`, rand([rank, D])).set(`${p}.v_proj.lora_B.weight`, rand([kv, rank]));
  }
  writeFileSync(join(ad, 'adapter_model.safetensors'), writeSafetensors(t, { format: 'pt' }));
  writeFileSync(join(ad, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: rank, lora_alpha: 8, use_rslora: true,
    target_modules: ['q_proj', 'v_proj'], fan_in_fan_out: false }));
  const out = join(work, 'unmerged');
  const e = await runCli(['export', '--model', STORIES, '--adapters', ad, '--output_dir', out]);
  assert.equal(e.status, 0, e.stderr);
  const args = ['--prompt', 'Once upon a time', '--max_new_tokens', '40', '--temperature', '0', '--device', 'wasm'];
  const [a, b, base] = await Promise.all([runCli(['infer', '--model', out, ...args]), runCli(['infer', '--model', STORIES, '--adapters', ad, ...args]),
    runCli(['infer', '--model', STORIES, ...args])]);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  assert.notEqual(a.stdout, base.stdout, 'the adapter changes the output');
  const m = await readOnnxFile(join(out, 'onnx/model.onnx'));
  assert.ok([...m.initializers.keys()].some((k) => k.includes('lora_A')), 'the export keeps LoRA apart');
});

test('python3-onnx models: raw_data, float_data, float16 and external data split over several files read as numpy wrote them', async (t) => {
  if (spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { encoding: 'utf8' }).status !== 0) return t.skip('python3-onnx is not installed');
  const dir = join(work, 'pyonnx');
  mkdirSync(dir);
  const r = spawnSync('/usr/bin/python3', [resolve(ROOT, 'test/oracle/onnx_containers.py'), 'write-model', join(dir, 'm.onnx')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const want = JSON.parse(r.stdout) as Record<string, number[]>;
  assert.ok(readdirSync(dir).length >= 3, 'several external data files');
  const m = await readOnnxFile(join(dir, 'm.onnx'));
  assert.deepEqual([...m.initializers.keys()].sort(), Object.keys(want).sort());
  for (const [name, values] of Object.entries(want)) assert.deepEqual([...initializerFloats(m.initializers.get(name)!, m.file)], values, name);
});

// --- bad input -------------------------------------------------------------------------------------------------
async function copyExport(): Promise<string> {
  const d = mkdtempSync(join(work, 'bad-'));
  cpSync(await exportStories(), d, { recursive: true });
  return d;
}
const failsWith = (r: { status: number | null; stderr: string }, re: RegExp) => {
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, re);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
};
const infer = (model: string) => runCli(['infer', '--model', model, '--prompt', '', '--max_new_tokens', '5', '--device', 'wasm']);

test('a truncated model.onnx, a missing or truncated model.onnx_data: one line naming the file', async () => {
  const a = await copyExport(), f = join(a, 'onnx/model.onnx');
  writeFileSync(f, readFileSync(f).subarray(0, Math.floor(readFileSync(f).length / 2)));
  failsWith(await infer(a), /onnx\/model\.onnx: truncated or corrupt/);
  const b = await copyExport();
  rmSync(join(b, 'onnx/model.onnx_data'));
  failsWith(await infer(b), /onnx\/model\.onnx: external data file model\.onnx_data .* is missing/);
  const c = await copyExport(), d = join(c, 'onnx/model.onnx_data');
  writeFileSync(d, readFileSync(d).subarray(0, 1000));
  failsWith(await infer(c), /^webtune: error: model\.onnx_data: initializer \S+ runs past the end of the file/);
});

function smallGraph(names: string[], opts: { opset?: number; domain?: string } = {}): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input('x', 1, [1, 4]);
  let y = x;
  for (const n of names) y = g.node('MatMul', [y, g.f32(n, new Float32Array(16), [4, 4])]);
  if (opts.domain) g.nodes.push({ name: 'custom', opType: 'FusedMatMul', domain: opts.domain, input: [y, y], output: ['z'] });
  g.output(y, 'y', 1, [1, 4]);
  return serializeModel(g, { externalData: 'model.onnx_data', opset: opts.opset ?? 17 }).model;
}

test('an old operator set, a non-default operator domain and a foreign ONNX model are refused, naming the file', async () => {
  const dir = (bytes: Uint8Array) => { const d = mkdtempSync(join(work, 'foreign-')); writeFileSync(join(d, 'model.onnx'), bytes); return d; };
  const opset9 = dir(smallGraph(['w'], { opset: 9 }));
  failsWith(await infer(opset9), /model\.onnx: unsupported operator set ai\.onnx opset 9/);
  const ms = dir(smallGraph(['w'], { domain: 'com.microsoft' }));
  failsWith(await infer(ms), /model\.onnx: unsupported operator set com\.microsoft \(operator FusedMatMul/);
  const foreign = dir(smallGraph(['onnx::MatMul_12', 'onnx::MatMul_13']));
  failsWith(await infer(foreign), /model\.onnx: unknown initializer layout .*only webtune's own ONNX exports run natively \(run other ONNX models with onnxruntime\)/);
  const junk = dir(new Uint8Array(Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 255)));
  failsWith(await infer(junk), /model\.onnx: (truncated or corrupt|not an ONNX model)/);
});
