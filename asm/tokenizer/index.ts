// Tokenizer engine (WASM). The JS boundary is bytes and ids: UTF-8 text in, i32 ids out, and back.
// JS writes inputs at scratchPtr(size), calls encode/decodeIds, and reads results at outPtr().
// One tokenizer per instance: load once (a reload works, but the stub runtime gives little memory back).
// Models: score-BPE (llama2.c's tokenizer.bin, below) and merges-BPE (Hugging Face tokenizer.json: the hf* exports
// of hf/exports-model.ts, with the normalizer/pre-tokenizer set up through hf/exports-pipeline.ts).
import { Vocab } from './vocab';
import { mergeWorkBytes } from './merge';
import { ScoreRule, encodeScoreBpe } from './score_bpe';
import { loadLlama2c as parseLlama2c, decodePiece as runcDecode, errInfo } from './llama2c';
import { scratch, align8 } from './scratch';

export * from './hf/exports-model';
export * from './hf/exports-pipeline';

let vocab: Vocab | null = null;
let rule: ScoreRule | null = null;
let bos = 1, eos = 2, byteBase = 3, dummyPrefix = -1;
let out: usize = 0;

export function alloc(size: usize): usize { return heap.alloc(size); }
export function free(ptr: usize): void { heap.free(ptr); }
/** The scratch block (at least `size` bytes) where JS writes encode/decode inputs. */
export function scratchPtr(size: usize): usize { return scratch(size); }
/** Where the last encode/decode wrote its result. */
export function outPtr(): usize { return out; }

/** Loads a llama2.c tokenizer file; 0 or an error code (details: errorInfo(1..3)). */
export function loadLlama2c(ptr: usize, len: i32, vocabSize: i32): i32 {
  const v = parseLlama2c(ptr, len, vocabSize);
  if (v == null) return errInfo[0];
  if (vocab != null) { vocab!.dispose(); rule!.dispose(); }
  vocab = v;
  rule = new ScoreRule(v);
  bos = 1; eos = 2; byteBase = 3;
  const space = memory.data<u8>([0x20]);
  dummyPrefix = v.find(space, 1);
  // run.c assumes " " is a piece; if not, the prefix space takes its byte-fallback id like any other byte.
  if (dummyPrefix < 0) dummyPrefix = 0x20 + byteBase;
  return 0;
}

export function errorInfo(i: i32): i32 { return errInfo[i]; }
export function vocabSize(): i32 { return vocab != null ? vocab!.size : 0; }
export function bosId(): i32 { return bos; }
export function eosId(): i32 { return eos; }
export function maxPieceLength(): i32 { return vocab != null ? vocab!.maxLen : 0; }
export function duplicatePieces(): i32 { return vocab != null ? vocab!.duplicates : 0; }

/** Encodes the `len` UTF-8 bytes at scratchPtr(); returns the id count, ids (i32) at outPtr(). */
export function encode(len: i32, addBos: i32, addEos: i32): i32 {
  const n = len + 2;
  const idsOff = align8(<usize>len);
  const workOff = align8(idsOff + (<usize>(n + 1) << 2));
  const base = scratch(workOff + mergeWorkBytes(n));
  out = base + idsOff;
  let count = encodeScoreBpe(rule!, base, len, addBos ? bos : -1, dummyPrefix, byteBase, out, base + workOff);
  if (addEos) {
    store<i32>(out + (<usize>count << 2), eos);
    count++;
  }
  return count;
}

/** The stored bytes of piece id at outPtr() (byte pieces stay "<0xHH>"); returns their length, or -1. */
export function pieceBytes(id: i32): i32 {
  const v = vocab!;
  if (<u32>id >= <u32>v.size) return -1;
  out = v.ptr(id);
  return v.len(id);
}

/** run.c decode(prev, id): the piece's bytes at outPtr(); returns their length, or -1 for an id out of range. */
export function decodePiece(prev: i32, id: i32): i32 {
  const v = vocab!;
  if (<u32>id >= <u32>v.size) return -1;
  out = scratch(<usize>v.maxLen);
  return runcDecode(v, bos, prev, id, out);
}

/**
 * Decodes the n ids (i32) at scratchPtr() to bytes at outPtr(); returns the byte count, or -(i + 1) when ids[i]
 * is out of range. `prev` is the id before the first one; BOS/EOS decode to nothing when skipSpecial is set.
 */
export function decodeIds(n: i32, prev: i32, skipSpecial: i32): i32 {
  const v = vocab!;
  const outOff = align8(<usize>n << 2);
  const base = scratch(outOff + <usize>n * <usize>v.maxLen);
  out = base + outOff;
  let len = 0;
  for (let i = 0; i < n; i++) {
    const id = load<i32>(base + (<usize>i << 2));
    if (<u32>id >= <u32>v.size) return -(i + 1);
    if (!(skipSpecial && (id == bos || id == eos))) len += runcDecode(v, bos, prev, id, out + <usize>len);
    prev = id;
  }
  return len;
}
