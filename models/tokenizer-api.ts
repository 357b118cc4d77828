// What every tokenizer offers (llama2.c's in tokenizer.ts, Hugging Face's in hf/): the interface alone, so the
// engines implement it without importing the module that loads them.

export interface EncodeOptions {
  /** Add the special tokens the tokenizer adds around a sequence (tokenizer.json's post-processor; llama2.c: BOS).
   *  Default false. */
  addSpecialTokens?: boolean;
  /** llama2.c only: run.c's encode(text, bos, eos) flags. */
  bos?: boolean;
  eos?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (default: true for llama2.c, whose BOS/EOS decode to nothing; false for tokenizer.json). */
  skipSpecialTokens?: boolean;
  /** transformers' clean_up_tokenization (" ." → "."…); default: tokenizer_config.json's setting (false if absent). */
  cleanUpTokenizationSpaces?: boolean;
}

/** Incremental text for ids as they are generated: text is only emitted once its characters are complete. */
export interface StreamDecoder {
  /** The text that `id` completes ('' while a character is still incomplete). The two-argument form passes the
   *  id before it (llama2.c's decode(prev, id)); with one argument the decoder remembers it. */
  push(id: number): string;
  push(prev: number, id: number): string;
  /** Whatever is still held back (an incomplete UTF-8 sequence decodes to U+FFFD), and resets. */
  flush(): string;
}

export interface StreamOptions {
  skipSpecialTokens?: boolean;
  /** llama2.c: the id before the first pushed one (default BOS: the first piece loses its leading space). */
  prev?: number;
}

export interface SpecialToken { id: number; content: string }

export interface Tokenizer {
  readonly kind: 'llama2c' | 'hf';
  /** Ids run from 0 to vocabSize - 1 (added tokens included). */
  readonly vocabSize: number;
  /** -1 when the tokenizer has none. */
  bosId: number;
  eosId: number;
  padId: number;
  readonly specialTokens: readonly SpecialToken[];
  encode(text: string, opts?: EncodeOptions): number[];
  /** Text of a whole sequence; throws RangeError for an id outside the vocabulary. */
  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string;
  streamDecoder(opts?: StreamOptions): StreamDecoder;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}
