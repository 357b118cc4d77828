// One row, start to finish: normalise, fill the model's identity, apply --system, render with the chat
// format, tokenize with the trained spans, truncate. Pre-tokenized rows (input_ids + labels) skip to the
// truncation. Bad rows throw RowError, or are counted and skipped with --skip_bad_rows.
import type { ChatTokenizer } from './chat-tokenizer.ts';
import { encodeText, encodeWithSpans, type Encoded } from './encode-spans.ts';
import { normalizeRow } from './normalize.ts';
import type { ReadItem } from './readers.ts';
import { fillIdentity, type Identity } from './self-cognition.ts';
import type { FileStats, PipelineStats } from './stats.ts';
import { ChatFormat } from './templates/chat-format.ts';
import { renderConversation, type LossScale } from './templates/spans.ts';
import { isTokenizedRow, parseTokenizedRow } from './tokenized.ts';
import { truncate, type TruncationStrategy } from './truncate.ts';
import { RowError, type Conversation, type RowOrigin } from './types.ts';

export interface EncodeOptions {
  /** Built-in template name; default: the model's chat_template, else "default". */
  template?: string;
  /** System prompt for rows that have none (replaces a template's default system prompt). */
  system?: string;
  maxLength?: number;
  truncationStrategy?: TruncationStrategy;
  lossScale?: LossScale;
  identity?: Identity;
  skipBadRows?: boolean;
  /** The model's vocabulary size: pre-tokenized rows with an id outside it are bad rows. */
  vocabSize?: number;
  /** Keep each row's rendered text on it (`webtune bundle` hands it to the WASI data stage, src/bundle/data-input.ts). */
  keepText?: boolean;
}

/** The text a row was encoded from: the rendered chat with its trained character spans, or (spans null) pretraining text. */
export interface RowText { text: string; spans: readonly [number, number][] | null }

export interface EncodedRow extends Encoded {
  origin: RowOrigin;
  /** with keepText; absent for pre-tokenized rows */
  text?: RowText;
}

export class RowEncoder {
  readonly format: ChatFormat;

  constructor(readonly tok: ChatTokenizer, readonly opts: EncodeOptions, readonly stats: PipelineStats) {
    this.format = new ChatFormat(tok, opts.template);
  }

  /** Normalised, identity-filled conversation of a raw row (throws RowError). */
  conversation(value: unknown, origin: RowOrigin, file?: FileStats): Conversation {
    const { conv, format } = normalizeRow(value, origin);
    if (file) file.formats.set(format, (file.formats.get(format) ?? 0) + 1);
    if (format === 'preference') this.stats.notes.add('preference rows (chosen/rejected): supervised fine-tuning trains on "chosen"; "rejected" is not used');
    if (fillIdentity(conv, this.opts.identity ?? {}, origin) && file) file.identityFilled++;
    if (conv.text === undefined && conv.system === undefined && this.opts.system !== undefined) conv.system = this.opts.system;
    return conv;
  }

  /** Encodes a conversation: ids and trained mask, before truncation. */
  encodeConversation(conv: Conversation, origin: RowOrigin): Encoded & { text: RowText } {
    if (conv.text !== undefined) return { ...encodeText(this.tok, conv.text), text: { text: conv.text, spans: null } };
    const r = renderConversation(this.format, conv, this.opts.lossScale ?? 'default', origin);
    return { ...encodeWithSpans(this.tok, r.text, r.spans, this.stats), text: r };
  }

  /** A read item → its encoded rows (a packed pre-tokenized line holds several), none when skipped or dropped (and counted). */
  encode(item: ReadItem, file: FileStats): EncodedRow[] {
    if ('error' in item) { file.read++; return this.bad(item.error); }
    const origin = { file: item.file, line: item.line };
    try {
      if (isTokenizedRow(item.value)) return this.encodeTokenized(item.value, origin, file);
      file.read++;
      const conv = this.conversation(item.value, item, file);
      const enc = this.encodeConversation(conv, item);
      if (!enc.mask.includes(1)) throw new RowError('no trained tokens', item, 'no token of this row is trained (check "loss" fields)');
      const kept = this.keep(enc, origin, file);
      return kept ? [kept] : [];
    } catch (e) {
      if (e instanceof RowError) return this.bad(e);
      throw e;
    }
  }

  /** A pre-tokenized line: its rows go straight to truncation (a packed line counts each row it holds). */
  private encodeTokenized(value: Record<string, unknown>, origin: RowOrigin, file: FileStats): EncodedRow[] {
    file.read++;
    const rows = parseTokenizedRow(value, origin, this.opts.vocabSize);
    file.read += rows.length - 1;
    file.formats.set('tokenized', (file.formats.get('tokenized') ?? 0) + rows.length);
    this.stats.tokenizedRows += rows.length;
    const out: EncodedRow[] = [];
    for (const r of rows) {
      if (!r.mask.includes(1)) { this.bad(new RowError('no trained tokens', origin, `a row of ${r.ids.length} tokens has every label -100`)); continue; }
      const kept = this.keep(r, origin, file);
      if (kept) out.push(kept);
    }
    return out;
  }

  /** --max_length and --truncation_strategy on one encoded row; counted in the stats either way. */
  private keep(enc: Encoded & { text?: RowText }, origin: RowOrigin, file: FileStats): EncodedRow | undefined {
    this.stats.longest = Math.max(this.stats.longest, enc.ids.length);
    const t = truncate(enc, this.opts.maxLength, this.opts.truncationStrategy ?? 'delete');
    if (!t.row) { this.stats.droppedTooLong++; return undefined; }
    if (t.truncated) {
      this.stats.truncated++;
      if (!t.row.mask.includes(1)) { this.stats.droppedUntrained++; return undefined; }
    }
    file.kept++;
    return { ids: t.row.ids, mask: t.row.mask, origin, ...(this.opts.keepText && enc.text ? { text: enc.text } : {}) };
  }

  private bad(e: RowError): [] {
    if (!this.opts.skipBadRows) throw e;
    this.stats.skip(e.reason, e.message);
    return [];
  }
}
