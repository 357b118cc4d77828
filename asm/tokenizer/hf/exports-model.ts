// WASM exports of the Hugging Face BPE engine (the pipeline's normalizer/pre-tokenizer exports are in
// exports-pipeline.ts). Inputs are bytes JS wrote at a pointer it got from scratchPtr/alloc.
import { loadBpe, vocab, droppedMergeCount, resolvedMerges, dropResolved } from './bpe';
import { resetAdded, addAdded, A_NORMALIZED } from './added';
import { encodeText, ids } from './encode';
import { Bytes } from './text';
import { normalize, hasNormalizer } from './normalize';
import { scanTokenizerJson, packJsonModel, vocabAt, vocabEnd, mergesAt, mergesEnd, packed, packedLen } from './json-model';

/** Loads the packed BPE model (see bpe.ts loadBpe); 0 or (byte offset + 1) where it is truncated. */
export function hfLoadModel(ptr: usize, len: i32): i32 { return loadBpe(ptr, len); }
/** Merges skipped at load because a part or the result is not in the vocabulary. */
export function hfDroppedMerges(): i32 { return droppedMergeCount(); }
/** With F_RECORD: the merges as resolved (a, b, merged id) i32 triples, for the compact cached form; 0 if none. */
export function hfResolvedMerges(): usize { return resolvedMerges(); }
export function hfDropResolved(): void { dropResolved(); }
export function hfVocabCount(): i32 { return vocab != null ? vocab!.size : 0; }
/** Token bytes: token i is blob[offs[i] .. offs[i + 1]) (raw bytes for byte-level vocabularies). */
export function hfVocabBlob(): usize { return vocab!.blob; }
export function hfVocabOffs(): usize { return vocab!.offs; }
/** Id of the vocabulary token with exactly these bytes, or -1. */
export function hfFind(ptr: usize, len: i32): i32 { return len > 0 ? vocab!.find(ptr, len) : -1; }

/** Starts a new added-token list of n tokens. */
export function hfAddedReset(n: i32): void { resetAdded(n); }

const tmp = new Bytes(256);
/** Registers added token i; normalized ones are matched in their normalized form (normalizer set up first). */
export function hfAddedAdd(i: i32, id: i32, flags: i32, ptr: usize, len: i32): void {
  if ((flags & A_NORMALIZED) && hasNormalizer()) {
    tmp.reset();
    normalize(ptr, len, tmp);
    addAdded(i, id, flags, tmp.ptr, tmp.len);
  } else {
    addAdded(i, id, flags, ptr, len);
  }
}

/** Encodes the len UTF-8 bytes at ptr; returns the id count, ids (i32) at hfIdsPtr(). */
export function hfEncode(ptr: usize, len: i32): i32 { return encodeText(ptr, len); }
export function hfIdsPtr(): usize { return ids.ptr; }

/** Pieces whose bytes repeat an earlier piece's: 0 for any real tokenizer.json (see models/hf/tokenizer-json.ts). */
export function hfDuplicates(): i32 { return vocab != null ? vocab!.duplicates : 0; }

// Fast tokenizer.json load (hf/json-model.ts), run in a throwaway instance.
export function hfScanJson(ptr: usize, len: i32): i32 { return scanTokenizerJson(ptr, len); }
/** 0 vocab start, 1 vocab end, 2 merges start, 3 merges end (byte offsets in the file). */
export function hfJsonRange(i: i32): i32 { return i == 0 ? vocabAt : i == 1 ? vocabEnd : i == 2 ? mergesAt : mergesEnd; }
export function hfPackJson(ptr: usize, flags: i32, aff: usize, prefixLen: i32, suffixLen: i32, unk: usize, unkLen: i32): i32 {
  return packJsonModel(ptr, flags, aff, prefixLen, suffixLen, unk, unkLen);
}
export function hfPackedPtr(): usize { return packed; }
export function hfPackedLen(): i32 { return packedLen; }
