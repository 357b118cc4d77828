// The tokenizer API every runtime uses, backed by the AssemblyScript engine in asm/tokenizer (build/tokenizer.wasm).
// The wasm boundary is bytes: UTF-8 text in, i32 ids out, piece bytes back. Each tokenizer owns one instance.
// Two kinds share one interface: llama2.c's tokenizer.bin (here) and Hugging Face tokenizer.json (hf/).
import { instantiateWasm } from '../runtime/wasm.ts';
import { readFile, stat } from '../runtime/platform.ts';
import { loadHfTokenizer } from './hf/tokenizer-json.ts';

export { loadHfTokenizer, hfTokenizerFromJson } from './hf/tokenizer-json.ts';
export type { HfTokenizer } from './hf/hf-tokenizer.ts';
export type { DecodeOptions, EncodeOptions, SpecialToken, StreamDecoder, StreamOptions, Tokenizer } from './tokenizer-api.ts';
import type { DecodeOptions, EncodeOptions, SpecialToken, StreamDecoder, StreamOptions, Tokenizer } from './tokenizer-api.ts';


/** The engine's raw exports (asm/tokenizer/index.ts). */
interface Engine {
  memory: WebAssembly.Memory;
  alloc(size: number): number;
  free(ptr: number): void;
  scratchPtr(size: number): number;
  outPtr(): number;
  loadLlama2c(ptr: number, len: number, vocabSize: number): number;
  errorInfo(i: number): number;
  vocabSize(): number;
  bosId(): number;
  eosId(): number;
  maxPieceLength(): number;
  duplicatePieces(): number;
  encode(len: number, bos: number, eos: number): number;
  decodePiece(prev: number, id: number): number;
  decodeIds(n: number, prev: number, skipSpecial: number): number;
  pieceBytes(id: number): number;
}

/** Maps the engine's load error (asm/tokenizer/llama2c.ts ERR_*) to a one-line message. */
function loadError(e: Engine, code: number, fileLen: number, vocabSize: number): Error {
  const [a, b, c] = [e.errorInfo(1), e.errorInfo(2), e.errorInfo(3)];
  const what = 'invalid llama2.c tokenizer file';
  switch (code) {
    case 1: return new Error(`${what}: vocab_size ${a} is too small (needs <unk>, BOS, EOS and 256 byte pieces: at least 259)`);
    case 2: return new Error(`${what}: ${a} bytes, too short for the 4-byte header`);
    case 3: return new Error(`${what}: max_token_length ${a} in the header is not plausible (corrupt file?)`);
    case 4: return new Error(`${what}: truncated at piece ${a} of ${vocabSize} (needs ${c} bytes at offset ${b}, file is ${fileLen} bytes)`);
    case 5: return new Error(`${what}: piece ${a} has length ${b}, outside 0..max_token_length ${c} (corrupt file?)`);
    case 6: return new Error(`${what}: piece ${a} has a NaN score (corrupt file?)`);
    case 7: return new Error(`${what}: ${a} bytes left after the ${vocabSize} pieces the model's vocab_size asks for (tokenizer from another model?)`);
    default: return new Error(`${what}: error ${code}`);
  }
}

export interface Llama2cTokenizer extends Tokenizer {
  readonly kind: 'llama2c';
  /** Ids as llama2.c's run.c encode(text, bos, eos) gives them (defaults: no BOS, no EOS; addSpecialTokens: BOS).
   *  decode(ids) skips BOS/EOS and starts as if after BOS, so the dummy-prefix space is dropped:
   *  decode(encode(s)) === s for valid text. */
  encode(text: string, opts?: EncodeOptions): number[];
  /** run.c's decode(prev, id), as raw bytes: the piece, minus its leading space after BOS; <0xHH> gives that byte. */
  decodePiece(prev: number, id: number): Uint8Array;
  /** encode() for raw bytes (need not be valid UTF-8), as run.c would see them. */
  encodeBytes(bytes: Uint8Array, opts?: { bos?: boolean; eos?: boolean }): number[];
  /** The bytes of ids decoded in turn: run.c decode(prev, id) with each id's predecessor (`prev` for the first);
   *  with skipSpecial, BOS/EOS give no bytes. decode(ids) is decodeBytes(ids, bosId, true) as UTF-8. */
  decodeBytes(ids: ArrayLike<number>, prev: number, skipSpecial: boolean): Uint8Array;
  /** Pieces whose bytes repeat an earlier piece (lookups use the lowest id). 0 for tok512.bin. */
  readonly duplicatePieces: number;
}

/** Loads a llama2.c tokenizer.bin (e.g. tok512.bin); vocabSize comes from the model checkpoint. */
export async function loadLlama2cTokenizer(bytes: Uint8Array, vocabSize: number): Promise<Llama2cTokenizer> {
  if (!Number.isInteger(vocabSize) || vocabSize <= 0 || vocabSize > 0x1000000) {
    throw new Error(`invalid vocab_size ${vocabSize} for the llama2.c tokenizer`);
  }
  const e = (await instantiateWasm('tokenizer')).exports as unknown as Engine;
  const ptr = e.alloc(bytes.length);
  new Uint8Array(e.memory.buffer, ptr, bytes.length).set(bytes);
  const code = e.loadLlama2c(ptr, bytes.length, vocabSize);
  e.free(ptr);
  if (code !== 0) throw loadError(e, code, bytes.length, vocabSize);
  return new WasmTokenizer(e);
}

/** The number of pieces in a llama2.c tokenizer file (its header does not say; the model's vocab_size should). */
export function llama2cPieceCount(bytes: Uint8Array): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 4, n = 0;
  while (off + 8 <= bytes.length) {
    const len = dv.getInt32(off + 4, true);
    if (len < 0 || off + 8 + len > bytes.length) break;
    off += 8 + len;
    n++;
  }
  return n;
}

/** A tokenizer from a path: a llama2.c tokenizer .bin (its piece count as vocab_size), else a Hugging Face
 *  tokenizer directory or tokenizer.json. */
export async function loadTokenizerFile(path: string): Promise<Tokenizer> {
  if (/\.bin$/i.test(path)) {
    if (!(await stat(path))?.isFile) throw new Error(`${path}: no such file`);
    const bytes = await readFile(path);
    return loadLlama2cTokenizer(bytes, llama2cPieceCount(bytes));
  }
  return loadHfTokenizer(path);
}

const utf8 = new TextEncoder();

/** The engine needs ~45 bytes of wasm32 memory per input byte: refuse what cannot fit rather than trap. */
const MAX_ENCODE_BYTES = 32 << 20;
function checkLength(len: number): void {
  if (len > MAX_ENCODE_BYTES) throw new RangeError(`text too long to encode at once: ${len} bytes (limit ${MAX_ENCODE_BYTES})`);
}

class WasmTokenizer implements Llama2cTokenizer {
  readonly kind = 'llama2c' as const;
  readonly vocabSize: number;
  bosId: number;
  eosId: number;
  padId = -1;
  readonly duplicatePieces: number;
  readonly specialTokens: readonly SpecialToken[];
  private byPiece?: Map<string, number>;

  constructor(private readonly e: Engine) {
    this.vocabSize = e.vocabSize();
    this.bosId = e.bosId();
    this.eosId = e.eosId();
    this.duplicatePieces = e.duplicatePieces();
    this.specialTokens = [0, this.bosId, this.eosId].map((id) => ({ id, content: this.idToToken(id) ?? '' }));
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    // encodeInto writes straight into wasm memory; UTF-8 needs at most 3 bytes per UTF-16 unit.
    checkLength(text.length); // (and at least 1: refuse early, before reserving memory)
    const cap = text.length * 3;
    const ptr = this.e.scratchPtr(cap);
    const { written } = utf8.encodeInto(text, new Uint8Array(this.e.memory.buffer, ptr, cap));
    return this.run(written, opts);
  }

  encodeBytes(bytes: Uint8Array, opts: EncodeOptions = {}): number[] {
    checkLength(bytes.length);
    const ptr = this.e.scratchPtr(bytes.length);
    new Uint8Array(this.e.memory.buffer, ptr, bytes.length).set(bytes);
    return this.run(bytes.length, opts);
  }

  private run(len: number, opts: EncodeOptions): number[] {
    checkLength(len);
    const n = this.e.encode(len, opts.bos || opts.addSpecialTokens ? 1 : 0, opts.eos ? 1 : 0);
    return Array.from(new Int32Array(this.e.memory.buffer, this.e.outPtr(), n));
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    return new TextDecoder().decode(this.decodeBytes(ids, this.bosId, opts.skipSpecialTokens ?? true));
  }

  decodeBytes(ids: ArrayLike<number>, prev: number, skipSpecial: boolean): Uint8Array {
    const ptr = this.e.scratchPtr(ids.length * 4);
    new Int32Array(this.e.memory.buffer, ptr, ids.length).set(ids);
    const len = this.e.decodeIds(ids.length, prev, skipSpecial ? 1 : 0);
    if (len < 0) throw new RangeError(`token id ${ids[-len - 1]} is outside the vocabulary (0..${this.vocabSize - 1})`);
    return new Uint8Array(this.e.memory.buffer, this.e.outPtr(), len).slice();
  }

  decodePiece(prev: number, id: number): Uint8Array {
    const len = Number.isInteger(id) && id >= 0 && id < this.vocabSize ? this.e.decodePiece(prev | 0, id) : -1;
    if (len < 0) throw new RangeError(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
    return new Uint8Array(this.e.memory.buffer, this.e.outPtr(), len).slice();
  }

  streamDecoder(opts: StreamOptions = {}): StreamDecoder {
    // TextDecoder's stream mode keeps an incomplete UTF-8 sequence until its last byte arrives;
    // invalid bytes become U+FFFD. BOS/EOS print nothing (unless skipSpecialTokens is false), as in decode().
    const td = new TextDecoder();
    const skip = opts.skipSpecialTokens ?? true;
    let last = opts.prev ?? this.bosId;
    const push = (a: number, b?: number): string => {
      const [prev, id] = b === undefined ? [last, a] : [a, b];
      last = id;
      if (skip && (id === this.bosId || id === this.eosId)) return '';
      return td.decode(this.decodePiece(prev, id), { stream: true });
    };
    return { push, flush: () => td.decode() };
  }

  /** The piece's text as stored (byte pieces stay "<0xHH>"). */
  idToToken(id: number): string | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return undefined;
    const len = this.e.pieceBytes(id);
    return new TextDecoder().decode(new Uint8Array(this.e.memory.buffer, this.e.outPtr(), len));
  }

  tokenToId(token: string): number | undefined {
    if (!this.byPiece) {
      this.byPiece = new Map();
      for (let id = this.vocabSize - 1; id >= 0; id--) this.byPiece.set(this.idToToken(id)!, id); // lowest id wins
    }
    return this.byPiece.get(token);
  }
}
