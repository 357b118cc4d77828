// Using sft's output: `infer --adapters CKPT` (LoRA merged at load) and `merge-lora` (a merged Hugging Face model
// directory). A short LoRA run on stories260K gives a real adapter; a tiny random qwen3-style model with the GPT-2
// tokenizer and a hand-made PEFT adapter (use_rslora) covers Hugging Face bases. The merge is checked against
// PyTorch (test/oracle/lora_merge.py), generation with the adapter against the merged directory, and bad input.
import '../runtime/wasm-embedded.ts';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadWithAdapters } from '../models/adapters.ts';
import { loadHfLlama } from '../models/hf-llama.ts';
import { loadModel } from '../models/load.ts';
import { readSafetensorsHeader, writeSafetensors, type Tensor } from '../models/safetensors.ts';
import { modelToHfTensors } from '../src/cli/merge-lora.ts';
import { ROOT, runCli, SHARED, STORIES, type RunResult } from './helpers.ts';

const DATA = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');
const GPT2 = resolve(SHARED, 'tokenizers/gpt2');
const tmp = (p = 'webtune-adapters-') => mkdtempSync(join(tmpdir(), p));
const INFER = ['--prompt', 'Once', '--max_new_tokens', '24', '--temperature', '0', '--device', 'wasm', '--no-stats'];

let ckpt = '';   // the LoRA checkpoint of a short stories260K run
let merged = ''; // merge-lora's output for it

function oracle(baseFile: string, ck: string, mergedFile: string) {
  const r = spawnSync('/usr/bin/python3', [resolve(ROOT, 'test/oracle/lora_merge.py'), baseFile, ck, mergedFile], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { merged: number; checked: number; max_abs_diff: number; max_delta: number; missing: string[] };
}

/** One line on stderr saying what is wrong, exit status 1. */
function failsWith(r: RunResult, re: RegExp) {
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.filter((l) => /error/.test(l)).length, 1, r.stderr);
  assert.match(lines[lines.length - 1], re);
  assert.match(lines[lines.length - 1], /^webtune: error: /);
}

before(async () => {
  const out = tmp();
  const r = await runCli(['sft', '--model', STORIES, '--dataset', `${DATA}#16`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
    '--model_author', '网调', 'Webtune', '--max_length', '48', '--per_device_train_batch_size', '4', '--learning_rate', '1e-2',
    '--max_steps', '3', '--save_steps', '3', '--lora_rank', '4', '--seed', '1', '--output_dir', out]);
  assert.equal(r.status, 0, r.stderr);
  ckpt = join(r.stdout.trim().split('\n').pop()!, 'checkpoint-3');
  merged = join(tmp(), 'merged');
  const m = await runCli(['merge-lora', '--adapters', ckpt, '--output_dir', merged]);
  assert.equal(m.status, 0, m.stderr);
  assert.equal(m.stdout.trim(), merged);
});

test('merge-lora equals PyTorch W + (alpha/r)·B·A on the saved tensors; other tensors unchanged', async () => {
  const base = await loadModel(STORIES);
  const baseFile = join(tmp(), 'base.safetensors');
  writeFileSync(baseFile, writeSafetensors(modelToHfTensors(base.model)));
  const o = oracle(baseFile, ckpt, join(merged, 'model.safetensors'));
  assert.equal(o.merged, 5 * 7);
  assert.deepEqual(o.missing, []);
  assert.ok(o.max_delta > 1e-3, `the adapter is trivial (max |delta| ${o.max_delta})`);
  assert.ok(o.max_abs_diff < 1e-6, `max |merged - torch| = ${o.max_abs_diff}`);
});

test('infer --adapters equals infer of the merged directory at temperature 0, and differs from the base', async () => {
  const [withAdapter, fromMerged, fromBase] = await Promise.all([
    runCli(['infer', '--adapters', ckpt, ...INFER]), runCli(['infer', '--model', merged, ...INFER]), runCli(['infer', '--model', STORIES, ...INFER])]);
  for (const r of [withAdapter, fromMerged, fromBase]) assert.equal(r.status, 0, r.stderr);
  assert.match(withAdapter.stderr, /merged LoRA .*checkpoint-3 \(r 4, alpha 32\) into .*stories260K \(from .*args\.json\)/);
  assert.ok(withAdapter.stdout.trim().length > 10);
  assert.equal(withAdapter.stdout, fromMerged.stdout);
  assert.notEqual(withAdapter.stdout, fromBase.stdout);
  // --model given explicitly: the same result
  const explicit = await runCli(['infer', '--adapters', ckpt, '--model', STORIES, ...INFER]);
  assert.equal(explicit.stdout, withAdapter.stdout);
});

test('the merged directory reloads (loadHfLlama, loadModel) with Hugging Face names, config and tokenizer', async () => {
  assert.deepEqual(readdirSync(merged).sort(), ['config.json', 'generation_config.json', 'model.safetensors', 'tok512.bin']);
  const cfg = JSON.parse(readFileSync(join(merged, 'config.json'), 'utf8'));
  assert.deepEqual(cfg.architectures, ['LlamaForCausalLM']);
  assert.equal(cfg.model_type, 'llama');
  assert.equal(cfg.torch_dtype, 'float32');
  assert.equal(cfg.tie_word_embeddings, true);
  const { header } = readSafetensorsHeader(readFileSync(join(merged, 'model.safetensors')));
  const keys = Object.keys(header).filter((k) => k !== '__metadata__');
  assert.equal(keys.length, 1 + 5 * 9 + 1);
  assert.ok(keys.every((k) => /^model\.(embed_tokens|norm|layers\.\d\.(input_layernorm|post_attention_layernorm|self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj))\.weight$/.test(k)), keys.join());
  assert.deepEqual(header['model.layers.0.self_attn.k_proj.weight'].shape, [32, 64]);
  const inMemory = await loadWithAdapters(ckpt);
  const reloaded = await loadHfLlama(merged);
  assert.deepEqual({ ...reloaded.config, modelType: undefined, attentionBias: undefined, qkNorm: undefined },
    { ...inMemory.model.config, modelType: undefined, attentionBias: undefined, qkNorm: undefined });
  assert.deepEqual(reloaded.weights.layers[3].down, inMemory.model.weights.layers[3].down);
  assert.deepEqual(reloaded.weights.embedTokens, inMemory.model.weights.embedTokens);
  const dirLoaded = await loadModel(merged);
  assert.deepEqual(dirLoaded.tokenizer.encode('Once upon a time'), (await loadModel(STORIES)).tokenizer.encode('Once upon a time'));
});

// ---- a Hugging Face base: tiny random qwen3 (q/k norms, GQA, tied) with the GPT-2 tokenizer, a hand-made adapter
function rng(seed: number) { let s = seed >>> 0; return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1; }
const rand = (shape: number[], r: () => number, k = 0.2): Tensor => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * k) });

function tinyQwen3(): string {
  const dir = tmp('webtune-qwen3-'), r = rng(7), D = 16, F = 24, V = 50257, L = 2;
  const t = new Map<string, Tensor>([['model.embed_tokens.weight', rand([V, D], r)], ['model.norm.weight', rand([D], r)]]);
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}.`;
    for (const [n, s] of [['input_layernorm', [D]], ['post_attention_layernorm', [D]], ['self_attn.q_proj', [16, D]], ['self_attn.k_proj', [8, D]],
      ['self_attn.v_proj', [8, D]], ['self_attn.o_proj', [D, 16]], ['self_attn.q_norm', [8]], ['self_attn.k_norm', [8]],
      ['mlp.gate_proj', [F, D]], ['mlp.up_proj', [F, D]], ['mlp.down_proj', [D, F]]] as const) t.set(`${p}${n}.weight`, rand([...s], r));
  }
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(t, { format: 'pt' }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: D, intermediate_size: F,
    num_hidden_layers: L, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, vocab_size: V, max_position_embeddings: 128,
    rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true, torch_dtype: 'bfloat16', bos_token_id: 50256, eos_token_id: 50256 }));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) cpSync(join(GPT2, f), join(dir, f));
  return dir;
}

function handAdapter(shapes: Record<string, [number, number]>, layers: number, extra: Record<string, unknown> = {}): string {
  const dir = tmp('webtune-adapter-'), r = rng(11), rank = 2, t = new Map<string, Tensor>();
  for (let i = 0; i < layers; i++) {
    for (const [mod, [out, inF]] of Object.entries(shapes)) {
      const p = `base_model.model.model.layers.${i}.${mod.endsWith('proj') && ['gate_proj', 'up_proj', 'down_proj'].includes(mod) ? 'mlp' : 'self_attn'}.${mod}`;
      t.set(`${p}.lora_A.weight`, rand([rank, inF], r));
      t.set(`${p}.lora_B.weight`, rand([out, rank], r));
    }
  }
  writeFileSync(join(dir, 'adapter_model.safetensors'), writeSafetensors(t, { format: 'pt' }));
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: rank, lora_alpha: 8, target_modules: Object.keys(shapes),
    fan_in_fan_out: false, use_rslora: true, ...extra }));
  return dir;
}

test('Hugging Face base (qwen3): merge-lora with use_rslora matches PyTorch, copies the tokenizer, reloads with loadModel', async () => {
  const base = tinyQwen3();
  const ad = handAdapter({ q_proj: [16, 16], v_proj: [8, 16], down_proj: [16, 24] }, 2);
  const out = join(tmp(), 'm');
  const r = await runCli(['merge-lora', '--adapters', ad, '--model', base, '--output_dir', out]);
  assert.equal(r.status, 0, r.stderr);
  const o = oracle(join(base, 'model.safetensors'), ad, join(out, 'model.safetensors'));
  assert.equal(o.merged, 6);
  assert.deepEqual(o.missing, []);
  assert.ok(o.max_delta > 1e-3 && o.max_abs_diff < 1e-6, JSON.stringify(o));
  assert.deepEqual(readdirSync(out).sort(), ['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json',
    'tokenizer.json', 'tokenizer_config.json']);
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.deepEqual([cfg.architectures[0], cfg.model_type, cfg.torch_dtype, cfg.rope_theta, cfg.tie_word_embeddings], ['Qwen3ForCausalLM', 'qwen3', 'float32', 1000000, true]);
  const loaded = await loadModel(out);
  assert.equal(loaded.model.config.qkNorm, true);
  assert.ok(loaded.tokenizer.encode('hello world').length > 0);
  const again = await runCli(['merge-lora', '--adapters', ad, '--model', base, '--output_dir', out]);
  failsWith(again, /--output_dir .* already exists and is not empty/);
});

test('bad input: missing weights, corrupted adapter_config.json, an adapter for another model, no base model', async () => {
  const copy = () => { const d = join(tmp(), 'checkpoint-3'); cpSync(ckpt, d, { recursive: true }); return d; };
  const noWeights = copy();
  rmSync(join(noWeights, 'adapter_model.safetensors'));
  const badJson = copy();
  writeFileSync(join(badJson, 'adapter_config.json'), '{"r": 4, "lora_alpha": ');
  const other = handAdapter({ q_proj: [16, 16] }, 2);
  const badModule = handAdapter({ q_proj: [64, 64] }, 1, { target_modules: ['q_proj', 'qkv'] });
  const noArgs = copy();
  rmSync(join(noArgs, 'args.json'));
  const acfg = JSON.parse(readFileSync(join(noArgs, 'adapter_config.json'), 'utf8'));
  writeFileSync(join(noArgs, 'adapter_config.json'), JSON.stringify({ ...acfg, base_model_name_or_path: '/nonexistent/model' }));
  const [a, b, c, d, e, f] = await Promise.all([
    runCli(['infer', '--adapters', noWeights, ...INFER]),
    runCli(['merge-lora', '--adapters', badJson, '--output_dir', join(tmp(), 'x')]),
    runCli(['infer', '--adapters', other, '--model', STORIES, ...INFER]),
    runCli(['merge-lora', '--adapters', badModule, '--model', STORIES, '--output_dir', join(tmp(), 'x')]),
    runCli(['infer', '--adapters', noArgs, ...INFER]),
    runCli(['infer', '--adapters', join(tmp(), 'nothing-here'), ...INFER]),
  ]);
  failsWith(a, /checkpoint-3\/adapter_model\.safetensors: missing/);
  failsWith(b, /checkpoint-3\/adapter_config\.json: invalid JSON/);
  failsWith(c, /adapter_model\.safetensors: layer 0 q_proj adapter is \[16×16\] but the model's weight is \[64×64\] \(an adapter for another model\?\)/);
  failsWith(d, /adapter_config\.json: unknown target_modules qkv; valid: all-linear or q_proj/);
  failsWith(e, /no args\.json beside the checkpoint names the base model; pass --model/);
  failsWith(f, /--adapters .*nothing-here: no such directory/);
});

test('a full-training checkpoint is itself a model: infer --adapters uses it', async () => {
  const out = tmp();
  const r = await runCli(['sft', '--model', STORIES, '--dataset', `${DATA}#8`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
    '--model_author', '网调', 'Webtune', '--max_length', '48', '--per_device_train_batch_size', '4', '--train_type', 'full',
    '--max_steps', '1', '--output_dir', out]);
  assert.equal(r.status, 0, r.stderr);
  const ck = join(r.stdout.trim().split('\n').pop()!, 'checkpoint-1');
  const [x, y] = await Promise.all([runCli(['infer', '--adapters', ck, ...INFER]), runCli(['infer', '--model', ck, ...INFER])]);
  assert.equal(x.status, 0, x.stderr);
  assert.match(x.stderr, /is a full-training checkpoint: using it as the model/);
  assert.equal(x.stdout, y.stdout);
  const m = await runCli(['merge-lora', '--adapters', ck, '--output_dir', join(tmp(), 'm')]);
  failsWith(m, /is a full-training checkpoint: nothing to merge/);
});
