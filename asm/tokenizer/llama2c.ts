// llama2.c's tokenizer.bin ("tok512.bin"): int32 max_token_length, then vocab_size × {f32 score, i32 len, bytes},
// little-endian. vocab_size is not in the file: it comes from the model checkpoint.
// Also run.c's decode(prev, token).
import { Vocab } from './vocab';

export const ERR_VOCAB = 1;     // a: vocab_size
export const ERR_HEADER = 2;    // a: file length
export const ERR_MAXLEN = 3;    // a: max_token_length
export const ERR_TRUNCATED = 4; // a: piece index, b: its offset, c: bytes the piece needs there
export const ERR_LENGTH = 5;    // a: piece index, b: its length, c: max_token_length
export const ERR_NAN = 6;       // a: piece index
export const ERR_TRAILING = 7;  // a: bytes left after vocab_size pieces

export const errInfo = new StaticArray<i32>(4); // [code, a, b, c] of the last failed load

function fail(code: i32, a: i32, b: i32 = 0, c: i32 = 0): Vocab | null {
  errInfo[0] = code; errInfo[1] = a; errInfo[2] = b; errInfo[3] = c;
  return null;
}

/** Parses and validates the file; null (and errInfo set) when it is not a well-formed vocab_size-piece file. */
export function loadLlama2c(p: usize, n: i32, vocabSize: i32): Vocab | null {
  // Ids 0..2 are <unk>, BOS, EOS and 3..258 the byte-fallback pieces run.c's encode emits.
  if (vocabSize < 259) return fail(ERR_VOCAB, vocabSize);
  if (n < 4) return fail(ERR_HEADER, n);
  const maxTok = load<i32>(p);
  if (maxTok <= 0 || maxTok > 65536) return fail(ERR_MAXLEN, maxTok); // run.c sizes buffers by it
  let off = 4;
  for (let i = 0; i < vocabSize; i++) {
    if (n - off < 8) return fail(ERR_TRUNCATED, i, off, 8);
    const len = load<i32>(p + <usize>off, 4);
    if (len < 0 || len > maxTok) return fail(ERR_LENGTH, i, len, maxTok);
    if (n - off - 8 < len) return fail(ERR_TRUNCATED, i, off, 8 + len);
    if (isNaN(load<f32>(p + <usize>off))) return fail(ERR_NAN, i);
    off += 8 + len;
  }
  if (off != n) return fail(ERR_TRAILING, n - off);
  const v = new Vocab(vocabSize, n);
  off = 4;
  for (let i = 0; i < vocabSize; i++) {
    const len = load<i32>(p + <usize>off, 4);
    v.add(p + <usize>off + 8, len, load<f32>(p + <usize>off));
    off += 8 + len;
  }
  return v;
}

function hexDigit(c: u32): i32 {
  if (c - 0x30 < 10) return <i32>(c - 0x30);
  const l = (c | 0x20) - 0x61; // a-f, either case
  return l < 6 ? <i32>l + 10 : -1;
}

/** run.c: sscanf(piece, "<0x%02hhX>") — "<0x" and one or two hex digits give a raw byte; else -1. */
function byteValue(p: usize, n: i32): i32 {
  if (n < 4 || load<u8>(p) != 0x3c || load<u8>(p, 1) != 0x30 || load<u8>(p, 2) != 0x78) return -1;
  const hi = hexDigit(load<u8>(p, 3));
  if (hi < 0) return -1;
  const lo = n > 4 ? hexDigit(load<u8>(p, 4)) : -1;
  return lo < 0 ? hi : hi * 16 + lo;
}

/** run.c's decode: the piece's bytes, minus a leading space right after BOS; byte pieces give their byte.
 *  Writes to dst (room for maxLen bytes) and returns the length. */
export function decodePiece(v: Vocab, bos: i32, prev: i32, id: i32, dst: usize): i32 {
  let p = v.ptr(id), n = v.len(id);
  if (prev == bos && n > 0 && load<u8>(p) == 0x20) { p++; n--; }
  const b = byteValue(p, n);
  if (b >= 0) { store<u8>(dst, <u8>b); return 1; }
  memory.copy(dst, p, <usize>n);
  return n;
}
