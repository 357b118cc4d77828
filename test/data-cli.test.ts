// `webtune preprocess` through the built CLI (dist/webtune.mjs) with webtune's own tokenizer on a tokenizer-only
// directory: its input_ids and labels equal the library pipeline's with the reference tokenizer; --debug shows
// trained tokens; errors are one line naming file and line; config.json's context is the default --max_length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { preprocess } from '../src/data/preprocess.ts';
import { runCli } from './helpers.ts';
import { LF, MS, QWEN3, LLAMA3, refTokenizer, tmpFile, tmpPath } from './data-helpers.ts';

const read = (p: string) => readFileSync(p, 'utf8');

test('preprocess CLI: same input_ids and labels as the pipeline with the reference tokenizer', async () => {
  for (const [dir, datasets, extra] of [
    [QWEN3, [join(LF, 'glaive_toolcall_en_demo.json'), join(MS, 'format-chatml.jsonl')], []],
    [LLAMA3, [join(LF, 'alpaca_zh_demo.json')], ['--template', 'llama3', '--max_length', '300', '--truncation_strategy', 'left']],
    [QWEN3, [join(MS, 'self_cognition.jsonl')], ['--model_name', '小黄', 'Xiao Huang', '--model_author', '魔搭', 'ModelScope', '--template', 'qwen']],
  ] as const) {
    const out = tmpPath(`cli-${Math.random().toString(36).slice(2)}.jsonl`);
    const r = await runCli(['preprocess', '--model', dir, '--dataset', ...datasets, '--output', out, ...extra]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /webtune: train: \d+ rows, \d+ tokens, \d+ trained \(\d+\.\d%\) → /);
    const refOut = tmpPath(`ref-${Math.random().toString(36).slice(2)}.jsonl`);
    const flags = extra as readonly string[];
    const at = (f: string) => (flags.includes(f) ? flags[flags.indexOf(f) + 1] : undefined);
    await preprocess(refTokenizer(dir), {
      datasets: [...datasets], output: refOut, template: at('--template'),
      maxLength: at('--max_length') ? Number(at('--max_length')) : undefined, truncationStrategy: at('--truncation_strategy') as 'left' | undefined,
      identity: flags.includes('--model_name') ? { name: { zh: '小黄', en: 'Xiao Huang' }, author: { zh: '魔搭', en: 'ModelScope' } } : undefined,
    });
    assert.equal(read(out), read(refOut), `${dir} ${datasets.join(' ')}`);
  }
});

test('preprocess CLI: --debug highlights trained tokens; --packing; --split_dataset_ratio', async () => {
  const out = tmpPath('cli-debug.jsonl');
  const r = await runCli(['preprocess', '--model', QWEN3, '--dataset', join(MS, 'format-swift_single.jsonl'), '--output', out,
    '--debug', '2', '--dataset_shuffle', 'false', '--system', 'Be brief.']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /── .*format-swift_single\.jsonl:1: \d+ tokens, \d+ trained \(inside ⟦ ⟧\)\n<\|im_start\|>system\n00000<\|im_end\|>\n<\|im_start\|>user\n11111<\|im_end\|>\n<\|im_start\|>assistant\n⟦<think>\n\n<\/think>\n\n22222<\|im_end\|>⟧\n/);
  assert.match(r.stderr, /format-swift_single\.jsonl:2: .*\n<\|im_start\|>system\nBe brief\.<\|im_end\|>/);
  assert.doesNotMatch(r.stderr, /format-swift_single\.jsonl:3:/);
  const packed = tmpPath('cli-packed.jsonl');
  const p = await runCli(['preprocess', '--model', QWEN3, '--dataset', join(LF, 'alpaca_en_demo.json'), '--output', packed,
    '--packing', '--max_length', '1024', '--split_dataset_ratio', '0.05']);
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stderr, /train: 949 rows, .* packed into \d+ sequences of 1024/);
  assert.match(p.stderr, /val: 50 rows/);
  assert.ok(existsSync(packed.replace(/\.jsonl$/, '.val.jsonl')));
});

test('preprocess CLI errors: one line naming the file and line; --skip_bad_rows counts', async () => {
  const bad = tmpFile('cli-bad.jsonl', '{"query": "q", "response": "r"}\n{"query": "q2"\n{"messages": [{"role": "user", "content": "x"}]}\n');
  const out = tmpPath('cli-bad-out.jsonl');
  const cases: [string[], RegExp][] = [
    [['--dataset', bad, '--output', out], /^webtune: error: .*cli-bad\.jsonl:2: malformed JSON: .*\n$/],
    [['--dataset', '/nonexistent.jsonl', '--output', out], /^webtune: error: dataset not found: \/nonexistent\.jsonl\n$/],
    [['--dataset', tmpFile('cli-empty.jsonl', ''), '--output', out], /^webtune: error: .*cli-empty\.jsonl: empty dataset \(no rows\)\n$/],
    [['--dataset', bad], /^webtune: error: preprocess: --output is required\n$/],
    [['--dataset', bad, '--output', out, '--truncation_strategy', 'middle'], /error: option '--truncation_strategy <s>' argument 'middle' is invalid/],
    [['--dataset', bad, '--output', out, '--template', 'nope'], /error: option '--template <name>' argument 'nope' is invalid/],
    [['--dataset', bad, '--output', out, '--packing'], /^webtune: error: preprocess: --packing needs --max_length/],
  ];
  for (const [args, msg] of cases) {
    const r = await runCli(['preprocess', '--model', QWEN3, ...args]);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.ok(!existsSync(out));
  }
  const noModel = await runCli(['preprocess', '--dataset', bad, '--output', out]);
  assert.match(noModel.stderr, /^webtune: error: preprocess: --model is required/);
  const missingModel = await runCli(['preprocess', '--model', '/nonexistent-model', '--dataset', bad, '--output', out]);
  assert.match(missingModel.stderr, /^webtune: error: --model \/nonexistent-model: /);
  const skip = await runCli(['preprocess', '--model', QWEN3, '--dataset', bad, '--output', out, '--skip_bad_rows']);
  assert.equal(skip.status, 0, skip.stderr);
  assert.match(skip.stderr, /cli-bad\.jsonl: 3 rows read \(query\), 1 kept/);
  assert.match(skip.stderr, /skipped 2 bad rows: 1 malformed JSON, 1 no assistant answer/);
  assert.equal(read(out).trim().split('\n').length, 1);
});

test('preprocess CLI: --max_length defaults to config.json\'s max_position_embeddings, past it only with --ignore_context_limit', async () => {
  const dir = tmpPath(`model-${Math.random().toString(36).slice(2)}`);
  (await import('node:fs')).mkdirSync(dir);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(QWEN3, f), join(dir, f));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'qwen3', max_position_embeddings: 128, vocab_size: 151936 }));
  const data = join(LF, 'alpaca_en_demo.json'), out = tmpPath('cli-context.jsonl');
  const r = await runCli(['preprocess', '--model', dir, '--dataset', data, '--output', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /webtune: --max_length 128 \(default: the model's context, max_position_embeddings\): 0 truncated \(delete\), (\d+) dropped for being longer than 128 tokens\n/);
  assert.match(r.stderr, /webtune: warning: \d+ of 999 rows \(\d+\.\d%\) dropped: .*--max_length 128.*--truncation_strategy left or right\n/);
  for (const row of read(out).trim().split('\n')) assert.ok(JSON.parse(row).input_ids.length <= 128);
  const over = await runCli(['preprocess', '--model', dir, '--dataset', data, '--output', out, '--max_length', '200']);
  assert.equal(over.status, 1);
  assert.match(over.stderr, /^webtune: error: --max_length 200 is over the context of --model .* \(max_position_embeddings 128\): lower --max_length to 128 or less, or pass --ignore_context_limit/);
  const forced = await runCli(['preprocess', '--model', dir, '--dataset', data, '--output', out, '--max_length', '200', '--ignore_context_limit']);
  assert.equal(forced.status, 0, forced.stderr);
  assert.match(forced.stderr, /^webtune: warning: --max_length 200 is over the model's context of 128 tokens/);
  // vocab_size checks pre-tokenized ids
  const tok = tmpFile('cli-ids.jsonl', `${JSON.stringify({ input_ids: [1, 200000], labels: [1, 200000] })}\n`);
  const ids = await runCli(['preprocess', '--model', dir, '--dataset', tok, '--output', out]);
  assert.equal(ids.status, 1);
  assert.match(ids.stderr, /^webtune: error: .*cli-ids\.jsonl:1: bad token id: input_ids\[1\] = 200000: expected a token id of the model's vocabulary \(0\.\.151935\)\n$/);
  // a tokenizer-only directory gives no context: no limit
  const free = await runCli(['preprocess', '--model', QWEN3, '--dataset', data, '--output', out]);
  assert.equal(free.status, 0, free.stderr);
  assert.doesNotMatch(free.stderr, /--max_length/);
});
