// What the data pipeline needs from a tokenizer, and how a model directory's tokenizer_config.json is read.
// The engine itself is webtune's Hugging Face tokenizer (models/hf, issue 3); any object with this shape works,
// which is how tests plug in the reference tokenizer.
import { readText, stat, joinPath } from '../../runtime/platform.ts';
import { UserError } from '../../core/errors.ts';

export interface TextTokenizer {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
}

export interface TokenRef { id: number; content: string }

export interface ChatTokenizer extends TextTokenizer {
  /** Where it came from (for messages). */
  readonly name: string;
  /** Added tokens (special or not): the tokenizer splits them out of text before anything else. */
  readonly addedTokens: readonly TokenRef[];
  readonly bos?: TokenRef;
  readonly eos?: TokenRef;
  readonly pad?: TokenRef;
  readonly unk?: TokenRef;
  /** tokenizer_config.json's chat_template: one template, or named ones ("default", "tool_use", ...). */
  readonly chatTemplate?: string | Record<string, string>;
  /** The model's context in tokens (max_position_embeddings, llama2.c's seq_len), when the tokenizer came with a model. */
  readonly contextLength?: number;
}

/** The parts of tokenizer_config.json (and chat_template.jinja) the pipeline reads. */
export interface TokenizerConfig {
  chatTemplate?: string | Record<string, string>;
  /** Special token strings (bos_token, eos_token, pad_token, unk_token) as the config names them. */
  specialTokens: Partial<Record<'bos_token' | 'eos_token' | 'pad_token' | 'unk_token', string>>;
  raw: Record<string, unknown>;
}

const tokenString = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string'
    ? (v as { content: string }).content : undefined;

export function parseTokenizerConfig(raw: Record<string, unknown>, jinjaFile?: string): TokenizerConfig {
  const specialTokens: TokenizerConfig['specialTokens'] = {};
  for (const k of ['bos_token', 'eos_token', 'pad_token', 'unk_token'] as const) {
    const s = tokenString(raw[k]);
    if (s !== undefined) specialTokens[k] = s;
  }
  let chatTemplate: TokenizerConfig['chatTemplate'];
  const ct = raw.chat_template;
  if (typeof ct === 'string') chatTemplate = ct;
  else if (Array.isArray(ct)) {
    chatTemplate = {};
    for (const t of ct) {
      if (t && typeof t.name === 'string' && typeof t.template === 'string') chatTemplate[t.name] = t.template;
    }
  }
  if (jinjaFile !== undefined) chatTemplate = jinjaFile;
  return { chatTemplate, specialTokens, raw };
}

/** Reads DIR/tokenizer_config.json (and DIR/chat_template.jinja, which wins when present). */
export async function readTokenizerConfig(dir: string): Promise<TokenizerConfig> {
  const path = joinPath(dir, 'tokenizer_config.json');
  let raw: Record<string, unknown> = {};
  if ((await stat(path))?.isFile) {
    try { raw = JSON.parse(await readText(path)); } catch (e) {
      throw new UserError(`${path}: not valid JSON: ${(e as Error).message}`);
    }
  }
  const jinjaPath = joinPath(dir, 'chat_template.jinja');
  const jinja = (await stat(jinjaPath))?.isFile ? await readText(jinjaPath) : undefined;
  return parseTokenizerConfig(raw, jinja);
}

/** The chat template to use for a row: a named set picks "tool_use" for rows with tools, else "default". */
export function pickChatTemplate(t: ChatTokenizer['chatTemplate'], hasTools: boolean): string | undefined {
  if (t === undefined || typeof t === 'string') return t;
  if (hasTools && t.tool_use !== undefined) return t.tool_use;
  return t.default ?? Object.values(t)[0];
}

/** The jinja variables Hugging Face passes for special tokens (only those the tokenizer defines). */
export function specialTokenVars(tok: ChatTokenizer): Record<string, string> {
  const out: Record<string, string> = {};
  if (tok.bos) out.bos_token = tok.bos.content;
  if (tok.eos) out.eos_token = tok.eos.content;
  if (tok.pad) out.pad_token = tok.pad.content;
  if (tok.unk) out.unk_token = tok.unk.content;
  return out;
}
