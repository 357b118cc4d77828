// `webtune sft`'s data side through the built CLI on stories260K (issue 12): preprocess's summary and a loud warning
// when --max_length drops rows; --max_length defaulting to the model's context and refused past it; preprocess
// output (pre-tokenized, plain or packed) trained on as the text it came from; preprocess's data flags honoured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli, SHARED, STORIES } from './helpers.ts';

const ALPACA = resolve(SHARED, 'datasets/llamafactory/alpaca_en_demo.json');
const SELF = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');
const tmp = () => mkdtempSync(join(tmpdir(), 'webtune-sft-data-'));
const sft = (...args: string[]) => runCli(['sft', '--model', STORIES, '--max_steps', '1', '--output_dir', tmp(), ...args]);
const losses = (stdout: string) => readFileSync(join(stdout.trim().split('\n').pop()!, 'logging.jsonl'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l)).filter((l) => 'loss' in l).map((l) => l.loss);
/** The summary lines of a run (webtune: lines between the start and "data:"), without preprocess's "→ file". */
const summary = (stderr: string) => stderr.split('\n').filter((l) => /^webtune: (\S*: \d+ rows read|--max_length|skipped|train:|val:|note:)/.test(l))
  .map((l) => l.replace(/ → .*$/, ''));

test('sft prints preprocess\'s data summary and warns when --max_length drops more than a few percent', async () => {
  const r = await sft('--dataset', ALPACA, '--max_length', '128');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /webtune: .*alpaca_en_demo\.json: 999 rows read \(alpaca\), 183 kept\n/);
  assert.match(r.stderr, /webtune: --max_length 128: 0 truncated \(delete\), 816 dropped for being longer than 128 tokens\n/);
  assert.match(r.stderr, /webtune: train: 183 rows, \d+ tokens, \d+ trained \(\d+\.\d%\)\n/);
  assert.match(r.stderr, /\nwebtune: warning: 816 of 999 rows \(81\.7%\) dropped: 816 longer than --max_length 128 tokens \(--truncation_strategy delete\); the longest row has \d+ tokens\. To train on them, raise --max_length \(the model's context is 512\) or keep them cut with --truncation_strategy left or right\n/);
  // the same lines preprocess prints for the same data and flags (one summary, one home)
  const p = await runCli(['preprocess', '--model', STORIES, '--dataset', ALPACA, '--max_length', '128', '--output', join(tmp(), 'e.jsonl')]);
  assert.equal(p.status, 0, p.stderr);
  assert.deepEqual(summary(r.stderr), summary(p.stderr));
  assert.match(p.stderr, /webtune: warning: 816 of 999 rows \(81\.7%\) dropped/);
  // cutting instead of dropping: counted, no warning
  const left = await sft('--dataset', `${ALPACA}#20`, '--max_length', '128', '--truncation_strategy', 'left');
  assert.equal(left.status, 0, left.stderr);
  assert.match(left.stderr, /webtune: --max_length 128: \d+ truncated \(left\)\n/);
  assert.doesNotMatch(left.stderr, /warning/);
});

test('--max_length defaults to the model\'s context; past it is an error unless --ignore_context_limit', async () => {
  const r = await sft('--dataset', `${ALPACA}#30`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /webtune: --max_length 512 \(default: the model's context, max_position_embeddings\): 0 truncated \(delete\), \d+ dropped for being longer than 512 tokens\n/);
  assert.match(r.stderr, /webtune: data: \d+ training and 0 validation sequences of up to (\d+) tokens/);
  assert.ok(Number(/sequences of up to (\d+) tokens/.exec(r.stderr)![1]) <= 512);
  const over = await sft('--dataset', ALPACA, '--max_length', '1024');
  assert.equal(over.status, 1);
  assert.match(over.stderr, /^webtune: error: --max_length 1024 is over the context of --model .*stories260K \(max_position_embeddings 512\): lower --max_length to 512 or less, or pass --ignore_context_limit to train on longer sequences anyway\n$/);
  const forced = await sft('--dataset', `${ALPACA}#4`, '--max_length', '600', '--ignore_context_limit', '--truncation_strategy', 'left');
  assert.equal(forced.status, 0, forced.stderr);
  assert.match(forced.stderr, /webtune: warning: --max_length 600 is over the model's context of 512 tokens \(--ignore_context_limit\)/);
});

test('sft trains on preprocess output: the same losses as on the text; packed lines repacked; bad ids named FILE:LINE', async () => {
  const d = tmp(), enc = join(d, 'enc.jsonl'), packed = join(d, 'packed.jsonl');
  const data = ['--template', 'default', '--model_name', '小白', 'Xiaobai', '--model_author', '网调', 'Webtune', '--dataset_shuffle', 'false'];
  const train = ['--max_length', '96', '--max_steps', '3', '--logging_steps', '1', '--per_device_train_batch_size', '2', '--seed', '5'];
  const p = await runCli(['preprocess', '--model', STORIES, '--dataset', SELF, '--output', enc, ...data]);
  assert.equal(p.status, 0, p.stderr);
  const text = await sft('--dataset', SELF, ...data, ...train);
  const tokenized = await sft('--dataset', enc, '--dataset_shuffle', 'false', ...train);
  assert.equal(text.status, 0, text.stderr);
  assert.equal(tokenized.status, 0, tokenized.stderr);
  assert.match(tokenized.stderr, /enc\.jsonl: 134 rows read \(tokenized\), (\d+) kept/);
  assert.equal(/rows read \(tokenized\), (\d+) kept/.exec(tokenized.stderr)![1], /rows read \(query\), (\d+) kept/.exec(text.stderr)![1]);
  assert.deepEqual(losses(tokenized.stdout), losses(text.stdout));
  assert.equal(losses(text.stdout).length, 3);
  // --dataset_shuffle is honoured: the default shuffles the rows, so the batches (and losses) differ
  const shuffled = await sft('--dataset', enc, ...train);
  assert.notDeepEqual(losses(shuffled.stdout), losses(text.stdout));
  // a packed file: split back into its rows, repacked by sft's own --packing --max_length
  const pp = await runCli(['preprocess', '--model', STORIES, '--dataset', SELF, '--output', packed, ...data, '--packing', '--max_length', '256']);
  assert.equal(pp.status, 0, pp.stderr);
  const [, rows, sequences] = /train: (\d+) rows, .* packed into (\d+) sequences of 256/.exec(pp.stderr)!;
  const rp = await sft('--dataset', packed, '--packing', '--max_length', '256');
  assert.equal(rp.status, 0, rp.stderr);
  assert.match(rp.stderr, new RegExp(`packed\\.jsonl: ${rows} rows read \\(tokenized\\), ${rows} kept`));
  assert.match(rp.stderr, new RegExp(`webtune: train: ${rows} rows, .* packed into ${sequences} sequences of 256\n`));
  // ids outside stories260K's 512-token vocabulary, labels of another length: one line naming file and line
  const bad = join(d, 'bad.jsonl');
  writeFileSync(bad, `${JSON.stringify({ input_ids: [1, 2, 3], labels: [1, 2, 3] })}\n${JSON.stringify({ input_ids: [1, 600, 3], labels: [1, 600, 3] })}\n`);
  const b = await sft('--dataset', bad);
  assert.equal(b.status, 1);
  assert.match(b.stderr, /^webtune: error: .*bad\.jsonl:2: bad token id: input_ids\[1\] = 600: expected a token id of the model's vocabulary \(0\.\.511\)\n$/);
  writeFileSync(bad, `${JSON.stringify({ input_ids: [1, 2, 3], labels: [1, 2] })}\n`);
  const l = await sft('--dataset', bad);
  assert.equal(l.status, 1);
  assert.match(l.stderr, /^webtune: error: .*bad\.jsonl:1: bad labels: "labels" has 2 entries and "input_ids" 3: they must be the same length\n$/);
});

test('sft honours preprocess\'s data flags: --debug (then trains), --loss_scale, --skip_bad_rows', async () => {
  const dbg = await sft('--dataset', `${SELF}#4`, '--template', 'default', '--model_name', 'W', '--model_author', 'A', '--max_length', '128',
    '--debug', '1', '--dataset_shuffle', 'false');
  assert.equal(dbg.status, 0, dbg.stderr);
  assert.match(dbg.stderr, /── .*self_cognition\.jsonl:\d+: \d+ tokens, \d+ trained \(inside ⟦ ⟧\)\n\s*<s>\n### Human:\n.*\n\n### Assistant:\n⟦/);
  assert.equal(dbg.stderr.match(/── /g)!.length, 1);
  assert.match(dbg.stderr, /train 1\/1 /);
  const all = await sft('--dataset', `${ALPACA}#10`, '--max_length', '512', '--loss_scale', 'all');
  assert.equal(all.status, 0, all.stderr);
  assert.match(all.stderr, /webtune: train: 10 rows, (\d+) tokens, \1 trained \(100\.0%\)\n/);
  const d = tmp(), bad = join(d, 'mixed.jsonl');
  writeFileSync(bad, '{"query": "Who are you?", "response": "A story model."}\n{"query": "q2", "response": \n');
  const stop = await sft('--dataset', bad);
  assert.equal(stop.status, 1);
  assert.match(stop.stderr, /^webtune: error: .*mixed\.jsonl:2: malformed JSON: /);
  const skip = await sft('--dataset', bad, '--skip_bad_rows');
  assert.equal(skip.status, 0, skip.stderr);
  assert.match(skip.stderr, /mixed\.jsonl: 2 rows read \(query\), 1 kept\n/);
  assert.match(skip.stderr, /webtune: skipped 1 bad row: 1 malformed JSON\n/);
});
