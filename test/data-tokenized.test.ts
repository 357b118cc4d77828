import '../runtime/wasm-embedded.ts';
// Pre-tokenized rows (preprocess's own output) read back by the pipeline: a round trip gives the same rows, packed
// lines split back into their rows, ids checked against the vocabulary, bad rows named FILE:LINE. And the data
// flags: one definition, the same on preprocess and sft.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { preprocess } from '../src/data/preprocess.ts';
import { parseTokenizedRow } from '../src/data/tokenized.ts';
import { preprocessCommand } from '../src/cli/preprocess.ts';
import { sftCommand } from '../src/cli/sft.ts';
import { LF, MS, QWEN3, refTokenizer, tmpFile, tmpPath } from './data-helpers.ts';

const tok = refTokenizer(QWEN3);
const at = { file: 'x.jsonl', line: 7 };
let n = 0;
const out = () => tmpPath(`tok-${n++}.jsonl`);

test('preprocess output read back by preprocess: the same rows, packed lines split into their rows', async () => {
  const first = out(), again = out(), packed = out(), unpacked = out();
  const data = [join(LF, 'identity.json'), join(MS, 'format-chatml.jsonl')];
  const identity = { name: { zh: 'W', en: 'W' }, author: { zh: 'A', en: 'A' } };
  await preprocess(tok, { datasets: data, output: first, shuffle: false, identity });
  const r = await preprocess(tok, { datasets: [first], output: again, shuffle: false, template: 'chatml' });
  assert.equal(readFileSync(again, 'utf8'), readFileSync(first, 'utf8'));
  const s = r.summary.join('\n');
  assert.match(s, /tok-0\.jsonl: 94 rows read \(tokenized\), 94 kept/);
  assert.match(s, /note: 94 pre-tokenized rows used as encoded: --template, --system, --loss_scale and --model_name\/--model_author do not apply/);
  // packed → split back: the same multiset of rows (each row's first label is -100 in a packed line)
  const p = await preprocess(tok, { datasets: [first], output: packed, packing: true, maxLength: 512 });
  assert.match(p.summary.join('\n'), /train: 94 rows, .* packed into \d+ sequences of 512/);
  await preprocess(tok, { datasets: [packed], output: unpacked, shuffle: false });
  const key = (l: string) => { const o = JSON.parse(l); return `${o.input_ids}|${o.labels.slice(1)}`; };
  const rows = (f: string) => readFileSync(f, 'utf8').trim().split('\n').map(key).sort();
  assert.deepEqual(rows(unpacked), rows(first));
});

test('a pre-tokenized row is truncated by --max_length like a text row', async () => {
  const f = tmpFile('tok-long.jsonl', `${JSON.stringify({ input_ids: [1, 2, 3, 4, 5, 6], labels: [-100, -100, 3, 4, 5, 6] })}\n`);
  const del = await preprocess(tok, { datasets: [f], output: out(), maxLength: 4, skipBadRows: true }).catch((e) => e);
  assert.match(String(del), /no rows kept from .*tok-long\.jsonl \(0 skipped, 1 longer than --max_length 4/);
  const o = out();
  await preprocess(tok, { datasets: [f], output: o, maxLength: 4, truncationStrategy: 'left' });
  assert.deepEqual(JSON.parse(readFileSync(o, 'utf8')), { input_ids: [3, 4, 5, 6], labels: [3, 4, 5, 6] });
});

test('bad pre-tokenized rows: FILE:LINE, the field and what is expected', () => {
  const bad = (row: object, vocab: number | undefined, msg: RegExp) => assert.throws(() => parseTokenizedRow(row as Record<string, unknown>, at, vocab), msg);
  bad({ input_ids: [1, 512, 3], labels: [1, 512, 3] }, 512, /x\.jsonl:7: bad token id: input_ids\[1\] = 512: expected a token id of the model's vocabulary \(0\.\.511\)$/);
  bad({ input_ids: [1, -2], labels: [1, 2] }, undefined, /x\.jsonl:7: bad token id: input_ids\[1\] = -2/);
  bad({ input_ids: [1, 2, 3], labels: [1, 2] }, 512, /x\.jsonl:7: bad labels: "labels" has 2 entries and "input_ids" 3: they must be the same length/);
  bad({ input_ids: [1, 2, 3], labels: [2, 3, -100] }, 512, /x\.jsonl:7: bad labels: labels\[0\] = 2 is neither -100 nor input_ids\[0\] \(1\): labels are unshifted/);
  bad({ input_ids: [1, 2, 3] }, 512, /x\.jsonl:7: no labels: /);
  bad({ input_ids: [1, 2, 3], labels: [1, 2, 3], lengths: [1, 1] }, 512, /"lengths" add up to 2 tokens but "input_ids" has 3/);
  bad({ input_ids: [1, 2, 3], labels: [1, 2, 3], position_ids: [0, 2, 3] }, 512, /position_ids\[1\] = 2: positions count up from 0/);
  bad({ input_ids: [1, 2, 3], labels: [1, 2, 3], position_ids: [0, 1, 0], lengths: [1, 2] }, 512, /"lengths" \[1,2\] disagree/);
  const rows = parseTokenizedRow({ input_ids: [5, 6, 7, 8, 9], labels: [-100, 6, -100, -100, 9], position_ids: [0, 1, 0, 1, 2] }, at, 512);
  assert.deepEqual(rows.map((r) => [[...r.ids], [...r.mask]]), [[[5, 6], [0, 1]], [[7, 8, 9], [0, 0, 1]]]);
});

test('--skip_bad_rows counts bad pre-tokenized rows per reason', async () => {
  const f = tmpFile('tok-bad.jsonl', [
    { input_ids: [1, 2], labels: [1, 2] }, { input_ids: [1, 2], labels: [1] }, { input_ids: [1, 2], labels: [-100, -100] },
  ].map((r) => JSON.stringify(r)).join('\n'));
  const r = await preprocess(tok, { datasets: [f], output: out(), skipBadRows: true });
  assert.match(r.summary.join('\n'), /tok-bad\.jsonl: 3 rows read \(tokenized\), 1 kept/);
  assert.match(r.summary.join('\n'), /skipped 2 bad rows: 1 bad labels, 1 no trained tokens/);
});

test('one definition of the data flags: preprocess and sft declare the same ones, help, defaults and choices', () => {
  const DATA = ['--dataset', '--val_dataset', '--template', '--system', '--max_length', '--ignore_context_limit', '--truncation_strategy',
    '--loss_scale', '--model_name', '--model_author', '--dataset_shuffle', '--split_dataset_ratio', '--packing', '--skip_bad_rows', '--debug'];
  const describe = (c: ReturnType<typeof sftCommand>) => new Map(c.options.map((o) => [o.long, JSON.stringify([o.flags, o.description, o.defaultValue, o.argChoices])]));
  const sft = describe(sftCommand()), pre = describe(preprocessCommand());
  for (const flag of DATA) {
    assert.ok(sft.has(flag), `sft ${flag}`);
    assert.equal(sft.get(flag), pre.get(flag), flag);
  }
});
