// Request validation for the OpenAI-compatible API: every field we accept is type-checked, and a bad one is a
// 400 in OpenAI's error shape naming the field (`param`). Fields that change the output but are not implemented
// (n > 1, logprobs, penalties ≠ 0, …) are refused rather than silently ignored; unknown fields are ignored.

export type ErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'rate_limit_error' | 'server_error';

/** An error the API reports as {"error":{"message","type","param","code"}} with an HTTP status (and headers such
 *  as Retry-After or Connection: close). */
export class ApiError extends Error {
  constructor(readonly status: 400 | 401 | 404 | 405 | 408 | 413 | 429 | 500 | 503, message: string, readonly param: string | null = null,
    readonly code: string | null = null, readonly type: ErrorType = 'invalid_request_error', readonly headers: Record<string, string> = {}) {
    super(message);
  }

  body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export interface SamplingParams {
  maxTokens?: number;
  temperature: number;
  topP: number;
  topK: number;
  repetitionPenalty: number;
  seed?: number;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
}

export interface ChatMessage { role: 'system' | 'user' | 'assistant'; content: string }

export interface CompletionRequest extends SamplingParams { model: string; prompt: string | number[] }
export interface ChatRequest extends SamplingParams { model: string; messages: ChatMessage[] }

/** OpenAI's own cap on `stop` is 4 sequences; the length cap is ours (StopMatcher's cost grows with it). */
const MAX_STOP_CHARS = 256;

const bad = (param: string, message: string): never => { throw new ApiError(400, message, param); };
const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Parses a request body as a JSON object. */
export function parseJsonBody(text: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `We could not parse the JSON body of your request: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, `The request body must be a JSON object, got ${typeName(body)}`);
  return body as Record<string, unknown>;
}

/** A field of the body, absent when undefined or null (OpenAI treats null as "use the default"). */
function num(b: Record<string, unknown>, key: string, min: number, max: number, { integer = false, minExclusive = false } = {}): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) return bad(key, `${key} must be a number, got ${typeName(v)}`);
  if (integer && !Number.isInteger(v)) return bad(key, `${key} must be an integer, got ${v}`);
  if (v < min || v > max || (minExclusive && v === min)) {
    return bad(key, `${key} must be ${minExclusive ? '>' : '≥'} ${min} and ≤ ${max}, got ${v}`);
  }
  return v;
}

function bool(b: Record<string, unknown>, key: string): boolean | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') return bad(key, `${key} must be a boolean, got ${typeName(v)}`);
  return v;
}

function unsupported(b: Record<string, unknown>, key: string, ok: (v: unknown) => boolean, what: string): void {
  const v = b[key];
  if (v !== undefined && v !== null && !ok(v)) bad(key, `${key} ${what}`);
}

function model(b: Record<string, unknown>): string {
  const m = b.model;
  if (m === undefined || m === null) return bad('model', 'you must provide a model parameter');
  if (typeof m !== 'string') return bad('model', `model must be a string, got ${typeName(m)}`);
  return m;
}

function sampling(b: Record<string, unknown>, maxTokensKeys: string[]): SamplingParams {
  let maxTokens: number | undefined;
  for (const k of maxTokensKeys) maxTokens ??= num(b, k, 1, Number.MAX_SAFE_INTEGER, { integer: true });
  const stop = b.stop;
  let stops: string[] = [];
  if (typeof stop === 'string') stops = [stop];
  else if (Array.isArray(stop)) {
    if (stop.length > 4) bad('stop', 'stop may hold at most 4 sequences');
    stop.forEach((s, i) => { if (typeof s !== 'string') bad('stop', `stop[${i}] must be a string, got ${typeName(s)}`); });
    stops = stop as string[];
  } else if (stop !== undefined && stop !== null) bad('stop', `stop must be a string or an array of strings, got ${typeName(stop)}`);
  // matching holds back up to a stop's length and rescans it per token: a huge stop would stall every stream
  if (stops.some((s) => s.length > MAX_STOP_CHARS)) bad('stop', `each stop sequence may hold at most ${MAX_STOP_CHARS} characters`);
  stops = stops.filter((s) => s.length > 0);
  const so = b.stream_options;
  let includeUsage = false;
  if (so !== undefined && so !== null) {
    if (typeof so !== 'object' || Array.isArray(so)) bad('stream_options', `stream_options must be an object, got ${typeName(so)}`);
    includeUsage = bool(so as Record<string, unknown>, 'include_usage') ?? false;
  }
  for (const k of ['frequency_penalty', 'presence_penalty']) {
    if (num(b, k, -2, 2)) bad(k, `${k} other than 0 is not supported (use repetition_penalty)`);
  }
  unsupported(b, 'n', (v) => v === 1, 'must be 1 (several choices per request are not supported)');
  unsupported(b, 'best_of', (v) => v === 1, 'must be 1 (not supported)');
  unsupported(b, 'logprobs', (v) => v === false, 'is not supported');
  unsupported(b, 'top_logprobs', (v) => v === 0, 'is not supported');
  unsupported(b, 'logit_bias', (v) => typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0, 'is not supported');
  unsupported(b, 'user', (v) => typeof v === 'string', 'must be a string');
  const stream = bool(b, 'stream') ?? false;
  return {
    maxTokens,
    temperature: num(b, 'temperature', 0, 2) ?? 1,
    topP: num(b, 'top_p', 0, 1, { minExclusive: true }) ?? 1,
    // vLLM's extensions
    topK: num(b, 'top_k', -1, Number.MAX_SAFE_INTEGER, { integer: true }) ?? 0,
    repetitionPenalty: num(b, 'repetition_penalty', 0, 100, { minExclusive: true }) ?? 1,
    seed: num(b, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, { integer: true }),
    stop: stops,
    stream,
    includeUsage: stream && includeUsage,
  };
}

export function parseCompletionRequest(b: Record<string, unknown>): CompletionRequest {
  const m = model(b);
  const p = b.prompt;
  let prompt: string | number[];
  const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0);
  if (p === undefined || p === null) prompt = '';
  else if (typeof p === 'string') prompt = p;
  else if (isIds(p)) prompt = p;
  else if (Array.isArray(p) && p.length === 1 && (typeof p[0] === 'string' || isIds(p[0]))) prompt = p[0];
  else if (Array.isArray(p) && p.length > 1) return bad('prompt', 'several prompts in one request are not supported; send one request per prompt');
  else return bad('prompt', `prompt must be a string or an array of token ids, got ${typeName(p)}`);
  unsupported(b, 'echo', (v) => v === false, 'is not supported');
  unsupported(b, 'suffix', (v) => v === '', 'is not supported');
  // OpenAI's default for /v1/completions is 16 tokens
  const s = sampling(b, ['max_tokens']);
  return { model: m, prompt, ...s, maxTokens: s.maxTokens ?? 16 };
}

function messageText(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((part, j) => {
      const p = part as { type?: unknown; text?: unknown } | null;
      if (!p || typeof p !== 'object' || p.type !== 'text') return bad(`${param}[${j}]`, `${param}[${j}] must be a text part ({"type":"text","text":…}); other content types are not supported`);
      if (typeof p.text !== 'string') return bad(`${param}[${j}].text`, `${param}[${j}].text must be a string, got ${typeName(p.text)}`);
      return p.text;
    }).join('');
  }
  return bad(param, `${param} must be a string or an array of text parts, got ${typeName(content)}`);
}

export function parseChatRequest(b: Record<string, unknown>): ChatRequest {
  const m = model(b);
  const msgs = b.messages;
  if (!Array.isArray(msgs)) return bad('messages', msgs === undefined ? 'messages is required' : `messages must be an array, got ${typeName(msgs)}`);
  if (msgs.length === 0) bad('messages', 'messages must hold at least one message');
  const messages: ChatMessage[] = msgs.map((raw, i) => {
    const param = `messages[${i}]`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return bad(param, `${param} must be an object, got ${typeName(raw)}`);
    const msg = raw as Record<string, unknown>;
    const role = msg.role === 'developer' ? 'system' : msg.role;
    if (role !== 'system' && role !== 'user' && role !== 'assistant') {
      return bad(`${param}.role`, `${param}.role must be one of system, developer, user, assistant; got ${JSON.stringify(msg.role)}`);
    }
    if (msg.name !== undefined && typeof msg.name !== 'string') bad(`${param}.name`, `${param}.name must be a string`);
    if (msg.tool_calls !== undefined && msg.tool_calls !== null) bad(`${param}.tool_calls`, 'tool calls are not supported');
    return { role, content: messageText(msg.content, `${param}.content`) };
  });
  unsupported(b, 'tools', (v) => Array.isArray(v) && v.length === 0, 'are not supported');
  unsupported(b, 'response_format', (v) => (v as { type?: unknown })?.type === 'text', 'other than {"type":"text"} is not supported');
  return { model: m, messages, ...sampling(b, ['max_completion_tokens', 'max_tokens']) };
}
