import '../runtime/wasm-embedded.ts';
// preprocess() end to end with the reference tokenizer: self-cognition, bad input (errors naming file and line,
// or counts per reason with skipBadRows), truncation, mixing and splitting, packing, atomic output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { preprocess, type PreprocessOptions } from '../src/data/preprocess.ts';
import { LF, MS, QWEN3, refTokenizer, tmpFile, tmpPath } from './data-helpers.ts';

const tok = refTokenizer(QWEN3);
let n = 0;
const out = () => tmpPath(`out-${n++}.jsonl`);
const run = (o: Partial<PreprocessOptions> & { datasets: string[] }) => preprocess(tok, { output: out(), ...o });
const lines = (p: string) => readFileSync(p, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { input_ids: number[]; labels: number[]; position_ids?: number[]; lengths?: number[] });
const trainedText = (r: { input_ids: number[]; labels: number[] }) => tok.decode(r.input_ids.filter((_, i) => r.labels[i] !== -100));

test('alpaca row: prompt untrained, the answer and <|im_end|> trained, labels equal ids there', async () => {
  const o = out();
  const res = await run({ datasets: [join(MS, 'format-alpaca.jsonl')], output: o, shuffle: false });
  const rows = lines(o);
  assert.equal(rows.length, 3);
  // Qwen3's template gives the final answer an empty reasoning block: it is part of what the model must produce
  assert.equal(trainedText(rows[1]), '<think>\n\n</think>\n\nccccc<|im_end|>');
  assert.equal(tok.decode(rows[1].input_ids), '<|im_start|>user\naaaaa<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nccccc<|im_end|>\n');
  // history turns are trained too (default loss_scale)
  assert.equal(trainedText(rows[0]), 'bbbbb<|im_end|><think>\n\n</think>\n\n33333<|im_end|>');
  rows.forEach((r) => r.labels.forEach((l, i) => assert.ok(l === -100 || l === r.input_ids[i])));
  assert.match(res.summary.join('\n'), /format-alpaca\.jsonl: 3 rows read \(alpaca\), 3 kept/);
  assert.match(res.summary.join('\n'), /train: 3 rows, \d+ tokens, \d+ trained \(\d+\.\d%\)/);
});

test('self-cognition: name and author filled by language tag or script; no placeholder left', async () => {
  const o = out();
  const sc = join(MS, 'self_cognition.jsonl'), id = join(LF, 'identity.json');
  const res = await run({
    datasets: [sc, id], output: o, shuffle: false,
    identity: { name: { zh: '小黄', en: 'Xiao Huang' }, author: { zh: '魔搭', en: 'ModelScope' } },
  });
  const rows = lines(o);
  const sources = [
    ...readFileSync(sc, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).map((r) => ({ zh: r.tag === 'zh', answer: r.response as string })),
    ...JSON.parse(readFileSync(id, 'utf8')).map((r: Record<string, string>) => ({ zh: /\p{Script=Han}/u.test(r.instruction + r.input + r.output), answer: r.output })),
  ];
  assert.equal(rows.length, sources.length);
  rows.forEach((r, i) => {
    assert.doesNotMatch(tok.decode(r.input_ids), /\{\{(NAME|AUTHOR|name|author)\}\}/);
    const answer = trainedText(r);
    const { zh, answer: src } = sources[i];
    const [name, author, otherName, otherAuthor] = zh ? ['小黄', '魔搭', 'Xiao Huang', 'ModelScope'] : ['Xiao Huang', 'ModelScope', '小黄', '魔搭'];
    if (/\{\{(NAME|name)\}\}/.test(src)) assert.ok(answer.includes(name), `row ${i}: ${answer}`);
    if (/\{\{(AUTHOR|author)\}\}/.test(src)) assert.ok(answer.includes(author), `row ${i}: ${answer}`);
    assert.ok(!answer.includes(otherName) && !answer.includes(otherAuthor), `row ${i}: ${answer}`);
  });
  assert.match(res.summary.join('\n'), /self_cognition\.jsonl: 134 rows read \(query\), 134 kept, \d+ with the model's name\/author filled in/);
  // without --model_name the placeholder is a bad row, not silently trained
  await assert.rejects(run({ datasets: [id] }), /identity\.json:2: unfilled placeholder: the row has \{\{name\}\} but --model_name was not given/);
});

test('bad input: malformed JSON line, no answer, unknown role — first one stops the run, naming file and line', async () => {
  const bad = tmpFile('bad-rows.jsonl', [
    '{"query": "q1", "response": "r1"}',
    '{"query": "q2", "response": ',
    '{"messages": [{"role": "user", "content": "only a question"}]}',
    '{"messages": [{"role": "user", "content": "x"}, {"role": "narrator", "content": "y"}, {"role": "assistant", "content": "z"}]}',
    '{"query": "q5", "response": "r5"}',
    '{"messages": [{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}, {"role": "human", "content": "z"}]}',
  ].join('\n'));
  const o = out();
  await assert.rejects(run({ datasets: [bad], output: o }), /bad-rows\.jsonl:2: malformed JSON: /);
  assert.ok(!existsSync(o), 'no output on failure');
  assert.deepEqual(readdirSync(dirname(o)).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
  const res = await run({ datasets: [bad], output: o, skipBadRows: true });
  assert.equal(lines(o).length, 2);
  const s = res.summary.join('\n');
  assert.match(s, /bad-rows\.jsonl: 6 rows read \(query\), 2 kept/);
  assert.match(s, /skipped 4 bad rows: 1 malformed JSON, 2 no assistant answer, 1 unknown role/);
  assert.match(s, /e\.g\. .*bad-rows\.jsonl:4: unknown role: message 2 has role "narrator"/);
});

test('missing file, empty dataset, nothing kept: errors naming the file', async () => {
  await assert.rejects(run({ datasets: ['/nonexistent/train.jsonl'] }), /dataset not found: \/nonexistent\/train\.jsonl/);
  const empty = tmpFile('empty.jsonl', '\n\n');
  await assert.rejects(run({ datasets: [empty] }), /empty\.jsonl: empty dataset \(no rows\)/);
  await assert.rejects(run({ datasets: [tmpFile('empty.json', '[]')] }), /empty\.json: empty dataset/);
  const allBad = tmpFile('all-bad.jsonl', '{"query": "q"}\n');
  await assert.rejects(run({ datasets: [allBad], skipBadRows: true }), /no rows kept from .*all-bad\.jsonl \(1 skipped/);
});

test('truncation: delete (default), left, right — counted', async () => {
  const data = join(LF, 'alpaca_en_demo.json');
  const del = await run({ datasets: [data], maxLength: 128 });
  const kept = del.train.rows;
  assert.ok(kept > 100 && kept < 999);
  assert.equal(del.stats.droppedTooLong, 999 - kept);
  assert.match(del.summary.join('\n'), new RegExp(`--max_length 128: 0 truncated \\(delete\\), ${999 - kept} dropped for being longer than 128 tokens`));
  for (const strategy of ['left', 'right'] as const) {
    const o = out();
    const r = await run({ datasets: [data], maxLength: 128, truncationStrategy: strategy, output: o });
    assert.equal(r.stats.truncated, 999 - kept);
    assert.equal(r.train.rows + r.stats.droppedUntrained, 999);
    for (const row of lines(o)) assert.ok(row.input_ids.length <= 128);
    if (strategy === 'right') assert.ok(r.stats.droppedUntrained === 0 || r.stats.droppedUntrained < 999 - kept);
  }
});

test('mixing and splitting: path#N, seeded shuffle, split ratio, validation files', async () => {
  const a = join(MS, 'format-chatml.jsonl'), b = join(MS, 'format-swift_single.jsonl');
  const o1 = out(), o2 = out(), o3 = out();
  const r1 = await run({ datasets: [`${a}#7`, `${b}#2`], output: o1, seed: 5 });
  assert.equal(r1.train.rows, 9);
  await run({ datasets: [`${a}#7`, `${b}#2`], output: o2, seed: 5 });
  assert.equal(readFileSync(o1, 'utf8'), readFileSync(o2, 'utf8'), 'same seed, same output');
  await run({ datasets: [`${a}#7`, `${b}#2`], output: o3, seed: 6 });
  assert.notEqual(readFileSync(o1, 'utf8'), readFileSync(o3, 'utf8'));
  const o4 = out();
  const r4 = await run({ datasets: [join(LF, 'alpaca_en_demo.json')], output: o4, splitDatasetRatio: 0.1, valDatasets: [b] });
  assert.equal(r4.train.rows, 899);
  assert.equal(r4.val!.rows, 100 + 3);
  assert.equal(r4.valPath, o4.replace(/\.jsonl$/, '.val.jsonl'));
  assert.equal(lines(r4.valPath!).length, 103);
});

test('packing writes sequences of whole rows, positions restarting per row', async () => {
  const plain = out(), packed = out();
  await run({ datasets: [join(LF, 'identity.json')], output: plain, shuffle: false, identity: { name: { zh: 'W', en: 'W' }, author: { zh: 'A', en: 'A' } } });
  const r = await run({ datasets: [join(LF, 'identity.json')], output: packed, packing: true, maxLength: 256, identity: { name: { zh: 'W', en: 'W' }, author: { zh: 'A', en: 'A' } } });
  const seqs = lines(packed);
  assert.equal(seqs.length, Number(r.summary.join().match(/packed into (\d+) sequences/)![1]));
  const rows = new Map(lines(plain).map((x) => [x.input_ids.join(','), x]));
  let count = 0;
  for (const s of seqs) {
    assert.ok(s.input_ids.length <= 256);
    let at = 0;
    for (const len of s.lengths!) {
      const ids = s.input_ids.slice(at, at + len);
      const row = rows.get(ids.join(','));
      assert.ok(row, 'each packed row is one of the unpacked rows');
      assert.deepEqual(s.position_ids!.slice(at, at + len), ids.map((_, j) => j));
      assert.deepEqual(s.labels.slice(at + 1, at + len), row!.labels.slice(1));
      assert.equal(s.labels[at], -100);
      at += len;
      count++;
    }
  }
  assert.equal(count, 91);
});

test('CSV and .txt datasets; the system prompt option fills rows without one', async () => {
  const csv = tmpFile('d2.csv', 'prompt,completion\n"Hello, you",Hi there\n');
  const txt = tmpFile('d2.txt', 'Some pretraining text.\n');
  const o = out();
  await run({ datasets: [csv, txt], output: o, shuffle: false, system: 'Be brief.' });
  const [a, b] = lines(o);
  assert.equal(tok.decode(a.input_ids), '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello, you<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHi there<|im_end|>\n');
  assert.equal(tok.decode(b.input_ids), 'Some pretraining text.<|im_end|>');
  assert.equal(trainedText(b), 'Some pretraining text.<|im_end|>');
});
