// The WASI data stage's input, data/rows.bin: the rows sft trains on as the chat template rendered them, in training
// order (train, then val), so that data.wasm (asm/data-wasi) can tokenize and collate them into the shards on any
// WASI host. The template (JS, @huggingface/jinja), mixing, shuffling and the validation split stay here; the
// tokenizer and the collator are the WASM the shards came from.
// Layout (little-endian; every field starts at a multiple of 4; str = u32 byte length, UTF-8, zero padding to 4):
//   "WTROWS01", i32 max_length (-1: none), i32 truncation (0 delete, 1 left, 2 right), i32 packing (0/1), i32 pad_id,
//   i32 bos_id, i32 eos_id (-1: none), then the tokenizer:
//     i32 0 (llama2.c), str file (its path in the bundle), i32 vocab_size
//     i32 1 (tokenizer.json), u32 p, p × (i32 stage (0 normalizer, 1 pre-tokenizer), i32 kind, str a, str b, i32 flags):
//       the engine's pipeline as models/hf/pipeline-config.ts pushes it, str packed BPE model (models/hf/bpe-pack.ts)
//   u32 n, n × (i32 id, i32 flags, str content): the added tokens, split out of text before the engine sees it,
//   u32 s, s × (str shard path, u32 rows), then each split's rows:
//     u32 0 (chat), u32 pieces, pieces × (u32 trained, str text)   the rendered text cut at the trained spans' ends
//     u32 1 (text), str text                                        pretraining text: BOS text EOS, all trained
//     u32 2 (tokens), u32 n, i32 ids[n], i32 mask[n]               a pre-tokenized row, and rows only JS can
//       encode: a tokenizer.json's pretraining text (its post-processor adds the special tokens), text with lone
//       surrogates for a tokenizer that is not byte-level (they go to the engine as WTF-8), and a trained span
//       ending inside a surrogate pair (the pieces' UTF-8 would not be the text's)
import type { ChatTokenizer } from '../data/chat-tokenizer.ts';
import type { EncodedRow, RowText } from '../data/row-encoder.ts';
import type { TruncationStrategy } from '../data/truncate.ts';
import { LONE_SURROGATE } from '../../models/hf/hf-tokenizer.ts';
import { configurePipeline, type PipelineEngine } from '../../models/hf/pipeline-config.ts';
import type { HfSpec } from '../../models/hf/spec.ts';

export const DATA_INPUT = 'data/rows.bin';
export const DATA_MODULE = 'data.wasm';

const TRUNCATION: Record<TruncationStrategy, number> = { delete: 0, left: 1, right: 2 };

/** The engine data.wasm runs: a llama2.c tokenizer file the bundle carries, or a tokenizer.json's spec. */
export type DataTokenizer = { kind: 'llama2c'; path: string; vocabSize: number } | { kind: 'hf'; spec: HfSpec };

export interface DataInputOptions {
  tok: ChatTokenizer;
  tokenizer: DataTokenizer;
  maxLength?: number;
  truncation?: TruncationStrategy;
  packing: boolean;
  padId: number;
  splits: { path: string; rows: EncodedRow[] }[];
}

class Writer {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  n = 0;
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  i32(v: number): void { this.room(4); this.dv.setInt32(this.n, v, true); this.n += 4; }
  /** bytes with no length before them (a multiple of 4 long) */
  raw(b: Uint8Array): void { this.room(b.length); this.buf.set(b, this.n); this.n += b.length; }
  bytes(b: Uint8Array): void {
    this.i32(b.length);
    this.room(b.length + 3);
    this.buf.set(b, this.n);
    this.n += (b.length + 3) & ~3;  // the padding is already zero
  }
  str(s: string): void { this.bytes(utf8.encode(s)); }
  done(): Uint8Array { return this.buf.slice(0, this.n); }
}

const utf8 = new TextEncoder();

/** The rendered text cut at every trained span's start and end: (trained, piece) in order. */
function pieces(text: string, spans: readonly [number, number][]): [boolean, string][] {
  const cuts = [...new Set([0, text.length, ...spans.flat()])].sort((a, b) => a - b);
  const out: [boolean, string][] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const [a, b] = [cuts[i], cuts[i + 1]];
    if (b > a) out.push([spans.some(([s, e]) => s <= a && b <= e), text.slice(a, b)]);
  }
  return out;
}

/** Whether a trained span's end falls inside a surrogate pair (its halves would go to UTF-8 apart, as U+FFFD). */
function splitsPair(t: RowText): boolean {
  const low = (i: number) => (t.text.charCodeAt(i) & 0xfc00) === 0xdc00, high = (i: number) => (t.text.charCodeAt(i) & 0xfc00) === 0xd800;
  return (t.spans ?? []).some((span) => span.some((c) => c > 0 && high(c - 1) && low(c)));
}

/** The pushes configurePipeline makes, recorded instead of run (the bundle's JS tokenizer already ran them). */
function pipelinePushes(spec: HfSpec): [number, number, Uint8Array, Uint8Array, number][] {
  const out: [number, number, Uint8Array, Uint8Array, number][] = [];
  const memory = { buffer: new ArrayBuffer(1 << 20) } as WebAssembly.Memory;
  const push = (stage: number) => (kind: number, a: number, aLen: number, b: number, bLen: number, flags: number) => {
    const m = new Uint8Array(memory.buffer);
    out.push([stage, kind, m.slice(a, a + aLen), m.slice(b, b + bLen), flags]);
    return 0;
  };
  const recorder: PipelineEngine = { memory, alloc: () => 0, normalizerClear: () => {}, pretokenizerClear: () => {},
    normalizerPush: push(0), pretokenizerPush: push(1) };
  configurePipeline(recorder, spec.normalizer, spec.preTokenizer, spec.name);
  return out;
}

export function encodeDataInput(o: DataInputOptions): Uint8Array {
  const w = new Writer();
  w.raw(utf8.encode('WTROWS01'));
  for (const v of [o.maxLength ?? -1, TRUNCATION[o.truncation ?? 'delete'], o.packing ? 1 : 0, o.padId, o.tok.bos?.id ?? -1, o.tok.eos?.id ?? -1]) w.i32(v);
  const t = o.tokenizer;
  if (t.kind === 'llama2c') {
    w.i32(0); w.str(t.path); w.i32(t.vocabSize);
    w.i32(o.tok.addedTokens.length);
    for (const a of o.tok.addedTokens) { w.i32(a.id); w.i32(0); w.str(a.content); }
  } else {
    const pushes = pipelinePushes(t.spec);
    w.i32(1); w.i32(pushes.length);
    for (const [stage, kind, a, b, flags] of pushes) { w.i32(stage); w.i32(kind); w.bytes(a); w.bytes(b); w.i32(flags); }
    w.bytes(t.spec.model.bytes);
    w.i32(t.spec.added.length);
    for (const a of t.spec.added) { w.i32(a.id); w.i32(a.flags); w.str(a.content); }
  }
  // rows whose ids only the JS tokenizer gives (see the layout above)
  const jsOnly = (r: EncodedRow) => splitsPair(r.text!) || (t.kind === 'hf' && (r.text!.spans === null || (!t.spec.byteLevel && LONE_SURROGATE.test(r.text!.text))));
  w.i32(o.splits.length);
  for (const s of o.splits) { w.str(s.path); w.i32(s.rows.length); }
  for (const s of o.splits) {
    for (const r of s.rows) {
      if (!r.text || jsOnly(r)) {
        w.i32(2); w.i32(r.ids.length);
        for (const id of r.ids) w.i32(id);
        for (const m of r.mask) w.i32(m);
      } else if (r.text.spans === null) {
        w.i32(1); w.str(r.text.text);
      } else {
        const p = pieces(r.text.text, r.text.spans);
        w.i32(0); w.i32(p.length);
        for (const [trained, t] of p) { w.i32(trained ? 1 : 0); w.str(t); }
      }
    }
  }
  return w.done();
}
