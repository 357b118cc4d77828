// Converts a llama2.c tokenizer (tokenizer.bin / tok512.bin: pieces and scores) into an equivalent Hugging Face
// tokenizer.json in the Llama-2 layout (BPE with byte_fallback; normalizer Prepend("▁") + Replace(" ", "▁");
// decoder Replace/ByteFallback/Fuse/Strip; TemplateProcessing adding <s>) and its tokenizer_config.json, so that
// transformers.js and Hugging Face tokenizers encode as llama2.c's run.c does.
//
// Why it is equivalent: run.c starts from a " " piece (the dummy prefix) and one piece per code point (else its
// UTF-8 bytes as <0xHH>), then merges, again and again, the adjacent pair whose concatenation is a piece with the
// highest score (the leftmost such pair on ties). BPE with every (a, b) whose concatenation is a piece as a merge,
// ranked by that piece's score (best first), merges the same pair at each step: the lowest rank, leftmost first.
// Known differences (tested in test/llama2c-to-json.test.ts):
//  - text containing "<s>", "</s>" or "<unk>": tokenizer.json matches them as special tokens (as Llama-2's does);
//    run.c spells them out piece by piece;
//  - text containing "▁" (U+2581): run.c gives its bytes, tokenizer.json reads it as a space;
//  - a piece reachable by two different splits (a+b = c+d) whose pairs both wait at one step: run.c merges the
//    leftmost, BPE the one listed first (never seen on the test corpus; stories260K has 13 such pieces).
// Pieces that repeat (or collide once spaces become "▁") cannot be converted: tokenizer.json maps text to one id.

const SPACE = '\u2581';
/** llama2.c's fixed special ids (run.c: BOS 1, EOS 2; SentencePiece's <unk> 0) and their Hugging Face names. */
const SPECIAL_NAMES = ['<unk>', '<s>', '</s>'];

export interface Llama2cPiece { piece: string; score: number }

/** The pieces of a llama2.c tokenizer file: int32 max_token_length, then per piece float32 score, int32 len, bytes.
 *  `vocabSize` (the model's) limits how many are read; by default all of them. */
export function readLlama2cPieces(bytes: Uint8Array, vocabSize = Infinity, name = 'tokenizer.bin'): Llama2cPiece[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const td = new TextDecoder('utf-8', { fatal: true });
  const out: Llama2cPiece[] = [];
  let off = 4;
  while (out.length < vocabSize && off + 8 <= bytes.length) {
    const score = dv.getFloat32(off, true), len = dv.getInt32(off + 4, true);
    if (len < 0 || off + 8 + len > bytes.length) throw new Error(`${name}: piece ${out.length} is truncated`);
    let piece: string;
    try { piece = td.decode(bytes.subarray(off + 8, off + 8 + len)); } catch {
      throw new Error(`${name}: piece ${out.length} is not valid UTF-8; it cannot be a tokenizer.json token`);
    }
    out.push({ piece, score });
    off += 8 + len;
  }
  if (out.length < 259) throw new Error(`${name}: ${out.length} pieces; a llama2.c vocabulary has at least 259`);
  return out;
}

const specialToken = (id: number, content: string) =>
  ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** The tokenizer.json object for llama2.c pieces. */
export function llama2cTokenizerJson(pieces: Llama2cPiece[], name = 'tokenizer.bin'): Record<string, unknown> {
  const tokens = pieces.map((p, id) => (id < SPECIAL_NAMES.length ? SPECIAL_NAMES[id] : p.piece.replaceAll(' ', SPACE)));
  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => {
    if (Object.hasOwn(vocab, t)) throw new Error(`${name}: piece ${id} ${JSON.stringify(t)} repeats piece ${vocab[t]}; tokenizer.json needs distinct tokens`);
    vocab[t] = id;
  });
  for (let b = 0; b < 256; b++) {
    const t = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    if (vocab[t] !== b + 3) throw new Error(`${name}: id ${b + 3} should be the byte piece ${t}`);
  }
  // every split of a (non-special) piece into two pieces is a merge, ranked by the piece's score, best first;
  // equal scores keep id order, and the splits of one piece go shortest left part first
  const merges: { a: string; b: string; score: number; id: number; k: number }[] = [];
  tokens.forEach((t, id) => {
    if (id < SPECIAL_NAMES.length) return;
    const cps = Array.from(t);
    for (let k = 1; k < cps.length; k++) {
      const a = cps.slice(0, k).join(''), b = cps.slice(k).join('');
      if (Object.hasOwn(vocab, a) && Object.hasOwn(vocab, b) && vocab[a] >= SPECIAL_NAMES.length && vocab[b] >= SPECIAL_NAMES.length) {
        merges.push({ a, b, score: pieces[id].score, id, k });
      }
    }
  });
  merges.sort((x, y) => y.score - x.score || x.id - y.id || x.k - y.k);
  const bos = { SpecialToken: { id: '<s>', type_id: 0 } };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_NAMES.map((t, id) => specialToken(id, t)),
    normalizer: { type: 'Sequence', normalizers: [
      { type: 'Prepend', prepend: SPACE },
      { type: 'Replace', pattern: { String: ' ' }, content: SPACE },
    ] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [bos, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [bos, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'Sequence', decoders: [
      { type: 'Replace', pattern: { String: SPACE }, content: ' ' },
      { type: 'ByteFallback' },
      { type: 'Fuse' },
      { type: 'Strip', content: ' ', start: 1, stop: 0 },
    ] },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: merges.map((m) => [m.a, m.b]),
    },
  };
}

/** tokenizer_config.json for the converted tokenizer (no chat template: llama2.c vocabularies have none). */
export function llama2cTokenizerConfig(modelMaxLength: number): Record<string, unknown> {
  return {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(SPECIAL_NAMES.map((t, id) => {
      const { id: _id, ...rest } = specialToken(id, t);
      return [String(id), rest];
    })),
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: null,
    clean_up_tokenization_spaces: false,
    legacy: true,
    model_max_length: modelMaxLength,
    sp_model_kwargs: {},
    spaces_between_special_tokens: false,
    tokenizer_class: 'LlamaTokenizer',
  };
}

/** Both files for a llama2.c tokenizer file's bytes. */
export function convertLlama2cTokenizer(bytes: Uint8Array, opts: { vocabSize?: number; modelMaxLength?: number; name?: string } = {}) {
  const pieces = readLlama2cPieces(bytes, opts.vocabSize, opts.name);
  return {
    tokenizerJson: llama2cTokenizerJson(pieces, opts.name),
    tokenizerConfig: llama2cTokenizerConfig(opts.modelMaxLength ?? 2048),
  };
}
