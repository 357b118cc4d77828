// Chat templates against Python's jinja2 (Hugging Face's settings, test/oracle/render_chat_template.py) and the
// reference tokenizer (@huggingface/tokenizers): for Qwen3's own chat_template (system, several turns, tools,
// reasoning) and the built-in templates, the rendered text is identical, input_ids are the reference
// tokenization of the oracle's text, decode(input_ids) gives it back, and the trained tokens are exactly each
// assistant answer plus its end-of-turn token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatTokenizer } from '../src/data/chat-tokenizer.ts';
import { specialTokenVars } from '../src/data/chat-tokenizer.ts';
import { encodeWithSpans } from '../src/data/encode-spans.ts';
import { BUILTIN_TEMPLATES } from '../src/data/templates/builtin.ts';
import { ChatFormat, templateMessages } from '../src/data/templates/chat-format.ts';
import { renderConversation, type LossScale } from '../src/data/templates/spans.ts';
import { RowError, type Conversation } from '../src/data/types.ts';
import { LLAMA2, LLAMA3, oracleRender, QWEN3, refTokenizer, GPT2 } from './data-helpers.ts';

const qwen3 = refTokenizer(QWEN3);
const llama3 = refTokenizer(LLAMA3);
const origin = { file: 'test.jsonl', line: 1 };

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather', description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string', description: 'City name' } }, required: ['city'] },
  },
};
const call = (city: string) => [{ type: 'function' as const, function: { name: 'get_weather', arguments: { city } } }];

const TOOLS: Conversation = {
  system: 'You are a helpful assistant with tools.',
  tools: [weatherTool],
  messages: [
    { role: 'user', content: "What's the weather in Paris?" },
    { role: 'assistant', content: '', tool_calls: call('Paris') },
    { role: 'tool', content: '{"temperature": 21, "sky": "clear"}' },
    { role: 'assistant', content: 'It is 21 °C and clear in Paris.' },
    { role: 'user', content: 'And in Tokyo? Answer briefly.' },
    { role: 'assistant', content: 'Let me check.', tool_calls: call('Tokyo') },
    { role: 'tool', content: '{"temperature": 18}' },
    { role: 'assistant', content: '18 °C in Tokyo.' },
  ],
};

const CHAT: Conversation = {
  system: 'You are a concise assistant.',
  messages: [
    { role: 'user', content: 'Hi! Who are you?' },
    { role: 'assistant', content: 'I am a small language model.' },
    { role: 'user', content: '  Name three colours.\n' },
    { role: 'assistant', content: 'Red, green and blue.\n' },
    { role: 'user', content: '你好，请用中文回答：一加一等于几？' },
    { role: 'assistant', content: '一加一等于二。' },
  ],
};

const THINK: Conversation = {
  messages: [
    { role: 'user', content: 'What is 2 + 2?' },
    { role: 'assistant', content: '<think>\nSimple arithmetic.\n</think>\n\n2 + 2 = 4.' },
  ],
};

/** Text of each run of trained tokens. */
function trainedRuns(tok: ChatTokenizer, ids: Int32Array, mask: Uint8Array): string[] {
  const runs: string[] = [];
  for (let a = 0; a < ids.length;) {
    let b = a;
    while (b < ids.length && mask[b] === mask[a]) b++;
    if (mask[a]) runs.push(tok.decode(Array.from(ids.subarray(a, b))));
    a = b;
  }
  return runs;
}

interface Case { tok: ReturnType<typeof refTokenizer>; template?: string; conv: Conversation; expect: string[]; lossScale?: LossScale }

function check(cases: Case[]) {
  const ours = cases.map((c) => {
    const fmt = new ChatFormat(c.tok, c.template);
    const r = renderConversation(fmt, c.conv, c.lossScale ?? 'default', origin);
    const stats = { misaligned: 0 };
    return { fmt, r, enc: encodeWithSpans(c.tok, r.text, r.spans, stats), stats };
  });
  const oracle = oracleRender(cases.map((c, i) => ({
    template: ours[i].fmt.profile(c.conv.tools !== undefined).source,
    messages: templateMessages(c.conv), tools: c.conv.tools ?? null, vars: specialTokenVars(c.tok),
  })));
  cases.forEach((c, i) => {
    const o = oracle[i];
    const what = `${c.template ?? 'own chat_template'} on ${c.tok.name.split('/').slice(-2).join('/')} (case ${i})`;
    assert.ok('text' in o, `${what}: oracle failed: ${'error' in o ? o.error : ''}`);
    const { r, enc, stats } = ours[i];
    assert.equal(r.text, o.text, `${what}: rendered text differs from jinja2`);
    assert.deepEqual(Array.from(enc.ids), c.tok.ref.encode(o.text, { add_special_tokens: false }).ids, `${what}: input_ids`);
    assert.equal(c.tok.decode(Array.from(enc.ids)), o.text, `${what}: decode(input_ids)`);
    assert.deepEqual(trainedRuns(c.tok, enc.ids, enc.mask), c.expect, `${what}: trained tokens`);
    assert.equal(stats.misaligned, 0, `${what}: answer boundaries inside tokens`);
  });
}

const qwenCall = (city: string) => `<tool_call>\n{"name": "get_weather", "arguments": {"city": "${city}"}}\n</tool_call>`;

test("Qwen3's own chat_template: system, several turns, tools, tool results, reasoning", () => {
  check([
    {
      tok: qwen3, conv: TOOLS, expect: [
        `${qwenCall('Paris')}<|im_end|>`,
        'It is 21 °C and clear in Paris.<|im_end|>',
        `Let me check.\n${qwenCall('Tokyo')}<|im_end|>`,
        // the final answer after the last user query: Qwen3 renders it with an (empty) reasoning block
        '<think>\n\n</think>\n\n18 °C in Tokyo.<|im_end|>',
      ],
    },
    {
      tok: qwen3, conv: CHAT, expect: [
        'I am a small language model.<|im_end|>', 'Red, green and blue.\n<|im_end|>', '<think>\n\n</think>\n\n一加一等于二。<|im_end|>',
      ],
    },
    { tok: qwen3, conv: THINK, expect: ['<think>\nSimple arithmetic.\n</think>\n\n2 + 2 = 4.<|im_end|>'] },
    { tok: qwen3, conv: CHAT, lossScale: 'last_round', expect: ['<think>\n\n</think>\n\n一加一等于二。<|im_end|>'] },
  ]);
});

test('--template chatml: system, several turns, tools', () => {
  check([
    {
      tok: qwen3, template: 'chatml', conv: TOOLS, expect: [
        `${qwenCall('Paris')}<|im_end|>`, 'It is 21 °C and clear in Paris.<|im_end|>',
        `Let me check.\n${qwenCall('Tokyo')}<|im_end|>`, '18 °C in Tokyo.<|im_end|>',
      ],
    },
    {
      tok: qwen3, template: 'chatml', conv: CHAT, expect: [
        'I am a small language model.<|im_end|>', 'Red, green and blue.\n<|im_end|>', '一加一等于二。<|im_end|>',
      ],
    },
  ]);
});

test('--template llama3: system, several turns (answers trimmed as Llama 3 does), tools', () => {
  const llamaCall = (city: string) => `{"name": "get_weather", "parameters": {"city": "${city}"}}`;
  check([
    {
      tok: llama3, template: 'llama3', conv: CHAT, expect: [
        'I am a small language model.<|eot_id|>', 'Red, green and blue.<|eot_id|>', '一加一等于二。<|eot_id|>',
      ],
    },
    {
      tok: llama3, template: 'llama3', conv: TOOLS, expect: [
        `${llamaCall('Paris')}<|eot_id|>`, 'It is 21 °C and clear in Paris.<|eot_id|>',
        `Let me check.\n${llamaCall('Tokyo')}<|eot_id|>`, '18 °C in Tokyo.<|eot_id|>',
      ],
    },
    { tok: qwen3, template: 'llama3', conv: THINK, expect: ['<think>\nSimple arithmetic.\n</think>\n\n2 + 2 = 4.<|eot_id|>'] },
  ]);
});

test('the other built-ins (qwen, qwen3, default) and a model template with no add_generation_prompt (Llama 3)', () => {
  check([
    {
      tok: qwen3, template: 'qwen', conv: TOOLS, expect: [
        `${qwenCall('Paris')}<|im_end|>`, 'It is 21 °C and clear in Paris.<|im_end|>',
        `Let me check.\n${qwenCall('Tokyo')}<|im_end|>`, '18 °C in Tokyo.<|im_end|>',
      ],
    },
    { tok: qwen3, template: 'qwen', conv: { messages: CHAT.messages.slice(0, 2) }, expect: ['I am a small language model.<|im_end|>'] },
    {
      tok: qwen3, template: 'qwen3', conv: { messages: [THINK.messages[0], { role: 'assistant', content: '2 + 2 = 4.', reasoning_content: 'Simple arithmetic.' }] },
      expect: ['<think>\nSimple arithmetic.\n</think>\n\n2 + 2 = 4.<|im_end|>'],
    },
    {
      tok: qwen3, template: 'default', conv: CHAT, expect: [
        'I am a small language model.<|im_end|>', 'Red, green and blue.\n<|im_end|>', '一加一等于二。<|im_end|>',
      ],
    },
    // @lenml's Llama 3 template always appends the assistant header: answers are found by rendering prefixes
    {
      tok: llama3, conv: CHAT, expect: [
        'I am a small language model.<|eot_id|>', 'Red, green and blue.<|eot_id|>', '一加一等于二。<|eot_id|>',
      ],
    },
  ]);
});

test('per-message loss overrides the default; loss_scale all trains every token', () => {
  const conv: Conversation = {
    messages: [
      { role: 'user', content: 'Say A.', loss: true },
      { role: 'assistant', content: 'A', loss: false },
      { role: 'user', content: 'Say B.' },
      { role: 'assistant', content: 'B' },
    ],
  };
  check([{ tok: qwen3, template: 'chatml', conv, expect: ['Say A.', 'B<|im_end|>'] }]);
  const fmt = new ChatFormat(qwen3, 'chatml');
  const all = renderConversation(fmt, conv, 'all', origin);
  const enc = encodeWithSpans(qwen3, all.text, all.spans);
  assert.ok(enc.mask.every((m) => m === 1));
});

test('llama2 template on a SentencePiece-style tokenizer (byte fallback, Prepend normalizer)', () => {
  const llama2 = refTokenizer(LLAMA2);
  const fmt = new ChatFormat(llama2, 'llama2');
  const r = renderConversation(fmt, CHAT, 'default', origin);
  const [o] = oracleRender([{ template: BUILTIN_TEMPLATES.llama2.source, messages: templateMessages(CHAT), vars: specialTokenVars(llama2) }]);
  assert.ok('text' in o);
  assert.equal(r.text, o.text);
  const stats = { misaligned: 0 };
  const enc = encodeWithSpans(llama2, r.text, r.spans, stats);
  assert.deepEqual(Array.from(enc.ids), llama2.ref.encode(o.text, { add_special_tokens: false }).ids);
  assert.equal(stats.misaligned, 0);
  // SentencePiece decoding drops the leading space of a sequence, so compare the runs trimmed
  assert.deepEqual(trainedRuns(llama2, enc.ids, enc.mask).map((s) => s.trim()),
    ['I am a small language model. </s>', 'Red, green and blue. </s>', '一加一等于二。 </s>']);
});

test('template problems are row errors that name the row', () => {
  const fmt = new ChatFormat(qwen3, 'llama2');
  assert.throws(() => renderConversation(fmt, TOOLS, 'default', origin),
    (e: unknown) => e instanceof RowError && e.reason === 'template error' && /^test\.jsonl:1: template error: llama2: .*no tool format/.test(e.message));
  // an answer that contains the end-of-turn token cannot be located safely
  const bad: Conversation = { messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: 'a<|im_end|>b' }] };
  assert.throws(() => renderConversation(new ChatFormat(qwen3, 'chatml'), bad, 'default', origin),
    (e: unknown) => e instanceof RowError && e.reason === 'template mismatch');
  // a template that needs a token the tokenizer lacks
  assert.throws(() => new ChatFormat({ ...qwen3, eos: undefined }, 'default'), /template default needs the tokenizer's eos_token/);
  // a built-in whose end-of-turn text is not a token of this tokenizer is reported
  assert.match(new ChatFormat(refTokenizer(GPT2), 'chatml').notes.join(), /"<\|im_end\|>" is not a single token/);
});

test('whole datasets render as jinja2 renders them (tool calls, tool results, Chinese text)', async () => {
  const { readRows } = await import('../src/data/readers.ts');
  const { normalizeRow } = await import('../src/data/normalize.ts');
  const { join } = await import('node:path');
  const { LF } = await import('./data-helpers.ts');
  const load = async (name: string, n: number) => {
    const convs: Conversation[] = [];
    for await (const it of readRows(join(LF, name))) {
      if ('error' in it) throw it.error;
      convs.push(normalizeRow(it.value, it).conv);
      if (convs.length === n) break;
    }
    return convs;
  };
  const glaive = await load('glaive_toolcall_en_demo.json', 300);
  const zh = await load('alpaca_zh_demo.json', 100);
  const runs: [ReturnType<typeof refTokenizer>, string | undefined, Conversation[]][] = [
    [qwen3, undefined, glaive], [llama3, 'llama3', glaive], [qwen3, 'qwen', glaive], [qwen3, 'chatml', zh], [qwen3, 'default', zh],
  ];
  for (const [tok, template, convs] of runs) {
    const fmt = new ChatFormat(tok, template);
    const ours = convs.map((c) => renderConversation(fmt, c, 'default', origin));
    const oracle = oracleRender(convs.map((c) => ({
      template: fmt.profile(c.tools !== undefined).source, messages: templateMessages(c), tools: c.tools ?? null, vars: specialTokenVars(tok),
    })));
    const end = fmt.profile(false).end;
    ours.forEach((r, i) => {
      assert.deepEqual({ text: r.text }, oracle[i], `${template ?? 'own'} row ${i}`);
      assert.equal(r.spans.length, convs[i].messages.filter((m) => m.role === 'assistant').length);
      for (const [, e] of r.spans) assert.equal(r.text.slice(e - end.length, e), end);
    });
  }
});
