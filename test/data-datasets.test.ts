// Readers and format detection: every shared dataset file parses into conversations; the JSON array reader
// streams (same rows at any chunk size); CSV and .txt; each format's normalisation; bad rows name file and line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { normalizeRow } from '../src/data/normalize.ts';
import { readCsv } from '../src/data/read-csv.ts';
import { readJsonFile } from '../src/data/read-json.ts';
import { readRows, type ReadItem } from '../src/data/readers.ts';
import { DatasetError, RowError, type Conversation } from '../src/data/types.ts';
import { collect, LF, MS, tmpFile } from './data-helpers.ts';

const EXPECTED_ROWS: Record<string, number> = {
  'alpaca_en_demo.json': 999, 'alpaca_zh_demo.json': 1000, 'identity.json': 91, 'glaive_toolcall_en_demo.json': 300,
  'v1_sft_demo.jsonl': 500, 'dpo_en_demo.json': 300, 'self_cognition.jsonl': 134,
  'format-alpaca.jsonl': 3, 'format-chatml.jsonl': 3, 'format-conversations.jsonl': 3, 'format-sharegpt.jsonl': 3,
  'format-swift_multi.jsonl': 3, 'format-swift_pre.jsonl': 3, 'format-swift_single.jsonl': 3,
};

async function conversations(file: string): Promise<{ conv: Conversation; format: string }[]> {
  return (await collect(readRows(file))).map((it) => {
    if ('error' in it) throw it.error;
    return normalizeRow(it.value, it);
  });
}

test('every shared dataset file parses into conversations', async () => {
  const files = [...readdirSync(LF).map((f) => join(LF, f)), ...readdirSync(MS).map((f) => join(MS, f))]
    .filter((f) => /\.jsonl?$/.test(f) && !f.endsWith('dataset_info.json'));
  assert.equal(files.length, Object.keys(EXPECTED_ROWS).length);
  for (const f of files) {
    const rows = await conversations(f);
    assert.equal(rows.length, EXPECTED_ROWS[f.split('/').pop()!], f);
    for (const { conv } of rows) {
      if (conv.text !== undefined) continue;
      assert.equal(conv.messages[conv.messages.length - 1].role, 'assistant', f);
    }
  }
  // LLaMA-Factory's registry is recognised and refused with a clear message
  await assert.rejects(collect(readRows(join(LF, 'dataset_info.json'))), /dataset registry .* not a dataset/);
});

test('formats: each shape becomes the same conversation', async () => {
  const f = (name: string) => conversations(join(MS, name));
  const alpaca = await f('format-alpaca.jsonl');
  assert.equal(alpaca[0].format, 'alpaca');
  assert.deepEqual(alpaca[0].conv, {
    system: 'system123',
    messages: [{ role: 'user', content: 'aaaaa' }, { role: 'assistant', content: 'bbbbb' },
      { role: 'user', content: '11111\n22222' }, { role: 'assistant', content: '33333' }],
  });
  assert.deepEqual(alpaca[1].conv.messages, [{ role: 'user', content: 'aaaaa' }, { role: 'assistant', content: 'ccccc' }]);
  const multi = [{ role: 'user', content: 'AAAAA' }, { role: 'assistant', content: 'BBBBB' }, { role: 'user', content: 'CCCCC' }, { role: 'assistant', content: 'DDDDD' }];
  for (const name of ['format-chatml.jsonl', 'format-conversations.jsonl']) {
    const rows = await f(name);
    assert.deepEqual(rows[0].conv, { system: '00000', messages: [{ role: 'user', content: '11111' }, { role: 'assistant', content: '22222' }] }, name);
    assert.deepEqual(rows[2].conv.messages, multi, name);
  }
  const swift = await f('format-sharegpt.jsonl');
  assert.equal(swift[0].format, 'swift');
  assert.deepEqual(swift[0].conv, { system: '00000', messages: [{ role: 'user', content: '11111' }, { role: 'assistant', content: '22222' }] });
  assert.equal(swift[2].conv.messages.length, 6);
  const qr = await f('format-swift_multi.jsonl');
  assert.equal(qr[2].format, 'query');
  assert.deepEqual(qr[2].conv.messages, [...multi, { role: 'user', content: 'EEEEE' }, { role: 'assistant', content: 'FFFFF' }]);
  const pre = await f('format-swift_pre.jsonl');
  assert.deepEqual(pre.map((r) => [r.format, r.conv.text]), [['text', '11111'], ['text', 'aaaaa'], ['text', 'AAAAA']]);

  // sharegpt with function_call/observation: tool calls on the assistant turn, results as tool messages
  const glaive = await conversations(join(LF, 'glaive_toolcall_en_demo.json'));
  const g = glaive[0].conv;
  assert.equal((g.tools as { name: string }[])[0].name, 'search_recipes');
  assert.deepEqual(g.messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'tool', 'assistant', 'user', 'assistant']);
  assert.deepEqual(g.messages[3].tool_calls, [{ type: 'function', function: { name: 'search_recipes', arguments: { ingredients: ['chicken', 'bell peppers', 'rice'] } } }]);
  // typed content parts and loss weights (LLaMA-Factory v1), preference rows (trained on "chosen")
  const v1 = await conversations(join(LF, 'v1_sft_demo.jsonl'));
  assert.deepEqual(v1[0].conv.messages, [{ role: 'user', content: 'hi', loss: false },
    { role: 'assistant', content: 'Hello! I am {{name}}, an AI assistant developed by {{author}}. How can I assist you today?', loss: true }]);
  const dpo = await conversations(join(LF, 'dpo_en_demo.json'));
  assert.equal(dpo[0].format, 'preference');
  assert.equal(dpo[0].conv.messages[1].role, 'assistant');
  assert.match(dpo[0].conv.messages[1].content, /^That sounds like a fun and engaging idea!/);

  // aliases: prompt/completion, input/answer; OpenAI tool calls with string arguments; tool results
  const o = (v: unknown) => normalizeRow(v, { file: 'x', line: 1 });
  assert.deepEqual(o({ prompt: 'p', completion: 'c' }).conv.messages, [{ role: 'user', content: 'p' }, { role: 'assistant', content: 'c' }]);
  assert.deepEqual(o({ input: 'p', answer: 'c', history: [['q0', 'r0']] }).conv.messages.map((m) => m.content), ['q0', 'r0', 'p', 'c']);
  const openai = o({ messages: [{ role: 'user', content: 'w?' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a": 1}' } }] },
    { role: 'tool', tool_call_id: 'c1', name: 'f', content: '2' }, { role: 'assistant', content: 'It is 2.' }],
  tools: [{ type: 'function', function: { name: 'f' } }] }).conv;
  assert.deepEqual(openai.messages[1], { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{"a": 1}' } }] });
  assert.deepEqual(openai.messages[2], { role: 'tool', content: '2', name: 'f' });
  assert.equal(o({ text: 'plain' }).conv.text, 'plain');
});

test('bad rows: unknown role, no assistant answer, unknown format, bad tool call — each names file and line', () => {
  const at = { file: 'data/x.jsonl', line: 7 };
  const cases: [unknown, string, RegExp][] = [
    [{ messages: [{ role: 'user', content: 'a' }, { role: 'robot', content: 'b' }] }, 'unknown role', /role "robot"/],
    [{ messages: [{ role: 'user', content: 'a' }] }, 'no assistant answer', /no assistant message/],
    [{ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: 'c' }] }, 'no assistant answer', /ends with a user message/],
    [{ instruction: 'a', input: 'b' }, 'no assistant answer', /"response"/],
    [{ foo: 1 }, 'unknown format', /"foo"/],
    [[1, 2], 'unknown format', /must be a JSON object/],
    [{ conversations: [{ from: 'human', value: 'a' }, { from: 'function_call', value: 'not json' }] }, 'bad tool call', /not JSON/],
    [{ conversation: [{ human: 'a', robot: 'b' }] }, 'unknown role', /"robot"/],
    [{ messages: [{ role: 'user', content: [{ type: 'image', image: 'x.png' }] }, { role: 'assistant', content: 'b' }] }, 'unsupported content', /only text parts/],
    [{ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: '  ' }] }, 'empty answer', /empty/],
    [{ query: 'a', response: 'b', tools: '{broken' }, 'bad tools', /not JSON/],
  ];
  for (const [row, reason, detail] of cases) {
    assert.throws(() => normalizeRow(row, at), (e: unknown) => {
      assert.ok(e instanceof RowError, String(e));
      assert.equal(e.reason, reason, e.message);
      assert.match(e.message, new RegExp(`^data/x\\.jsonl:7: ${reason}: `));
      assert.match(e.message, detail);
      return true;
    });
  }
});

test('JSON array reader streams: the same rows at any chunk size, with their line numbers', async () => {
  const file = join(LF, 'alpaca_zh_demo.json');
  const whole = await collect(readJsonFile(file));
  for (const chunk of [61, 4093]) {
    const rows = await collect(readJsonFile(file, chunk));
    assert.deepEqual(rows, whole, `chunk ${chunk}`);
  }
  assert.equal(whole.length, 1000);
  assert.deepEqual((whole as { line: number }[]).slice(0, 3).map((r) => r.line), [2, 7, 12]);
  // odd but valid layouts: strings with brackets and escapes, nested arrays, one line
  const odd = tmpFile('odd.json', '[{"a": "]}[{\\"", "b": [[1], {"c": "\\\\"}]} ,\n {"q": "x\\ny"}, "scalar", 12]');
  const items = await collect(readJsonFile(odd, 5));
  assert.deepEqual(items.slice(0, 2).map((i) => 'value' in i && i.value), [{ a: ']}[{"', b: [[1], { c: '\\' }] }, { q: 'x\ny' }]);
  assert.deepEqual(items.slice(2).map((i) => 'value' in i && i.value), ['scalar', 12]);
});

test('malformed JSON: a bad element or line is a row error with its line; broken structure stops the read', async () => {
  const arr = tmpFile('bad.json', '[\n {"query": "a", "response": "b"},\n {"query": "c", "response": d},\n {"query": "e", "response": "f"}\n]\n');
  const items = await collect(readJsonFile(arr));
  assert.equal(items.length, 3);
  const bad = items[1] as { error: RowError };
  assert.equal(bad.error.reason, 'malformed JSON');
  assert.match(bad.error.message, /bad\.json:3: malformed JSON: /);
  const lines = tmpFile('bad.jsonl', '{"query": "a", "response": "b"}\n\n{"query": "c",\n{"query": "e", "response": "f"}\n');
  const li = await collect(readRows(lines));
  assert.deepEqual(li.map((i) => ('error' in i ? `error@${i.error.origin!.line}` : i.line)), [1, 'error@3', 4]);
  for (const [name, text, msg] of [
    ['unclosed.json', '[{"a": 1},\n{"b": [2, 3}\n', /unclosed\.json:3: malformed JSON array: the file ends inside the row that starts at line 2/],
    ['trailing.json', '[{"a": 1}] x', /trailing\.json:1: malformed JSON array: text after the closing "\]"/],
    ['noclose.json', '[{"a": 1},', /noclose\.json:1: malformed JSON array: the file ends before the closing "\]"/],
  ] as const) {
    await assert.rejects(collect(readRows(tmpFile(name, text))), (e: unknown) => e instanceof DatasetError && msg.test((e as Error).message));
  }
  await assert.rejects(collect(readRows('/nonexistent/data.jsonl')), /dataset not found: \/nonexistent\/data\.jsonl/);
  // JSON Lines under a .json name are read as JSON Lines (as Hugging Face's json loader does)
  const jl = await collect(readRows(tmpFile('lines.json', '{"query": "a", "response": "b"}\n\n{"query": "c", "response": "d"}\n')));
  assert.deepEqual(jl.map((i) => 'value' in i && [i.line, i.value]), [[1, { query: 'a', response: 'b' }], [3, { query: 'c', response: 'd' }]]);
  await assert.rejects(async () => collect(readRows(tmpFile('x.parquet', ''))), /unknown file type "\.parquet"/);
});

test('CSV: header, quotes, escaped quotes, newlines in fields, CRLF, at any chunk size; .txt lines', async () => {
  const text = '\ufeffinstruction,input,output\r\n"Say ""hi""",,"Hi,\r\nthere"\r\nplain,x,y\r\n\r\nshort,row\r\n"a","b","c"';
  const file = tmpFile('d.csv', text);
  const expect = [
    { line: 2, value: { instruction: 'Say "hi"', input: '', output: 'Hi,\r\nthere' } },
    { line: 4, value: { instruction: 'plain', input: 'x', output: 'y' } },
    { error: /d\.csv:6: malformed CSV: 2 fields, the header has 3/ },
    { line: 7, value: { instruction: 'a', input: 'b', output: 'c' } },
  ];
  for (const chunk of [1, 2, 3, 5, 1 << 20]) {
    const items: ReadItem[] = await collect(readCsv(file, chunk));
    assert.equal(items.length, expect.length, `chunk ${chunk}`);
    items.forEach((it, i) => {
      const e = expect[i];
      if ('error' in e) assert.match((it as { error: Error }).error.message, e.error as RegExp, `chunk ${chunk}`);
      else assert.deepEqual({ line: (it as { line: number }).line, value: (it as { value: unknown }).value }, e, `chunk ${chunk}`);
    });
  }
  const txt = tmpFile('p.txt', 'first line\n\nsecond line\r\n');
  assert.deepEqual(await collect(readRows(txt)), [{ file: txt, line: 1, value: { text: 'first line' } }, { file: txt, line: 3, value: { text: 'second line' } }]);
});
