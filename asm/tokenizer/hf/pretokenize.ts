// Pre-tokenizer pipeline, configured from JS by successive pushes; a Sequence is its members pushed in
// order, each applied to every piece of the previous stage. Semantics follow @huggingface/tokenizers (the
// JS reference) where it implements a feature; Split's merging behaviours/invert and Metaspace's `split`,
// which it ignores, follow Hugging Face tokenizers (Rust).
import { Bytes, Pieces } from './text';
import { PIPE_OK, PIPE_ERR_KIND, PIPE_ERR_REGEX, PIPE_ERR_ARGS, PIPE_ERR_FULL } from './normalize';
import { splitPieces, recognizeRegex, PATTERN_STRING, SPLIT_MERGED_WITH_NEXT, SPLIT_CONTIGUOUS } from './split';
import { scanGpt2 } from './scan';
import { ctype, C_SPACE_JS, C_PUNCT } from '../unicode/props';
import { decodeUtf8, cpOf, lenOf } from '../unicode/utf8';

export const PRE_BYTE_LEVEL: i32 = 1;       // flags: 1 add_prefix_space, 2 use_regex
export const PRE_SPLIT: i32 = 2;            // a = pattern; flags: behavior (bits 0-2) | 8 invert | 16 a is a Regex
export const PRE_DIGITS: i32 = 3;           // flags: 1 individual_digits
export const PRE_METASPACE: i32 = 4;        // a = replacement; flags: prepend_scheme (0 always, 1 first, 2 never) | 4 split
export const PRE_WHITESPACE_SPLIT: i32 = 5;
export const PRE_WHITESPACE: i32 = 6;
export const PRE_PUNCTUATION: i32 = 7;
export const PRE_BERT: i32 = 8;

const MAX_STAGES = 32;

class PreStage {
  kind: i32;
  flags: i32;
  pattern: i32 = PATTERN_STRING;
  a: Bytes;
  constructor(kind: i32, flags: i32, aPtr: usize, aLen: i32) {
    this.kind = kind; this.flags = flags;
    const a = new Bytes(aLen);
    a.append(aPtr, aLen);
    this.a = a;
  }
}

const stages = new Array<PreStage>();
const stageA = new Pieces();
const stageB = new Pieces();
const tmp = new Bytes(4096);

export function pretokenizerClear(): void { stages.length = 0; }
export function hasPretokenizer(): bool { return stages.length > 0; }

export function pretokenizerPush(kind: i32, aPtr: usize, aLen: i32, bPtr: usize, bLen: i32, flags: i32): i32 {
  if (kind < PRE_BYTE_LEVEL || kind > PRE_BERT) return PIPE_ERR_KIND;
  if (aLen < 0 || bLen < 0) return PIPE_ERR_ARGS;
  if (stages.length >= MAX_STAGES) return PIPE_ERR_FULL;
  const st = new PreStage(kind, flags, aPtr, aLen);
  if (kind == PRE_SPLIT) {
    if ((flags & 7) > SPLIT_CONTIGUOUS) return PIPE_ERR_ARGS;
    if (flags & 16) {
      st.pattern = recognizeRegex(aPtr, aLen);
      if (st.pattern < 0) return PIPE_ERR_REGEX;
    } else if (aLen == 0) return PIPE_ERR_ARGS;
  } else if (kind == PRE_METASPACE) {
    if (aLen == 0 || (flags & 3) > 2) return PIPE_ERR_ARGS;
  } else if (kind == PRE_BYTE_LEVEL && (flags & 3) == 0) {
    return PIPE_OK; // neither prefix nor regex: the identity here (the byte mapping is the model's)
  }
  stages.push(st);
  return PIPE_OK;
}

/** Appends the pre-tokens of [src, src + len) to out. `first`: the text is the first section (before any
 *  added token), the only one where Metaspace's prepend_scheme "first" prepends. */
export function pretokenize(src: usize, len: i32, out: Pieces, first: bool = true): void {
  const n = stages.length;
  if (n == 0) { out.add(src, len); return; }
  if (n == 1) { applyStage(stages[0], src, len, out, first); return; }
  let cur = stageA, next = stageB;
  cur.reset();
  applyStage(stages[0], src, len, cur, first);
  for (let s = 1; s < n; s++) {
    const dst = s == n - 1 ? out : next;
    if (s < n - 1) next.reset();
    const st = stages[s];
    for (let i = 0, k = cur.count(); i < k; i++) applyStage(st, cur.piecePtr(i), cur.pieceLen(i), dst, first);
    const t = cur; cur = next; next = t;
  }
}

function applyStage(st: PreStage, p: usize, n: i32, out: Pieces, first: bool): void {
  switch (st.kind) {
    case PRE_BYTE_LEVEL: byteLevel(p, n, st.flags, out); break;
    case PRE_SPLIT: splitPieces(p, n, st.pattern, st.a.ptr, st.a.len, st.flags & 7, (st.flags & 8) != 0, out); break;
    case PRE_METASPACE: metaspace(p, n, st, out, first); break;
    default: runs(p, n, st.kind, st.flags, out);
  }
}

function byteLevel(p: usize, n: i32, flags: i32, out: Pieces): void {
  if ((flags & 1) && (n == 0 || load<u8>(p) != 0x20)) {
    tmp.reset(); tmp.push(0x20); tmp.append(p, n);
    p = tmp.ptr; n = tmp.len;
  }
  if ((flags & 2) == 0) { out.add(p, n); return; }
  let i = 0;
  while (i < n) {
    const e = scanGpt2(p, i, n, C_SPACE_JS);
    out.add(p + <usize>i, e - i);
    i = e;
  }
}

function metaspace(p: usize, n: i32, st: PreStage, out: Pieces, first: bool): void {
  const rep = st.a;
  tmp.reset();
  const scheme = st.flags & 3;
  const startsWithRep = n >= 1 && load<u8>(p) == 0x20 || n >= rep.len && memory.compare(p, rep.ptr, <usize>rep.len) == 0;
  if (!startsWithRep && (scheme == 0 || (scheme == 1 && first))) tmp.append(rep.ptr, rep.len);
  for (let i = 0; i < n; i++) {
    const b = load<u8>(p + <usize>i);
    if (b == 0x20) tmp.append(rep.ptr, rep.len); else tmp.push(b);
  }
  if (st.flags & 4) splitPieces(tmp.ptr, tmp.len, PATTERN_STRING, rep.ptr, rep.len, SPLIT_MERGED_WITH_NEXT, false, out);
  else out.add(tmp.ptr, tmp.len);
}

// Run categories: 0 drops the code point, a negative category makes one piece per code point.
function category(kind: i32, cp: i32, flags: i32): i32 {
  switch (kind) {
    case PRE_DIGITS: // [^\d]+|\d+ (or \d), \d being ASCII
      return <u32>(cp - 0x30) < 10 ? ((flags & 1) ? -1 : 2) : 1;
    case PRE_WHITESPACE_SPLIT: // \S+
      return (ctype(cp) & C_SPACE_JS) ? 0 : 1;
    case PRE_WHITESPACE: { // \w+|[^\w\s]+, \w being ASCII (no u flag)
      if (cp < 0x80 && (<u32>((cp | 0x20) - 0x61) < 26 || <u32>(cp - 0x30) < 10 || cp == 0x5F)) return 1;
      return (ctype(cp) & C_SPACE_JS) ? 0 : 2;
    }
    case PRE_PUNCTUATION: return isRefPunct(cp) ? 2 : 1; // [^P]+|[P]+
    default: // Bert: [^\sP]+|[P]
      if (isRefPunct(cp)) return -1;
      return (ctype(cp) & C_SPACE_JS) ? 0 : 1;
  }
}

// The reference's PUNCTUATION_REGEX: \p{P} plus all ASCII punctuation and symbols.
// @ts-ignore: decorator
@inline function isRefPunct(cp: i32): bool {
  if (cp < 0x80) return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
  return (ctype(cp) & C_PUNCT) != 0;
}

function runs(p: usize, n: i32, kind: i32, flags: i32, out: Pieces): void {
  const end = p + <usize>n;
  let start: usize = p, cat = 0;
  let q = p;
  while (q < end) {
    const d = decodeUtf8(q, end);
    const c = category(kind, cpOf(d), flags);
    if (c != cat || c < 0) {
      if (cat != 0) out.add(start, <i32>(q - start));
      start = q; cat = c;
    }
    q += <usize>lenOf(d);
  }
  if (cat != 0) out.add(start, <i32>(q - start));
}
