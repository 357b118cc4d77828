// One row, start to finish: normalise, fill the model's identity, apply --system, render with the chat
// format, tokenize with the trained spans, truncate. Bad rows throw RowError, or are counted and skipped
// with --skip_bad_rows.
import type { ChatTokenizer } from './chat-tokenizer.ts';
import { encodeText, encodeWithSpans, type Encoded } from './encode-spans.ts';
import { normalizeRow } from './normalize.ts';
import type { ReadItem } from './readers.ts';
import { fillIdentity, type Identity } from './self-cognition.ts';
import type { FileStats, PipelineStats } from './stats.ts';
import { ChatFormat } from './templates/chat-format.ts';
import { renderConversation, type LossScale } from './templates/spans.ts';
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
}

export interface EncodedRow extends Encoded {
  origin: RowOrigin;
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
  encodeConversation(conv: Conversation, origin: RowOrigin): Encoded {
    if (conv.text !== undefined) return encodeText(this.tok, conv.text);
    const r = renderConversation(this.format, conv, this.opts.lossScale ?? 'default', origin);
    return encodeWithSpans(this.tok, r.text, r.spans, this.stats);
  }

  /** A read item → an encoded row, or undefined when it is skipped or dropped (and counted). */
  encode(item: ReadItem, file: FileStats): EncodedRow | undefined {
    file.read++;
    if ('error' in item) return this.bad(item.error);
    try {
      const conv = this.conversation(item.value, item, file);
      const enc = this.encodeConversation(conv, item);
      if (!enc.mask.includes(1)) throw new RowError('no trained tokens', item, 'no token of this row is trained (check "loss" fields)');
      const t = truncate(enc, this.opts.maxLength, this.opts.truncationStrategy ?? 'delete');
      if (!t.row) { this.stats.droppedTooLong++; return undefined; }
      if (t.truncated) {
        this.stats.truncated++;
        if (!t.row.mask.includes(1)) { this.stats.droppedUntrained++; return undefined; }
      }
      file.kept++;
      return { ids: t.row.ids, mask: t.row.mask, origin: { file: item.file, line: item.line } };
    } catch (e) {
      if (e instanceof RowError) return this.bad(e);
      throw e;
    }
  }

  private bad(e: RowError): undefined {
    if (!this.opts.skipBadRows) throw e;
    this.stats.skip(e.reason, e.message);
    return undefined;
  }
}
