// The Hugging Face encode pipeline, whole texts at a time: split on added tokens (raw text) → normalize each
// section → split on normalized added tokens → pre-tokenize → BPE each piece → ids. Post-processing (special
// tokens from the template) is done by the caller on the id list.
import { Bytes, Pieces } from './text';
import { normalize, hasNormalizer } from './normalize';
import { pretokenize } from './pretokenize';
import { IdBuf, bpeWord } from './bpe';
import { raw, norm, splitAdded, SplitSink } from './added';

/** The ids of the last encode. */
export const ids = new IdBuf(4096);
const normBuf = new Bytes(4096);
const pieces = new Pieces();
// Whether the section being pre-tokenized starts at offset 0 of the input (Metaspace prepend_scheme "first").
let atStart = true;

function encodeWords(p: usize, n: i32, first: bool): void {
  if (n <= 0) return;
  pieces.reset();
  pretokenize(p, n, pieces, first);
  const k = pieces.count();
  for (let i = 0; i < k; i++) bpeWord(pieces.piecePtr(i), pieces.pieceLen(i), ids);
}

class NormSink extends SplitSink {
  gap(p: usize, start: i32, end: i32): void { encodeWords(p + <usize>start, end - start, atStart && start == 0); }
  token(id: i32): void { ids.push(id); }
}

class RawSink extends SplitSink {
  gap(p: usize, start: i32, end: i32): void { encodeSection(p + <usize>start, end - start, start == 0); }
  token(id: i32): void { ids.push(id); }
}

const normSink = new NormSink();
const rawSink = new RawSink();

function encodeSection(p: usize, n: i32, first: bool): void {
  if (hasNormalizer()) {
    normBuf.reset();
    normalize(p, n, normBuf);
    p = normBuf.ptr;
    n = normBuf.len;
  }
  if (norm.count > 0) {
    atStart = first;
    splitAdded(norm, p, n, normSink);
  } else {
    encodeWords(p, n, first);
  }
}

/** Encodes the n UTF-8 bytes at p into `ids`; returns the id count. */
export function encodeText(p: usize, n: i32): i32 {
  ids.len = 0;
  splitAdded(raw, p, n, rawSink);
  return ids.len;
}
