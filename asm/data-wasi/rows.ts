// The data stage's input (data/rows.bin, written by src/bundle/data-input.ts: its layout is documented there) read
// and tokenized row by row with the engine of asm/tokenizer (llama2.c or tokenizer.json), as src/data does it in JS:
//   chat rows   the rendered text as pieces, trained or not: ids of the whole text (a llama2.c chat tokenizer splits
//               the added tokens out first: src/data/model-tokenizer.ts llama2cChatTokenizer; the tokenizer.json
//               engine does that itself) and the trained mask by src/data/encode-spans.ts encodeWithSpans's rule
//               for turning a text boundary into a token index;
//   text rows   pretraining text: BOS, the text, EOS (encodeText);
//   token rows  ids and mask as they are (pre-tokenized datasets);
// then --max_length / --truncation_strategy (src/data/truncate.ts). The JS side decided which rows are kept and
// their order (templates, mixing, shuffling, the validation split), so every row read is kept.
import { loadLlama2c, encode, scratchPtr, outPtr, hfLoadModel, hfAddedReset, hfAddedAdd, hfEncode, hfIdsPtr, normalizerClear,
  normalizerPush, pretokenizerClear, pretokenizerPush } from '../tokenizer/index';
import { say, sayBytes, sayInt, endLine } from './wasi';

const IGNORE: i32 = -100;
export const TRUNCATE_DELETE = 0, TRUNCATE_LEFT = 1, TRUNCATE_RIGHT = 2;

/** A reader over the input's bytes; every field is 4-byte aligned. */
export class Reader {
  at: usize;
  constructor(public base: usize, public len: i32, public name: string) { this.at = base; }
  need(n: usize): void {
    if (this.at + n > this.base + <usize>this.len) { say(this.name); say(': truncated at byte '); sayInt(<i64>(this.at - this.base)); endLine(1); }
  }
  u32(): u32 { this.need(4); const v = load<u32>(this.at); this.at += 4; return v; }
  i32(): i32 { return <i32>this.u32(); }
  /** u32 length, the bytes, zero padding to 4: returns the bytes' address, their length in `lastLen`. */
  lastLen: i32 = 0;
  bytes(): usize {
    const n = this.u32();
    this.need((<usize>n + 3) & ~3);
    const p = this.at;
    this.at += (<usize>n + 3) & ~3;
    this.lastLen = <i32>n;
    return p;
  }
}

/** A growable i32 list in the runtime's heap. */
export class Ints {
  ptr: usize; len: i32 = 0; cap: i32;
  constructor(cap: i32 = 1024) { this.cap = cap; this.ptr = heap.alloc(<usize>cap << 2); }
  push(v: i32): void {
    if (this.len == this.cap) { this.cap <<= 1; this.ptr = heap.realloc(this.ptr, <usize>this.cap << 2); }
    store<i32>(this.ptr + (<usize>this.len << 2), v);
    this.len++;
  }
  at(i: i32): i32 { return load<i32>(this.ptr + (<usize>i << 2)); }
}

/** The tokenizer's added tokens: split out of text before the engine sees it, and located by encodeWithSpans. */
class Added { constructor(public id: i32, public ptr: usize, public len: i32) {} }
const added = new Array<Added>();
let bos: i32 = -1, eos: i32 = -1;
/** the tokenizer.json engine (else llama2.c's) */
let hf = false;

export function setSpecials(bosId: i32, eosId: i32): void { bos = bosId; eos = eosId; }

export function loadLlama2cFile(file: usize, fileLen: i32, vocabSize: i32, name: usize, nameLen: i32): void {
  const code = loadLlama2c(file, fileLen, vocabSize);
  if (code != 0) { sayBytes(name, nameLen); say(': not a llama2.c tokenizer of '); sayInt(vocabSize); say(' pieces (engine code '); sayInt(code); say(')'); endLine(1); }
}

/** The tokenizer.json engine's set-up as models/hf/hf-tokenizer.ts createHfTokenizer makes it, from the input. */
export function loadHf(r: Reader): void {
  hf = true;
  normalizerClear();
  pretokenizerClear();
  const pushes = r.u32();
  for (let i: u32 = 0; i < pushes; i++) {
    const stage = r.i32(), kind = r.i32();
    const a = r.bytes(), aLen = r.lastLen, b = r.bytes(), bLen = r.lastLen, flags = r.i32();
    const code = stage == 0 ? normalizerPush(kind, a, aLen, b, bLen, flags) : pretokenizerPush(kind, a, aLen, b, bLen, flags);
    if (code < 0) { say(r.name); say(': the tokenizer pipeline step '); sayInt(i); say(' was refused (code '); sayInt(code); say(')'); endLine(1); }
  }
  const model = r.bytes(), modelLen = r.lastLen;
  const code = hfLoadModel(model, modelLen);
  if (code != 0) { say(r.name); say(': corrupt packed tokenizer model (at byte '); sayInt(code - 1); say(')'); endLine(1); }
}

/** Registers the n added tokens that follow in the input (with their engine flags, for tokenizer.json). */
export function readAddedTokens(r: Reader): void {
  const n = r.u32();
  if (hf) hfAddedReset(<i32>n);
  for (let i: u32 = 0; i < n; i++) {
    const id = r.i32(), flags = r.i32(), p = r.bytes(), len = r.lastLen;
    if (hf) hfAddedAdd(<i32>i, id, flags, p, len);
    if (len > 0) addAddedToken(id, p, len);
  }
}

function addAddedToken(id: i32, ptr: usize, len: i32): void {
  // longest first, as encodeWithSpans's alternation tries them
  added.push(new Added(id, ptr, len));
  for (let i = added.length - 1; i > 0 && added[i - 1].len < len; i--) { const t = added[i]; added[i] = added[i - 1]; added[i - 1] = t; }
}

/** The added token that starts at p (the longest), or -1. */
function addedAt(p: usize, end: usize): i32 {
  for (let k = 0; k < added.length; k++) {
    const a = added[k];
    if (p + <usize>a.len <= end && memory.compare(p, a.ptr, <usize>a.len) == 0) return k;
  }
  return -1;
}

/** The engine on plain text (no added tokens in it): run.c encode without BOS/EOS. */
function engineEncode(p: usize, n: i32, out: Ints): void {
  if (n <= 0) return;
  const s = scratchPtr(<usize>n);
  memory.copy(s, p, <usize>n);
  const count = encode(n, 0, 0);
  const o = outPtr();
  for (let i = 0; i < count; i++) out.push(load<i32>(o + (<usize>i << 2)));
}

/** The chat tokenizer's encode(text) (no special tokens added). llama2.c: added tokens become their ids, the text
 *  between them goes to the engine; tokenizer.json: the engine takes the whole text. */
function chatEncode(p: usize, n: i32, out: Ints): void {
  if (hf) {
    const s = scratchPtr(<usize>max(n, 1));
    memory.copy(s, p, <usize>n);
    const count = hfEncode(s, n);
    const o = hfIdsPtr();
    for (let i = 0; i < count; i++) out.push(load<i32>(o + (<usize>i << 2)));
    return;
  }
  const end = p + <usize>n;
  let from = p;
  for (let q = p; q < end;) {
    const k = addedAt(q, end);
    if (k < 0) { q++; continue; }
    engineEncode(from, <i32>(q - from), out);
    out.push(added[k].id);
    q += <usize>added[k].len;
    from = q;
  }
  engineEncode(from, <i32>(end - from), out);
}

function isAddedId(id: i32): bool {
  for (let k = 0; k < added.length; k++) if (added[k].id == id) return true;
  return false;
}

const occStart = new Array<i32>(), occEnd = new Array<i32>(), occTok = new Array<i32>();
// reused from row to row (the stub runtime never gives memory back)
const head = new Ints(256), own = new Ints(1024), rowIds = new Ints(1024), mask = new Ints(1024), runs = new Array<i32>();
const texts = new Array<usize>(), lens = new Array<i32>();
let joined: usize = 0, joinedCap: i32 = 0;

/** encodeWithSpans's tokenAt: the token index where text byte b falls (p: the text, ids: its encoding). */
function tokenAt(p: usize, n: i32, ids: Ints, b: i32): i32 {
  if (b >= n) return ids.len;
  let lo = 0, hi = occEnd.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (occEnd[mid] <= b) lo = mid + 1; else hi = mid; }
  if (lo > 0 && occEnd[lo - 1] == b) return occTok[lo - 1] + 1;
  if (lo < occStart.length && occStart[lo] <= b) return occTok[lo];
  const segStart = lo > 0 ? occEnd[lo - 1] : 0;
  const base = lo > 0 ? occTok[lo - 1] + 1 : 0;
  if (segStart == b) return base;
  head.len = 0;
  chatEncode(p + <usize>segStart, b - segStart, head);
  let k = 0;
  while (k < head.len && base + k < ids.len && ids.at(base + k) == head.at(k)) k++;
  return base + k;
}

/** A chat row: `n` text bytes at p with trained byte runs [runs[2i], runs[2i+1]); ids and mask appended. */
function encodeChat(p: usize, n: i32, runs: Array<i32>, ids: Ints, mask: Ints): void {
  const first = ids.len;
  own.len = 0;
  chatEncode(p, n, own);
  occStart.length = 0; occEnd.length = 0; occTok.length = 0;
  if (runs.length) {
    let t = 0, aligned = true;
    for (let q = 0; q < n;) {
      const k = addedAt(p + <usize>q, p + <usize>n);
      if (k < 0) { q++; continue; }
      while (t < own.len && !isAddedId(own.at(t))) t++;
      if (t >= own.len || own.at(t) != added[k].id) { aligned = false; break; }
      occStart.push(q); occEnd.push(q + added[k].len); occTok.push(t++);
      q += added[k].len;
    }
    if (!aligned) { occStart.length = 0; occEnd.length = 0; occTok.length = 0; }
  }
  for (let i = 0; i < own.len; i++) { ids.push(own.at(i)); mask.push(0); }
  for (let r = 0; r < runs.length; r += 2) {
    const a = tokenAt(p, n, own, runs[r]), b = tokenAt(p, n, own, runs[r + 1]);
    for (let i = a; i < b; i++) store<i32>(mask.ptr + (<usize>(first + i) << 2), 1);
  }
}

/** A pretraining row: BOS, the text, EOS (unless the text ended with it); all trained but BOS. */
function encodeText(p: usize, n: i32, ids: Ints, mask: Ints): void {
  const first = ids.len;
  if (bos >= 0) ids.push(bos);
  chatEncode(p, n, ids);
  if (eos >= 0 && (ids.len == first || ids.at(ids.len - 1) != eos)) ids.push(eos);
  for (let i = first; i < ids.len; i++) mask.push(i == first && bos >= 0 && ids.at(i) == bos ? 0 : 1);
}

/**
 * Reads and tokenizes one row; appends its (truncated) ids and labels (the id where trained, -100 elsewhere) and
 * returns its token count.
 */
export function readRow(r: Reader, maxLength: i32, strategy: i32, row: i32, ids: Ints, labels: Ints): i32 {
  rowIds.len = 0; mask.len = 0;
  const kind = r.u32();
  if (kind == 0) {
    const pieces = r.u32();
    runs.length = 0; texts.length = 0; lens.length = 0;
    let n = 0;
    for (let i: u32 = 0; i < pieces; i++) {
      const trained = r.u32();
      const p = r.bytes(), len = r.lastLen;
      texts.push(p); lens.push(len);
      if (trained && len > 0) {
        if (runs.length && runs[runs.length - 1] == n) runs[runs.length - 1] = n + len;  // adjacent spans: one run
        else { runs.push(n); runs.push(n + len); }
      }
      n += len;
    }
    if (n + 1 > joinedCap) { joinedCap = max(n + 1, joinedCap << 1); joined = joined ? heap.realloc(joined, <usize>joinedCap) : heap.alloc(<usize>joinedCap); }
    let at: usize = 0;
    for (let i = 0; i < texts.length; i++) { memory.copy(joined + at, texts[i], <usize>lens[i]); at += <usize>lens[i]; }
    encodeChat(joined, n, runs, rowIds, mask);
  } else if (kind == 1) {
    const p = r.bytes();
    encodeText(p, r.lastLen, rowIds, mask);
  } else if (kind == 2) {
    const n = <i32>r.u32();
    for (let i = 0; i < n; i++) rowIds.push(r.i32());
    for (let i = 0; i < n; i++) mask.push(r.i32());
  } else {
    say(r.name); say(': row '); sayInt(row); say(' has kind '); sayInt(kind); say(' (0 chat, 1 text, 2 tokens)'); endLine(1);
  }
  let a = 0, b = rowIds.len;
  if (maxLength >= 0 && b > maxLength) {
    if (strategy == TRUNCATE_DELETE) {
      say(r.name); say(': row '); sayInt(row); say(' has '); sayInt(b); say(' tokens, more than max_length ');
      sayInt(maxLength); say(' (the bundle was made with another tokenizer?)'); endLine(1);
    }
    if (strategy == TRUNCATE_LEFT) a = b - maxLength; else b = maxLength;
  }
  for (let i = a; i < b; i++) {
    const id = rowIds.at(i);
    ids.push(id);
    labels.push(mask.at(i) ? id : IGNORE);
  }
  return b - a;
}
