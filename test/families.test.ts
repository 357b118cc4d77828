// Issue 13: model families as registry entries (models/families/). Per family: config.json → LlamaConfig → config.json
// round trip on a realistic config, the tensor names it expects, its LoRA targets and default template; the error for
// an unknown model_type; README and CLI help generated from (checked against) the registry; and a family registered
// at test time (a copy of llama's entry under a made-up model_type) that loads, trains a step and saves with no other
// file touched.
import '../runtime/wasm-embedded.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { allLoraTargets, FAMILIES, familyOf, registerFamily, supportedModelTypes, type ModelFamily } from '../models/families/index.ts';
import { parseFamilyConfig, writeFamilyConfig } from '../models/families/config.ts';
import { llama } from '../models/families/llama.ts';
import { hfTensorName, modelTensorNames, tensorShape } from '../models/families/tensors.ts';
import { loadHfLlama, makeHfConfigJson, modelToHfTensors, parseHfConfig } from '../models/hf-llama.ts';
import { LlamaTrainer } from '../models/llama-train.ts';
import { parseTargetModules } from '../models/lora.ts';
import { writeSafetensors } from '../models/safetensors.ts';
import { tinyRandomConfig, tinyRandomWeights } from '../models/tiny-random.ts';
import { ReferenceTrainOps } from '../src/backend/reference-train-ops.ts';
import { sftCommand } from '../src/cli/sft.ts';
import { BUILTIN_NAMES } from '../src/data/templates/chat-format.ts';
import { saveCheckpoint } from '../src/train/checkpoint.ts';
import { ROOT } from './helpers.ts';

// config.json as published on the Hugging Face hub (Qwen/Qwen3-0.6B, Qwen/Qwen2.5-0.5B-Instruct,
// mistralai/Mistral-7B-Instruct-v0.3, meta-llama/Llama-3.2-1B-Instruct)
const CONFIGS: Record<string, Record<string, unknown>> = {
  qwen3: {
    architectures: ['Qwen3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151645,
    head_dim: 128, hidden_act: 'silu', hidden_size: 1024, initializer_range: 0.02, intermediate_size: 3072, max_position_embeddings: 40960,
    max_window_layers: 28, model_type: 'qwen3', num_attention_heads: 16, num_hidden_layers: 28, num_key_value_heads: 8, rms_norm_eps: 1e-6,
    rope_scaling: null, rope_theta: 1000000, sliding_window: null, tie_word_embeddings: true, torch_dtype: 'bfloat16',
    transformers_version: '4.51.0', use_cache: true, use_sliding_window: false, vocab_size: 151936,
  },
  qwen2: {
    architectures: ['Qwen2ForCausalLM'], attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151645, hidden_act: 'silu',
    hidden_size: 896, initializer_range: 0.02, intermediate_size: 4864, max_position_embeddings: 32768, max_window_layers: 21,
    model_type: 'qwen2', num_attention_heads: 14, num_hidden_layers: 24, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_scaling: null,
    rope_theta: 1000000.0, sliding_window: 32768, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.43.1',
    use_cache: true, use_sliding_window: false, vocab_size: 151936,
  },
  mistral: {
    architectures: ['MistralForCausalLM'], attention_dropout: 0.0, bos_token_id: 1, eos_token_id: 2, head_dim: 128, hidden_act: 'silu',
    hidden_size: 4096, initializer_range: 0.02, intermediate_size: 14336, max_position_embeddings: 32768, model_type: 'mistral',
    num_attention_heads: 32, num_hidden_layers: 32, num_key_value_heads: 8, rms_norm_eps: 1e-5, rope_theta: 1000000.0, sliding_window: null,
    tie_word_embeddings: false, torch_dtype: 'bfloat16', transformers_version: '4.42.0.dev0', use_cache: true, vocab_size: 32768,
  },
  llama: {
    architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 128000,
    eos_token_id: [128001, 128008, 128009], head_dim: 64, hidden_act: 'silu', hidden_size: 2048, initializer_range: 0.02,
    intermediate_size: 8192, max_position_embeddings: 131072, mlp_bias: false, model_type: 'llama', num_attention_heads: 32,
    num_hidden_layers: 16, num_key_value_heads: 8, pretraining_tp: 1, rms_norm_eps: 1e-5,
    rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    rope_theta: 500000.0, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.45.0.dev0', use_cache: true, vocab_size: 128256,
  },
};

test('every built-in family has a realistic config here', () => {
  assert.deepEqual(Object.keys(CONFIGS).sort(), supportedModelTypes().sort());
});

for (const [type, src] of Object.entries(CONFIGS)) {
  test(`${type}: config.json → LlamaConfig → config.json keeps every field the family reads`, () => {
    const f = familyOf(type), parsed = parseHfConfig(src);
    assert.equal(parsed.modelType, type);
    const written = writeFamilyConfig(f, parsed, { bos: src.bos_token_id as number, eos: 2 });
    // parse → write → parse is the identity on LlamaConfig
    assert.deepEqual(parseFamilyConfig(f, written), parsed);
    // and what was written equals the source wherever the family reads a field
    const read = ['model_type', 'rope_scaling', 'tie_word_embeddings', 'bos_token_id', ...f.configFields.map((x) => x.hf),
      ...(f.features.attentionBias === 'config' && 'attention_bias' in src ? ['attention_bias'] : [])];
    const pick = (o: Record<string, unknown>) => Object.fromEntries(read.filter((k) => k in src).map((k) => [k, o[k] ?? null]));
    assert.deepEqual(pick(written), pick(src));
    assert.deepEqual(written.architectures, src.architectures);
    // makeHfConfigJson (configs webtune makes) is the family's writer
    assert.deepEqual(makeHfConfigJson(parsed, { bos: src.bos_token_id as number, eos: 2 }), written);
  });
}

test('features: qwen2 always has q/k/v biases, qwen3 q/k norms, the others as config.json says', () => {
  const base = CONFIGS.llama;
  assert.equal(parseHfConfig(base).attentionBias, false);
  assert.equal(parseHfConfig({ ...base, attention_bias: true }).attentionBias, true);
  assert.equal(parseHfConfig({ ...CONFIGS.qwen2, attention_bias: false }).attentionBias, true);
  assert.equal(parseHfConfig(CONFIGS.qwen3).qkNorm, true);
  for (const type of ['llama', 'mistral', 'qwen2']) assert.equal(parseHfConfig(CONFIGS[type]).qkNorm, false);
  assert.equal(parseHfConfig(CONFIGS.llama).ropeScaling?.factor, 32);
  const { tie_word_embeddings: _t, ...untied } = CONFIGS.mistral;
  assert.equal(parseHfConfig(untied).tieWordEmbeddings, false);
});

/** layer 0's Hugging Face tensor names for `type` (tiny config, untied unless said) */
const layer0 = (type: string, over: Record<string, unknown> = {}) => {
  const f = familyOf(type), c = parseFamilyConfig(f, { ...CONFIGS[type], num_hidden_layers: 1, ...over });
  return modelTensorNames(f, c).map((n) => hfTensorName(f, n));
};
const LLAMA_LAYER = ['input_layernorm.weight', 'post_attention_layernorm.weight', 'self_attn.q_proj.weight', 'self_attn.k_proj.weight',
  'self_attn.v_proj.weight', 'self_attn.o_proj.weight', 'mlp.gate_proj.weight', 'mlp.up_proj.weight', 'mlp.down_proj.weight'];
const names = (layer: string[], tied: boolean) =>
  ['model.embed_tokens.weight', 'model.norm.weight', ...(tied ? [] : ['lm_head.weight']), ...layer.map((n) => `model.layers.0.${n}`)].sort();

test('tensor names each family expects', () => {
  assert.deepEqual(layer0('llama').sort(), names(LLAMA_LAYER, true));
  assert.deepEqual(layer0('llama', { tie_word_embeddings: false }).sort(), names(LLAMA_LAYER, false));
  assert.deepEqual(layer0('llama', { attention_bias: true }).sort(),
    names([...LLAMA_LAYER, 'self_attn.q_proj.bias', 'self_attn.k_proj.bias', 'self_attn.v_proj.bias'], true));
  assert.deepEqual(layer0('mistral').sort(), names(LLAMA_LAYER, false));
  assert.deepEqual(layer0('qwen2').sort(), names([...LLAMA_LAYER, 'self_attn.q_proj.bias', 'self_attn.k_proj.bias', 'self_attn.v_proj.bias'], true));
  assert.deepEqual(layer0('qwen3').sort(), names([...LLAMA_LAYER, 'self_attn.q_norm.weight', 'self_attn.k_norm.weight'], true));
  // shapes and PEFT keys (Qwen3-0.6B: 16 heads × 128, 8 KV heads)
  const q3 = familyOf('qwen3'), c = parseHfConfig(CONFIGS.qwen3);
  assert.deepEqual(tensorShape(q3, 'layers.3.q', c), [2048, 1024]);
  assert.deepEqual(tensorShape(q3, 'layers.3.k', c), [1024, 1024]);
  assert.deepEqual(tensorShape(q3, 'layers.3.o', c), [1024, 2048]);
  assert.deepEqual(tensorShape(q3, 'layers.3.down', c), [1024, 3072]);
  assert.deepEqual(tensorShape(q3, 'layers.3.qNorm', c), [128]);
  assert.deepEqual(tensorShape(q3, 'layers.3.v.loraA', c, 8), [8, 1024]);
  assert.deepEqual(tensorShape(q3, 'layers.3.v.loraB', c, 8), [1024, 8]);
  assert.equal(hfTensorName(q3, 'layers.3.gate.loraA'), 'base_model.model.model.layers.3.mlp.gate_proj.lora_A.weight');
});

test('LoRA targets and default templates are declared by each family', () => {
  for (const f of FAMILIES) {
    const modules = Object.values(f.tensors.linears).map((l) => l.module);
    for (const t of f.loraTargets) assert.ok(modules.includes(t), `${f.modelType}: LoRA target ${t} is not one of its linear layers`);
    assert.ok(BUILTIN_NAMES.includes(f.defaultTemplate), `${f.modelType}: default template ${f.defaultTemplate} is not built in (${BUILTIN_NAMES.join(', ')})`);
    assert.deepEqual(parseTargetModules('all-linear', f), [...f.loraTargets]);
  }
  assert.deepEqual(Object.fromEntries(FAMILIES.map((f) => [f.modelType, f.defaultTemplate])), { llama: 'default', mistral: 'default', qwen2: 'qwen', qwen3: 'qwen3' });
  assert.deepEqual(allLoraTargets(), ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
});

test('an unknown model_type fails naming the file and every registered family', () => {
  const listed = supportedModelTypes().join(', ');
  assert.equal(listed, 'llama, mistral, qwen2, qwen3');
  assert.throws(() => parseHfConfig({ ...CONFIGS.llama, model_type: 'gpt_neox' }, 'dir/config.json'),
    { message: `dir/config.json: model_type "gpt_neox" is not supported (supported: ${listed})` });
  assert.throws(() => parseHfConfig({ hidden_size: 8 }), { message: `config.json: model_type "" is not supported (supported: ${listed})` });
  assert.throws(() => familyOf('olmo2'), /model_type "olmo2" is not supported \(supported: llama, mistral, qwen2, qwen3\)/);
});

/** The README's table of supported families, as the registry says it. */
function familiesTable(): string {
  const feats = (f: ModelFamily) => [f.features.attentionBias === 'always' ? 'q/k/v biases' : 'attention_bias from config.json',
    ...(f.features.qkNorm ? ['q/k norms'] : []), `rope_scaling: default, ${f.features.ropeScaling.join(', ')}`].join('; ');
  return ['| model_type | architectures | models | features | default template |', '| --- | --- | --- | --- | --- |',
    ...FAMILIES.map((f) => `| \`${f.modelType}\` | ${f.architectures.join(', ')} | ${f.description} | ${feats(f)} | \`${f.defaultTemplate}\` |`)].join('\n');
}

test('README: the supported model families are the registry\'s', () => {
  const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8'), table = familiesTable();
  assert.ok(readme.includes(table), `README.md's table of model families is out of date; it should read:\n${table}`);
  const types = supportedModelTypes();
  assert.ok(readme.includes(`Hugging Face ${types.join('/')} checkpoints`), 'README status line: the families');
  assert.ok(readme.includes(`a Hugging Face directory\n  (${types.join(', ')}:`), 'README --model: the families');
});

test('sft --help lists the registry\'s model types and LoRA target modules', () => {
  const help = sftCommand().helpInformation().replace(/\s+/g, ' ');
  assert.ok(help.includes(`all-linear or ${allLoraTargets().join(',')}`), help);
  assert.ok(help.includes(`model_type ${supportedModelTypes().join(', ')}`), help);
});

test('a family registered at run time (one file: a copy of llama\'s entry) loads, trains a step and saves', async () => {
  const toy = registerFamily({ ...llama, modelType: 'webtune_toy', architectures: ['WebtuneToyForCausalLM'], description: 'test-only alias of llama' });
  assert.throws(() => registerFamily(toy), /registered twice/);
  assert.ok(supportedModelTypes().includes('webtune_toy'));
  // a Hugging Face directory of model_type webtune_toy
  const config = { ...tinyRandomConfig(64), modelType: 'webtune_toy' }, dir = mkdtempSync(join(tmpdir(), 'webtune-toy-'));
  const model = tinyRandomWeights(config);
  const json = makeHfConfigJson(config);
  assert.deepEqual([json.model_type, json.architectures], ['webtune_toy', ['WebtuneToyForCausalLM']]);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(json));
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(modelToHfTensors(model), { format: 'pt' }));
  const loaded = await loadHfLlama(dir);
  assert.deepEqual(loaded.config, { ...config, attentionBias: false, qkNorm: false });

  // one full-training step and one LoRA step on the reference kernels, each saved as a checkpoint
  const T = 8, ids = Int32Array.from({ length: 2 * T }, (_, j) => (j * 7 + 3) % 64);
  const batch = { ids, labels: Int32Array.from(ids, (_, j) => (j % T === T - 1 ? -100 : ids[j + 1])), positions: Int32Array.from(ids, (_, j) => j % T) };
  for (const lora of [undefined, { rank: 2, alpha: 4, dropout: 0, targets: parseTargetModules('all-linear', toy), seed: 1 }]) {
    const ops = new ReferenceTrainOps(), trainer = new LlamaTrainer(ops, loaded, { B: 2, T, lora });
    const loss = await trainer.forwardBackward(batch, 1 / 14);
    assert.ok(Number.isFinite(loss) && loss > 0, `loss ${loss}`);
    await trainer.step({ lr: 1e-2, weightDecay: 0, maxGradNorm: 1, optim: 'adamw' });
    const ckpt = join(mkdtempSync(join(tmpdir(), 'webtune-toy-ckpt-')), 'checkpoint-1');
    await saveCheckpoint(ckpt, { trainer, baseModel: dir, configJson: json, tokenizerFiles: [], trainerState: {}, scheduler: {}, rng: {}, args: {}, adamw: true });
    if (lora) {
      const keys = [...(await import('../models/safetensors.ts')).readSafetensors(readFileSync(join(ckpt, 'adapter_model.safetensors'))).tensors.keys()];
      assert.ok(keys.includes('base_model.model.model.layers.0.mlp.down_proj.lora_B.weight'), keys.join(' '));
    } else {
      const saved = await loadHfLlama(ckpt);
      assert.equal(saved.config.modelType, 'webtune_toy');
      assert.notDeepEqual(saved.weights.layers[0].q, loaded.weights.layers[0].q);
    }
    ops.destroy();
  }
});
