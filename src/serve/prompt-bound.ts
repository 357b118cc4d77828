// A lower bound on a text's token count from its UTF-8 length alone, so a prompt that cannot fit the context is
// refused before it is tokenized. If no token ever stands for more than B input bytes, a text of n bytes needs at
// least ⌈n / B⌉ tokens. That holds only when the tokenizer drops nothing: every input byte ends up inside some
// token. So the bound is given only for tokenizers where that is known, and is undefined (exact counting only,
// bounded by --max_request_bytes) for the rest:
//   - llama2.c: pieces or byte fallback for every byte, no normalizer (a dummy prefix only adds);
//   - Hugging Face byte-level BPE (every byte maps to a symbol, no <unk>) whose normalizer only rewrites Unicode
//     (NFC/NFD/NFKC/NFKD, Lowercase: at most 4 bytes in → 1 byte out, e.g. NFKC(𝐀) = A) or prepends, whose
//     pre-tokenizers only split without removing, and with no added token that strips the spaces around it.
// Anything else (Strip, Replace, Whitespace splitting, <unk> fusing, lstrip/rstrip) can make long text short.
import type { Tokenizer } from '../../models/tokenizer.ts';
import type { HfSpec } from '../../models/hf/spec.ts';
import { A_LSTRIP, A_RSTRIP } from '../../models/hf/spec.ts';

const utf8Len = (s: string | undefined) => (s === undefined ? 0 : new TextEncoder().encode(s).length);

/** Bytes of input one token can stand for at most (piece text as stored and as decoded, the longer). */
function longestPiece(tok: Tokenizer): number {
  let max = 1;
  for (let id = 0; id < tok.vocabSize; id++) {
    let decoded = 0;
    try { decoded = utf8Len(tok.decode([id])); } catch { /* a hole in the ids */ }
    max = Math.max(max, utf8Len(tok.idToToken(id)), decoded);
  }
  return max;
}

const SHRINKING_BY_AT_MOST_4 = new Set(['NFC', 'NFD', 'NFKC', 'NFKD', 'Lowercase']);
const SPLITTING_ONLY = new Set(['ByteLevel', 'Digits', 'Punctuation', 'Metaspace']);

/** How many times shorter normalization can make a text (undefined: without bound). */
function normalizerShrink(n: unknown): number | undefined {
  if (n === null || n === undefined) return 1;
  const o = n as { type?: string; normalizers?: unknown[] };
  if (o.type === 'Sequence') {
    let f = 1;
    for (const m of o.normalizers ?? []) { const g = normalizerShrink(m); if (g === undefined) return undefined; f *= g; }
    return f;
  }
  if (o.type === 'Prepend') return 1;
  return SHRINKING_BY_AT_MOST_4.has(o.type ?? '') ? 4 : undefined;
}

function preTokenizerKeepsAll(p: unknown): boolean {
  if (p === null || p === undefined) return true;
  const o = p as { type?: string; pretokenizers?: unknown[]; behavior?: string };
  if (o.type === 'Sequence') return (o.pretokenizers ?? []).every(preTokenizerKeepsAll);
  if (o.type === 'Split') return o.behavior !== 'Removed' && o.behavior !== 'removed';
  return SPLITTING_ONLY.has(o.type ?? '');
}

/**
 * B such that a text of n UTF-8 bytes encodes to at least ⌈n / B⌉ tokens, or undefined when this tokenizer gives
 * no such guarantee. Costs one pass over the vocabulary: compute it once per model.
 */
export function maxBytesPerToken(tok: Tokenizer): number | undefined {
  if (tok.kind === 'llama2c') return longestPiece(tok);
  // the spec is the validated tokenizer.json the Hugging Face tokenizer was built from
  const spec = (tok as unknown as { spec?: HfSpec }).spec;
  if (!spec || !spec.byteLevel || !preTokenizerKeepsAll(spec.preTokenizer)) return undefined;
  if (spec.added.some((a) => a.flags & (A_LSTRIP | A_RSTRIP))) return undefined;
  const shrink = normalizerShrink(spec.normalizer);
  return shrink === undefined ? undefined : longestPiece(tok) * shrink;
}
