// Issue 13: every model webtune writes keeps its source config.json field for field (only torch_dtype follows the
// weights written; an export adds its transformers.js_config block) and copies generation_config.json. Tiny random
// models with realistic Qwen3, Qwen2, Mistral and Llama 3.1 configs (bos/eos ids, an eos list, llama3 rope_scaling,
// attention_bias, mlp_bias, sliding_window, …) go through full SFT, merge-lora, build-edge and export, and an export
// used as --model writes its config back unchanged.
import '../runtime/wasm-embedded.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModel } from '../models/load.ts';
import { writeSafetensors, type Tensor } from '../models/safetensors.ts';
import { mergeLoraToDir } from '../src/cli/merge-lora.ts';
import { exportModel } from '../src/cli/export.ts';
import { handAdapter } from './deploy-helpers.ts';
import { runCli, SHARED, STORIES } from './helpers.ts';

const DATA = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');
const GPT2 = resolve(SHARED, 'tokenizers/gpt2');
const tmp = (p = 'webtune-cfg-') => mkdtempSync(join(tmpdir(), p));
const readJson = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;

// the tiny shapes every family shares: 2 layers, hidden 16, 2 heads of 8, 1 KV head, GPT-2's vocabulary
const D = 16, F = 24, L = 2, H = 2, KV = 1, HD = 8, V = 50257;

// config.json as transformers saves these models (sizes shrunk to the tiny ones above, everything else kept)
const CONFIGS: Record<string, Record<string, unknown>> = {
  qwen3: {
    architectures: ['Qwen3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151645,
    head_dim: HD, hidden_act: 'silu', hidden_size: D, initializer_range: 0.02, intermediate_size: F, max_position_embeddings: 40960,
    max_window_layers: 28, model_type: 'qwen3', num_attention_heads: H, num_hidden_layers: L, num_key_value_heads: KV, rms_norm_eps: 1e-6,
    rope_scaling: null, rope_theta: 1000000, sliding_window: null, tie_word_embeddings: true, torch_dtype: 'bfloat16',
    transformers_version: '4.51.0', use_cache: true, use_sliding_window: false, vocab_size: V,
  },
  qwen2: {
    architectures: ['Qwen2ForCausalLM'], attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151645, hidden_act: 'silu',
    hidden_size: D, initializer_range: 0.02, intermediate_size: F, max_position_embeddings: 32768, max_window_layers: 21,
    model_type: 'qwen2', num_attention_heads: H, num_hidden_layers: L, num_key_value_heads: KV, rms_norm_eps: 1e-6, rope_scaling: null,
    rope_theta: 1000000.0, sliding_window: 32768, tie_word_embeddings: false, torch_dtype: 'bfloat16', transformers_version: '4.43.1',
    use_cache: true, use_sliding_window: false, vocab_size: V,
  },
  mistral: {
    architectures: ['MistralForCausalLM'], attention_dropout: 0.0, bos_token_id: 1, eos_token_id: 2, head_dim: HD, hidden_act: 'silu',
    hidden_size: D, initializer_range: 0.02, intermediate_size: F, max_position_embeddings: 32768, model_type: 'mistral',
    num_attention_heads: H, num_hidden_layers: L, num_key_value_heads: KV, rms_norm_eps: 1e-5, rope_theta: 1000000.0, sliding_window: null,
    tie_word_embeddings: false, torch_dtype: 'bfloat16', transformers_version: '4.42.0.dev0', use_cache: true, vocab_size: V,
  },
  llama: {
    architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 128000,
    eos_token_id: [128001, 128008, 128009], head_dim: HD, hidden_act: 'silu', hidden_size: D, initializer_range: 0.02, intermediate_size: F,
    max_position_embeddings: 131072, mlp_bias: false, model_type: 'llama', num_attention_heads: H, num_hidden_layers: L,
    num_key_value_heads: KV, pretraining_tp: 1, rms_norm_eps: 1e-5,
    rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    rope_theta: 500000.0, tie_word_embeddings: false, torch_dtype: 'bfloat16', transformers_version: '4.43.0.dev0', use_cache: true, vocab_size: V,
  },
};
const GENERATION: Record<string, Record<string, unknown>> = {
  qwen3: { bos_token_id: 151643, do_sample: true, eos_token_id: [151645, 151643], pad_token_id: 151643, temperature: 0.6, top_k: 20, top_p: 0.95, transformers_version: '4.51.0' },
  llama: { bos_token_id: 128000, do_sample: true, eos_token_id: [128001, 128008, 128009], temperature: 0.6, top_p: 0.9, transformers_version: '4.43.0.dev0' },
};

function rng(seed: number) { let s = seed >>> 0; return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1; }

/** A Hugging Face directory: random f32 weights of `family`'s layout, its config.json (and generation_config.json
 *  where the family has one here), GPT-2's tokenizer files. */
function tinyModel(family: string): string {
  const dir = tmp(`webtune-cfg-${family}-`), r = rng(13), cfg = CONFIGS[family];
  const rand = (shape: number[], k = 0.2): Tensor => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * k) });
  const t = new Map<string, Tensor>([['model.embed_tokens.weight', rand([V, D], 1)], ['model.norm.weight', rand([D])]]);
  if (!cfg.tie_word_embeddings) t.set('lm_head.weight', rand([V, D]));
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}.`;
    for (const [n, s] of [['input_layernorm', [D]], ['post_attention_layernorm', [D]], ['self_attn.q_proj', [H * HD, D]], ['self_attn.k_proj', [KV * HD, D]],
      ['self_attn.v_proj', [KV * HD, D]], ['self_attn.o_proj', [D, H * HD]], ['mlp.gate_proj', [F, D]], ['mlp.up_proj', [F, D]], ['mlp.down_proj', [D, F]]] as const) {
      t.set(`${p}${n}.weight`, rand([...s]));
    }
    if (family === 'qwen2') for (const [n, rows] of [['q', H * HD], ['k', KV * HD], ['v', KV * HD]] as const) t.set(`${p}self_attn.${n}_proj.bias`, rand([rows]));
    if (family === 'qwen3') for (const n of ['q_norm', 'k_norm']) t.set(`${p}self_attn.${n}.weight`, rand([HD]));
  }
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(t, { format: 'pt' }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  if (GENERATION[family]) writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(GENERATION[family], null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) cpSync(join(GPT2, f), join(dir, f));
  return dir;
}

/** The source config as a writer of `dtype` weights must write it. */
const expected = (family: string, dtype = 'float32') => ({ ...CONFIGS[family], torch_dtype: dtype });

/** generation_config.json: the source's bytes-for-value copy where it has one. */
function checkGeneration(family: string, dir: string) {
  if (GENERATION[family]) assert.deepEqual(readJson(join(dir, 'generation_config.json')), GENERATION[family], `${dir}: generation_config.json`);
}

for (const family of Object.keys(CONFIGS)) {
  test(`${family}: full SFT, merge-lora, build-edge and export keep config.json field for field`, async () => {
    const src = tinyModel(family);
    const parsed = (await loadModel(src)).model.config;

    // full SFT, two steps: checkpoint-2/config.json is the source's with torch_dtype float32 (the weights written)
    const sft = await runCli(['sft', '--model', src, '--train_type', 'full', '--dataset', `${DATA}#8`, '--template', 'default',
      '--model_name', '小白', 'Xiaobai', '--model_author', '网调', 'Webtune', '--max_length', '24', '--per_device_train_batch_size', '2',
      '--max_steps', '2', '--save_steps', '2', '--learning_rate', '1e-3', '--seed', '1', '--output_dir', tmp()]);
    assert.equal(sft.status, 0, sft.stderr);
    const ckpt = join(sft.stdout.trim().split('\n').pop()!, 'checkpoint-2');
    assert.deepEqual(readJson(join(ckpt, 'config.json')), expected(family));
    checkGeneration(family, ckpt);
    // …so the trained model reloads as the source was parsed (llama3 RoPE scaling included)
    assert.deepEqual((await loadModel(ckpt)).model.config, parsed);

    // merge-lora of a hand-made adapter into the base
    const merged = join(tmp(), 'merged');
    await mergeLoraToDir({ adapters: handAdapter(D, KV * HD, L), model: src, output_dir: merged });
    assert.deepEqual(readJson(join(merged, 'config.json')), expected(family));
    checkGeneration(family, merged);

    // build-edge: the worker's config.json
    const edge = join(tmp(), 'worker');
    const be = await runCli(['build-edge', '--model', src, '--output_dir', edge]);
    assert.equal(be.status, 0, be.stderr);
    assert.deepEqual(readJson(join(edge, 'config.json')), expected(family));

    // export --to onnx: the source's config plus transformers.js_config
    const onnx = join(tmp(), 'onnx');
    await exportModel({ model: src, to: 'onnx', output_dir: onnx, dtype: 'fp16' });
    const exported = readJson(join(onnx, 'config.json'));
    assert.deepEqual(exported, { ...expected(family, 'float16'), 'transformers.js_config': { dtype: 'fp16', use_external_data_format: 1 } });
    checkGeneration(family, onnx);

    // the export as --model: re-exported, merged and fully trained, its config comes back unchanged
    const again = join(tmp(), 'again');
    await exportModel({ model: onnx, to: 'onnx', output_dir: again, dtype: 'fp16' });
    assert.deepEqual(readJson(join(again, 'config.json')), exported);
    checkGeneration(family, again);
    const mergedFromOnnx = join(tmp(), 'merged-onnx');
    await mergeLoraToDir({ adapters: handAdapter(D, KV * HD, L), model: onnx, output_dir: mergedFromOnnx });
    assert.deepEqual(readJson(join(mergedFromOnnx, 'config.json')), expected(family));
    assert.deepEqual((await loadModel(onnx)).model.config, parsed);
  });
}

test('a llama2.c model (no config.json) gets one made, the same from export and build-edge', async () => {
  const onnx = join(tmp(), 'onnx'), edge = join(tmp(), 'worker');
  await exportModel({ model: STORIES, to: 'onnx', output_dir: onnx });
  const be = await runCli(['build-edge', '--model', STORIES, '--output_dir', edge]);
  assert.equal(be.status, 0, be.stderr);
  const { 'transformers.js_config': _js, ...made } = readJson(join(onnx, 'config.json'));
  assert.deepEqual(readJson(join(edge, 'config.json')), made);
  assert.deepEqual([made.architectures, made.model_type, made.bos_token_id, made.eos_token_id, made.rope_scaling, made.torch_dtype],
    [['LlamaForCausalLM'], 'llama', 1, 2, null, 'float32']);
  assert.deepEqual(readJson(join(onnx, 'generation_config.json')), { _from_model_config: true, bos_token_id: 1, eos_token_id: 2 });
});
