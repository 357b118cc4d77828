// The tokenizer API every runtime uses, backed by the AssemblyScript engine in asm/tokenizer (build/tokenizer.wasm).
// The wasm boundary is bytes: UTF-8 text in, i32 ids out, piece bytes back. Each tokenizer owns one instance.
import { instantiateWasm } from '../runtime/wasm.ts';

export interface Tokenizer {
  readonly vocabSize: number;
  bosId: number;
  eosId: number;
  /** Ids as llama2.c's run.c encode(text, bos, eos) gives them (defaults: no BOS, no EOS). */
  encode(text: string, opts?: { bos?: boolean; eos?: boolean }): number[];
  /** Text of a whole sequence. BOS/EOS give nothing, and the sequence starts as if after BOS, so the
   *  dummy-prefix space is dropped: decode(encode(s)) === s for valid text. */
  decode(ids: number[]): string;
  /** run.c's decode(prev, id), as raw bytes: the piece, minus its leading space after BOS; <0xHH> gives that byte. */
  decodePiece(prev: number, id: number): Uint8Array;
  /** Incremental text for generated ids: UTF-8 sequences split across tokens are held until complete. */
  streamDecoder(): { push(prev: number, id: number): string; flush(): string };
}

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

const utf8 = new TextEncoder();

/** The engine needs ~45 bytes of wasm32 memory per input byte: refuse what cannot fit rather than trap. */
const MAX_ENCODE_BYTES = 32 << 20;
function checkLength(len: number): void {
  if (len > MAX_ENCODE_BYTES) throw new RangeError(`text too long to encode at once: ${len} bytes (limit ${MAX_ENCODE_BYTES})`);
}

class WasmTokenizer implements Llama2cTokenizer {
  readonly vocabSize: number;
  bosId: number;
  eosId: number;
  readonly duplicatePieces: number;

  constructor(private readonly e: Engine) {
    this.vocabSize = e.vocabSize();
    this.bosId = e.bosId();
    this.eosId = e.eosId();
    this.duplicatePieces = e.duplicatePieces();
  }

  encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    // encodeInto writes straight into wasm memory; UTF-8 needs at most 3 bytes per UTF-16 unit.
    checkLength(text.length); // (and at least 1: refuse early, before reserving memory)
    const cap = text.length * 3;
    const ptr = this.e.scratchPtr(cap);
    const { written } = utf8.encodeInto(text, new Uint8Array(this.e.memory.buffer, ptr, cap));
    return this.run(written, opts);
  }

  encodeBytes(bytes: Uint8Array, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    checkLength(bytes.length);
    const ptr = this.e.scratchPtr(bytes.length);
    new Uint8Array(this.e.memory.buffer, ptr, bytes.length).set(bytes);
    return this.run(bytes.length, opts);
  }

  private run(len: number, opts: { bos?: boolean; eos?: boolean }): number[] {
    checkLength(len);
    const n = this.e.encode(len, opts.bos ? 1 : 0, opts.eos ? 1 : 0);
    return Array.from(new Int32Array(this.e.memory.buffer, this.e.outPtr(), n));
  }

  decode(ids: number[]): string {
    return new TextDecoder().decode(this.decodeBytes(ids, this.bosId, true));
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

  streamDecoder(): { push(prev: number, id: number): string; flush(): string } {
    // TextDecoder's stream mode keeps an incomplete UTF-8 sequence until its last byte arrives;
    // invalid bytes become U+FFFD. BOS/EOS print nothing, as in decode().
    const td = new TextDecoder();
    return {
      push: (prev, id) => (id === this.bosId || id === this.eosId ? '' : td.decode(this.decodePiece(prev, id), { stream: true })),
      flush: () => td.decode(),
    };
  }
}
