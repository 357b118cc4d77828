// The shapes every stage of the data pipeline agrees on: a normalised conversation, where a row came from,
// and the errors that name it. Readers yield raw rows; normalize.ts turns each into a Conversation.
import { UserError } from '../../core/errors.ts';

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface ToolCall {
  type: 'function';
  function: { name: string; arguments: unknown };
}

export interface Message {
  role: Role;
  content: string;
  /** Overrides the default loss masking for this message: true trains it, false never does. */
  loss?: boolean;
  tool_calls?: ToolCall[];
  /** Reasoning ("thinking") text of an assistant turn, for templates that render it. */
  reasoning_content?: string;
  /** Name of the tool that produced a tool result (OpenAI's `name` on tool messages). */
  name?: string;
}

/** One training row after normalisation. `text` rows are pretraining text: no template, all tokens trained. */
export interface Conversation {
  system?: string;
  tools?: unknown[];
  messages: Message[];
  text?: string;
  /** Language tag given by the row (ms-swift's self_cognition.jsonl: "zh" | "en"). */
  tag?: string;
}

/** Where a row came from: file and 1-based line of its first character. */
export interface RowOrigin {
  file: string;
  line: number;
}

export interface RawRow extends RowOrigin {
  value: unknown;
}

/** A bad row. `reason` is the short category --skip_bad_rows counts; the message names file and line. */
export class RowError extends UserError {
  constructor(readonly reason: string, readonly origin: RowOrigin | undefined, detail: string) {
    super(origin ? `${origin.file}:${origin.line}: ${reason}: ${detail}` : `${reason}: ${detail}`);
  }
}

/** Errors that can never be skipped row by row: malformed file structure, missing file. */
export class DatasetError extends UserError {}

/** Short, printable rendition of a value for error messages. */
export function preview(v: unknown, max = 60): string {
  let s: string;
  try { s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v); } catch { s = String(v); }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
