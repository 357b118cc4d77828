// A Hugging Face tokenizer.json tokenizer on the wasm engine: encode runs entirely in wasm (one call per text);
// post-processing, decoders and the streaming decoder run here in TypeScript.
import { instantiateWasm } from '../../runtime/wasm.ts';
import type { DecodeOptions, EncodeOptions, SpecialToken, StreamDecoder, StreamOptions, Tokenizer } from '../tokenizer-api.ts';
import { configurePipeline, type PipelineEngine } from './pipeline-config.ts';
import { alphabetToBytes, bytesToAlphabet } from './bytes.ts';
import { buildDecoder, cleanUpTokenization, runDecoder, type DecodeStep, type Piece } from './decoders.ts';
import { buildPostProcessor, type PostProcess } from './post-process.ts';
import { A_SPECIAL, type HfSpec } from './spec.ts';

/** The engine's exports for tokenizer.json (asm/tokenizer/hf/exports-model.ts). */
interface HfEngine extends PipelineEngine {
  memory: WebAssembly.Memory;
  alloc(size: number): number;
  free(ptr: number): void;
  scratchPtr(size: number): number;
  hfLoadModel(ptr: number, len: number): number;
  hfDroppedMerges(): number;
  hfResolvedMerges(): number;
  hfDropResolved(): void;
  hfVocabCount(): number;
  hfVocabBlob(): number;
  hfVocabOffs(): number;
  hfFind(ptr: number, len: number): number;
  hfAddedReset(n: number): void;
  hfAddedAdd(i: number, id: number, flags: number, ptr: number, len: number): void;
  hfEncode(ptr: number, len: number): number;
  hfIdsPtr(): number;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });
/** Input bytes one encode call takes (the engine's buffers grow with it; wasm32 memory is 4 GiB at most). */
const MAX_ENCODE_BYTES = 256 << 20;

function writeBytes(e: HfEngine, bytes: Uint8Array): number {
  const ptr = e.alloc(Math.max(bytes.length, 1));
  new Uint8Array(e.memory.buffer, ptr, bytes.length).set(bytes);
  return ptr;
}

/** Builds the engine from a validated spec (see tokenizer-json.ts / compact.ts). */
export async function createHfTokenizer(spec: HfSpec): Promise<HfTokenizer> {
  const e = (await instantiateWasm('tokenizer')).exports as unknown as HfEngine;
  configurePipeline(e, spec.normalizer, spec.preTokenizer, spec.name);
  // The packed model goes in the scratch block, which encode reuses for its input afterwards.
  const bytes = spec.model.bytes;
  const ptr = e.scratchPtr(bytes.length);
  new Uint8Array(e.memory.buffer, ptr, bytes.length).set(bytes);
  const code = e.hfLoadModel(ptr, bytes.length);
  if (code !== 0) throw new Error(`${spec.name}: corrupt packed model (at byte ${code - 1})`);
  e.hfAddedReset(spec.added.length);
  spec.added.forEach((t, i) => {
    const b = utf8.encode(t.content);
    const p = writeBytes(e, b);
    e.hfAddedAdd(i, t.id, t.flags, p, b.length);
    e.free(p);
  });
  return new HfTokenizer(e, spec);
}

export class HfTokenizer implements Tokenizer {
  readonly kind = 'hf' as const;
  readonly vocabSize: number;
  bosId: number;
  eosId: number;
  padId: number;
  readonly specialTokens: readonly SpecialToken[];
  /** Merges of tokenizer.json that were skipped (a part or the result is not in the vocabulary). */
  readonly droppedMerges: number;
  private readonly nModel: number;
  private readonly addedById = new Map<number, { content: string; special: boolean }>();
  private readonly addedByContent = new Map<string, number>();
  private readonly skipIds: Set<number>;
  private readonly hidden: Set<number>;
  private hiddenByString?: Map<string, number>;
  private readonly strings: (string | undefined)[] = [];
  private readonly decoder: DecodeStep | null;
  private readonly post: PostProcess;
  private mem?: ArrayBuffer;
  private blob = new Uint8Array(0);
  private offs = new Int32Array(0);

  constructor(private readonly e: HfEngine, private readonly spec: HfSpec) {
    this.nModel = e.hfVocabCount();
    this.droppedMerges = e.hfDroppedMerges();
    this.hidden = new Set(spec.model.hiddenIds);
    let maxId = this.nModel - 1;
    for (const t of spec.added) {
      this.addedById.set(t.id, { content: t.content, special: (t.flags & A_SPECIAL) !== 0 });
      this.addedByContent.set(t.content, t.id);
      maxId = Math.max(maxId, t.id);
    }
    this.vocabSize = maxId + 1;
    this.specialTokens = spec.added.filter((t) => t.flags & A_SPECIAL).map((t) => ({ id: t.id, content: t.content }));
    const id = (t?: string) => (t === undefined ? -1 : this.tokenToId(t) ?? -1);
    this.bosId = id(spec.bosToken);
    this.eosId = id(spec.eosToken);
    this.padId = id(spec.padToken);
    this.skipIds = new Set([...this.specialTokens.map((t) => t.id), ...spec.additionalSpecial.map(id).filter((i) => i >= 0)]);
    this.decoder = buildDecoder(spec.decoder, `${spec.name}: decoder`);
    this.post = buildPostProcessor(spec.postProcessor, `${spec.name}: post_processor`);
  }

  /** The merges as the engine resolved them (a, b, merged id triples), once, when the spec asked to record
   *  them (for the compact cache); undefined otherwise. */
  takeResolvedMerges(): Int32Array | undefined {
    const ptr = this.e.hfResolvedMerges();
    if (!ptr) return undefined;
    const n = new DataView(this.spec.model.bytes.buffer, this.spec.model.bytes.byteOffset).getInt32(8, true);
    const out = new Int32Array(this.e.memory.buffer, ptr, n * 3).slice();
    this.e.hfDropResolved();
    return out;
  }

  /** Encodes in wasm; the ids are valid at hfIdsPtr() until the next engine call. Returns their count. */
  private run(text: string): number {
    if (text.length * 3 > MAX_ENCODE_BYTES && utf8.encode(text).length > MAX_ENCODE_BYTES) {
      throw new RangeError(`text too long to encode at once: more than ${MAX_ENCODE_BYTES} bytes`);
    }
    const cap = text.length * 3;
    const ptr = this.e.scratchPtr(cap);
    const dst = new Uint8Array(this.e.memory.buffer, ptr, cap);
    // Lone surrogates: TextEncoder's U+FFFD is right for byte-level models (the reference encodes them so), but a
    // character-level model must see them as no character at all (see bpe.ts), so they go in WTF-8 form.
    const written = !this.spec.byteLevel && LONE_SURROGATE.test(text) ? encodeWtf8(text, dst) : utf8.encodeInto(text, dst).written;
    return this.e.hfEncode(ptr, written);
  }

  /** The ids of text before post-processing, as an Int32Array. */
  encodeRaw(text: string): Int32Array {
    const n = this.run(text);
    return new Int32Array(this.e.memory.buffer, this.e.hfIdsPtr(), n).slice();
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const n = this.run(text);
    const ids = Array.from(new Int32Array(this.e.memory.buffer, this.e.hfIdsPtr(), n));
    return opts.addSpecialTokens ? this.post(ids, true) : ids;
  }

  private views(): void {
    if (this.mem === this.e.memory.buffer) return;
    this.mem = this.e.memory.buffer;
    this.blob = new Uint8Array(this.mem, this.e.hfVocabBlob());
    this.offs = new Int32Array(this.mem, this.e.hfVocabOffs(), this.nModel + 1);
  }

  /** A model token as the decoders see it: raw bytes for byte-level tokens, else its string. */
  private piece(id: number): Piece {
    this.views();
    const b = this.blob.subarray(this.offs[id], this.offs[id + 1]);
    if (this.spec.byteLevel && !this.hidden.has(id)) return b;
    return (this.strings[id] ??= utf8Decoder.decode(b));
  }

  private pieces(ids: ArrayLike<number>, skipSpecial: boolean): Piece[] {
    const out: Piece[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (skipSpecial && this.skipIds.has(id)) continue;
      const a = this.addedById.get(id);
      if (a) { out.push(a.content); continue; }
      if (!(Number.isInteger(id) && id >= 0 && id < this.nModel)) {
        throw new RangeError(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
      }
      out.push(this.piece(id));
    }
    return out;
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const text = runDecoder(this.decoder, this.pieces(ids, opts.skipSpecialTokens ?? false));
    return (opts.cleanUpTokenizationSpaces ?? this.spec.cleanUpSpaces) ? cleanUpTokenization(text) : text;
  }

  /** tokenizers' DecodeStream: decode a window of ids and emit what grew past the previous text, holding back
   *  while the text ends in U+FFFD (an incomplete character). Context-dependent decoders (Metaspace, Strip) see
   *  the same neighbours as in a full decode. */
  streamDecoder(opts: StreamOptions = {}): StreamDecoder {
    const dec = (ids: number[]) => this.decode(ids, { skipSpecialTokens: opts.skipSpecialTokens, cleanUpTokenizationSpaces: false });
    let ids: number[] = [];
    let prefix = '';
    let prefixIndex = 0;
    const push = (a: number, b?: number): string => {
      const id = b === undefined ? a : b;
      if (prefix === '' && ids.length) {
        const p = dec(ids);
        if (!p.endsWith('\uFFFD')) { prefix = p; prefixIndex = ids.length; }
      }
      ids.push(id);
      const s = dec(ids);
      if (s.length <= prefix.length || s.endsWith('\uFFFD')) return '';
      const text = s.startsWith(prefix) ? s.slice(prefix.length) : s.slice(commonPrefix(s, prefix));
      const next = ids.length - prefixIndex;
      ids = ids.slice(prefixIndex);
      prefix = dec(ids);
      prefixIndex = next;
      return text;
    };
    const flush = (): string => {
      const s = ids.length ? dec(ids) : '';
      const text = s.length > prefix.length ? s.slice(s.startsWith(prefix) ? prefix.length : commonPrefix(s, prefix)) : '';
      ids = []; prefix = ''; prefixIndex = 0;
      return text;
    };
    return { push, flush };
  }

  tokenToId(token: string): number | undefined {
    const a = this.addedByContent.get(token);
    if (a !== undefined) return a;
    const bytes = this.spec.byteLevel ? alphabetToBytes(token) : utf8.encode(token);
    if (!bytes) {
      this.hiddenByString ??= new Map([...this.hidden].map((id) => [this.idToToken(id)!, id]));
      return this.hiddenByString.get(token);
    }
    if (!bytes.length) return undefined;
    const ptr = this.e.scratchPtr(bytes.length);
    new Uint8Array(this.e.memory.buffer, ptr, bytes.length).set(bytes);
    const id = this.e.hfFind(ptr, bytes.length);
    return id >= 0 ? id : undefined;
  }

  idToToken(id: number): string | undefined {
    const a = this.addedById.get(id);
    if (a) return a.content;
    if (!(Number.isInteger(id) && id >= 0 && id < this.nModel)) return undefined;
    this.views();
    if (this.offs[id] === this.offs[id + 1]) return undefined; // a hole in the ids
    const p = this.piece(id);
    return typeof p === 'string' ? p : bytesToAlphabet(p);
  }
}

/** A lone surrogate: such text goes to a character-level engine as WTF-8 (see run()). */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SPLIT = new RegExp(`(${LONE_SURROGATE.source})`);

/** UTF-8, except that a lone surrogate gets the 3-byte form UTF-8 would give its code point (WTF-8). */
function encodeWtf8(text: string, dst: Uint8Array): number {
  let o = 0;
  text.split(LONE_SPLIT).forEach((part, i) => {
    if (i % 2 === 0) { o += utf8.encodeInto(part, dst.subarray(o)).written; return; }
    const c = part.charCodeAt(0);
    dst[o++] = 0xe0 | (c >> 12); dst[o++] = 0x80 | ((c >> 6) & 0x3f); dst[o++] = 0x80 | (c & 0x3f);
  });
  return o;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
