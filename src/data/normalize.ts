// Format detection and normalisation: every supported row shape becomes one Conversation
// {system?, tools?, messages: [{role, content, loss?, tool_calls?}]} (or {text} for pretraining text).
// Shapes, detected row by row:
//   messages   {"messages": [{"role", "content"} | {"from", "value"}], "tools"?}  (OpenAI, incl. tool calls/results)
//   sharegpt   {"conversations": [{"from": human|gpt|system|function_call|observation, "value"}], "system"?, "tools"?}
//              (+ "chosen"/"rejected": preference rows train on "chosen")
//   swift      {"system"?, "conversation": [{"human", "assistant"}]}                 (ms-swift's sharegpt)
//   alpaca     {"instruction", "input"?, "output", "system"?, "history"?}            (query = instruction + "\n" + input)
//   query      {"query"|"prompt"|"input", "response"|"output"|"answer"|"completion", "system"?, "history": [[q, r]]}
//   text       {"text"} or a lone {"response"} (ms-swift's pretraining rows), and .txt lines
import { preview, RowError, type Conversation, type Message, type Role, type RowOrigin, type ToolCall } from './types.ts';

export type FormatName = 'messages' | 'sharegpt' | 'preference' | 'swift' | 'alpaca' | 'query' | 'text';

const ROLES: Record<string, Role | 'function_call'> = {
  user: 'user', human: 'user',
  assistant: 'assistant', gpt: 'assistant', bot: 'assistant', model: 'assistant',
  system: 'system',
  tool: 'tool', observation: 'tool', function: 'tool', tool_response: 'tool', ipython: 'tool',
  function_call: 'function_call', tool_call: 'function_call',
};

const QUERY_KEYS = ['query', 'prompt', 'input', 'instruction'];
const RESPONSE_KEYS = ['response', 'output', 'answer', 'completion'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function normalizeRow(value: unknown, origin: RowOrigin): { conv: Conversation; format: FormatName } {
  const bad = (reason: string, detail: string): never => { throw new RowError(reason, origin, detail); };
  if (!isObj(value)) return bad('unknown format', `a row must be a JSON object, got ${preview(value)}`);
  const r = value;
  const str = (k: string): string | undefined => {
    const v = r[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') return bad('bad field', `"${k}" must be a string, got ${preview(v)}`);
    return v;
  };
  const tools = parseTools(r.tools, bad);
  const tag = typeof r.tag === 'string' ? r.tag : undefined;
  let format: FormatName;
  let messages: Message[];
  let system = str('system');

  if (Array.isArray(r.messages) || Array.isArray(r.conversations)) {
    const list = (Array.isArray(r.messages) ? r.messages : r.conversations) as unknown[];
    format = Array.isArray(r.messages) ? 'messages' : 'sharegpt';
    messages = convertMessages(list, bad);
    if (r.chosen !== undefined) {
      format = 'preference';
      const chosen = isObj(r.chosen) ? convertMessages([r.chosen], bad) : typeof r.chosen === 'string'
        ? [{ role: 'assistant' as Role, content: r.chosen }] : bad('bad field', `"chosen" must be a message or a string, got ${preview(r.chosen)}`);
      messages.push(...chosen);
    }
  } else if (Array.isArray(r.conversation)) {
    format = 'swift';
    messages = [];
    for (const [i, turn] of (r.conversation as unknown[]).entries()) {
      if (!isObj(turn)) bad('bad message', `conversation[${i}] must be an object {"human", "assistant"}, got ${preview(turn)}`);
      const t = turn as Obj;
      const extra = Object.keys(t).filter((k) => k !== 'human' && k !== 'assistant');
      if (extra.length) bad('unknown role', `conversation[${i}] has ${extra.map((k) => JSON.stringify(k)).join(', ')}; expected "human" and "assistant"`);
      if (t.human !== undefined) messages.push({ role: 'user', content: content(t.human, `conversation[${i}].human`, bad) });
      if (t.assistant !== undefined) messages.push({ role: 'assistant', content: content(t.assistant, `conversation[${i}].assistant`, bad) });
    }
  } else {
    const instruction = typeof r.instruction === 'string' ? r.instruction : undefined;
    const responseKey = RESPONSE_KEYS.find((k) => r[k] !== undefined && r[k] !== null);
    let query: string | undefined;
    if (instruction !== undefined && (r.output !== undefined || responseKey)) {
      format = 'alpaca';
      const input = str('input');
      query = input ? `${instruction}\n${input}` : instruction;
    } else {
      format = 'query';
      const qk = QUERY_KEYS.find((k) => r[k] !== undefined && r[k] !== null);
      query = qk ? str(qk) : undefined;
    }
    const response = responseKey ? str(responseKey) : undefined;
    const history = parseHistory(r.history, bad);
    if (query === undefined && history.length === 0) {
      const text = response ?? (typeof r.text === 'string' ? r.text : undefined);
      if (text !== undefined && (response === undefined || r.text === undefined)) {
        if (text === '') bad('empty text', 'the pretraining text is empty');
        return { conv: { messages: [], text, ...(tag && { tag }) }, format: 'text' };
      }
      const keys = Object.keys(r);
      return bad('unknown format', keys.length ? `no known fields in {${keys.map((k) => JSON.stringify(k)).join(', ')}}; expected messages, conversations, conversation, instruction/output, query/response or text` : 'the row is an empty object');
    }
    if (response === undefined) bad('no assistant answer', `no ${RESPONSE_KEYS.map((k) => `"${k}"`).join('/')} field`);
    messages = [];
    for (const [q, a] of history) messages.push({ role: 'user', content: q }, { role: 'assistant', content: a });
    messages.push({ role: 'user', content: query ?? '' }, { role: 'assistant', content: response! });
  }

  if (messages[0]?.role === 'system' && messages[0].loss === undefined) {
    if (system !== undefined) bad('bad message', 'the row has both a "system" field and a leading system message');
    system = messages.shift()!.content;
  }
  let lastAssistant = messages.length - 1;
  while (lastAssistant >= 0 && messages[lastAssistant].role !== 'assistant') lastAssistant--;
  if (lastAssistant < 0) bad('no assistant answer', 'the conversation has no assistant message');
  if (lastAssistant !== messages.length - 1) {
    bad('no assistant answer', `the conversation ends with a ${messages[messages.length - 1].role} message, after the last assistant answer`);
  }
  for (const [i, m] of messages.entries()) {
    if (m.role === 'assistant' && m.content.trim() === '' && !m.tool_calls?.length && !m.reasoning_content) {
      bad('empty answer', `assistant message ${i + 1} is empty`);
    }
  }
  const conv: Conversation = { messages };
  if (system !== undefined) conv.system = system;
  if (tools) conv.tools = tools;
  if (tag) conv.tag = tag;
  return { conv, format };
}

type Bad = (reason: string, detail: string) => never;

function content(v: unknown, where: string, bad: Bad): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) {
    let out = '';
    for (const part of v) {
      if (typeof part === 'string') { out += part; continue; }
      if (isObj(part) && (part.type === 'text' || part.type === undefined)) {
        const t = part.text ?? part.value;
        if (typeof t === 'string') { out += t; continue; }
      }
      bad('unsupported content', `${where}: only text parts are supported, got ${preview(part)}`);
    }
    return out;
  }
  return bad('bad content', `${where} must be a string or a list of text parts, got ${preview(v)}`);
}

function convertMessages(list: unknown[], bad: Bad): Message[] {
  const out: Message[] = [];
  for (const [i, m] of list.entries()) {
    if (!isObj(m)) bad('bad message', `message ${i + 1} must be an object, got ${preview(m)}`);
    const msg = m as Obj;
    const roleName = msg.role ?? msg.from;
    if (typeof roleName !== 'string') bad('bad message', `message ${i + 1} has no "role" (or "from")`);
    const role = ROLES[(roleName as string).toLowerCase()];
    if (!role) bad('unknown role', `message ${i + 1} has role ${JSON.stringify(roleName)}; known: ${Object.keys(ROLES).join(', ')}`);
    const text = content(msg.content !== undefined ? msg.content : msg.value, `message ${i + 1}`, bad);
    const loss = lossOf(msg, i, bad);
    if (role === 'function_call') {
      const calls = parseCallText(text, i, bad);
      const prev = out[out.length - 1];
      if (prev && prev.role === 'assistant' && !prev.tool_calls && loss === prev.loss) prev.tool_calls = calls;
      else out.push({ role: 'assistant', content: '', tool_calls: calls, ...(loss !== undefined && { loss }) });
      continue;
    }
    const message: Message = { role, content: text };
    if (loss !== undefined) message.loss = loss;
    if (role === 'assistant') {
      if (msg.tool_calls !== undefined && msg.tool_calls !== null) message.tool_calls = toolCalls(msg.tool_calls, i, bad);
      const reasoning = msg.reasoning_content ?? msg.reasoning;
      if (typeof reasoning === 'string') message.reasoning_content = reasoning;
    }
    if (role === 'tool' && typeof msg.name === 'string') message.name = msg.name;
    out.push(message);
  }
  return out;
}

function lossOf(msg: Obj, i: number, bad: Bad): boolean | undefined {
  const v = msg.loss ?? msg.loss_weight;
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v > 0;
  return bad('bad message', `message ${i + 1}: "loss" must be true, false or a weight ≥ 0, got ${preview(v)}`);
}

function parseCallText(text: string, i: number, bad: Bad): ToolCall[] {
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) {
    return bad('bad tool call', `message ${i + 1} (function_call) is not JSON: ${(e as Error).message}`);
  }
  return toolCalls(Array.isArray(v) ? v : [v], i, bad);
}

function toolCalls(v: unknown, i: number, bad: Bad): ToolCall[] {
  if (!Array.isArray(v)) return bad('bad tool call', `message ${i + 1}: "tool_calls" must be a list, got ${preview(v)}`);
  return v.map((c) => {
    const f = isObj(c) && isObj(c.function) ? c.function : c;
    if (!isObj(f) || typeof f.name !== 'string') bad('bad tool call', `message ${i + 1}: a tool call needs a "name": ${preview(c)}`);
    const fn = f as Obj;
    return { type: 'function' as const, function: { name: fn.name as string, arguments: fn.arguments ?? fn.parameters ?? {} } };
  });
}

function parseTools(v: unknown, bad: Bad): unknown[] | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  let t = v;
  if (typeof t === 'string') {
    try { t = JSON.parse(t); } catch (e) { return bad('bad tools', `"tools" is a string but not JSON: ${(e as Error).message}`); }
  }
  if (isObj(t)) t = [t];
  if (!Array.isArray(t) || !t.every(isObj)) return bad('bad tools', `"tools" must be a list of tool objects, got ${preview(v)}`);
  return t.length ? t : undefined;
}

function parseHistory(v: unknown, bad: Bad): [string, string][] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) return bad('bad field', `"history" must be a list of [query, response] pairs, got ${preview(v)}`);
  return v.map((p, i) => {
    if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || typeof p[1] !== 'string') {
      bad('bad field', `history[${i}] must be a [query, response] pair of strings, got ${preview(p)}`);
    }
    return [p[0], p[1]] as [string, string];
  });
}
