// Fast load of tokenizer.json: finds model.vocab and model.merges in the raw file bytes and packs them straight
// into the buffer loadBpe reads (models/hf/bpe-pack.ts makes the same bytes from JSON.parse output), so JS only
// parses the small rest of the file. Anything unusual (an id that is not a plain integer, a repeated id or token,
// a merge that is neither "a b" nor ["a", "b"]) returns an error code and JS falls back to the JSON.parse path.
import { Bytes } from './text';
import { IdBuf } from './bpe';

const HEADER = 28 + 1024;
const F_BYTE_LEVEL = 1, F_BYTE_FALLBACK = 2;

let pos: usize = 0, end: usize = 0;
export let vocabAt = 0, vocabEnd = 0, mergesAt = 0, mergesEnd = 0; // byte ranges of the two values
export let packed: usize = 0, packedLen = 0;

// GPT-2 byte-level alphabet: CHAR_TO_BYTE[c] for code points c < 324 (-1: not in the alphabet).
const CHAR_TO_BYTE = new StaticArray<i16>(324);
let alphabetReady = false;
function initAlphabet(): void {
  if (alphabetReady) return;
  for (let i = 0; i < 324; i++) CHAR_TO_BYTE[i] = -1;
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    CHAR_TO_BYTE[printable ? b : 256 + n++] = <i16>b;
  }
  alphabetReady = true;
}

// @ts-ignore: decorator
@inline function peek(): u32 { return pos < end ? <u32>load<u8>(pos) : 0; }
function ws(): void {
  while (pos < end) {
    const c = load<u8>(pos);
    if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
    pos++;
  }
}

function skipString(): bool {
  pos++;
  while (pos < end) {
    const c = load<u8>(pos);
    if (c == 0x22) { pos++; return true; }
    pos += c == 0x5c ? 2 : 1;
  }
  return false;
}

/** Skips one JSON value (containers by bracket depth, outside strings). */
function skipValue(): bool {
  ws();
  const c = peek();
  if (c == 0x22) return skipString();
  if (c == 0x7b || c == 0x5b) {
    let depth = 0;
    while (pos < end) {
      const d = load<u8>(pos);
      if (d == 0x22) { if (!skipString()) return false; continue; }
      if (d == 0x7b || d == 0x5b) depth++;
      else if (d == 0x7d || d == 0x5d) { depth--; if (depth == 0) { pos++; return true; } }
      pos++;
    }
    return false;
  }
  while (pos < end) {
    const d = load<u8>(pos);
    if (d == 0x2c || d == 0x7d || d == 0x5d || d == 0x20 || d == 0x0a || d == 0x0d || d == 0x09) break;
    pos++;
  }
  return true;
}

/** Whether the raw key at [a, b) is exactly `s` (ASCII). */
function keyIs(a: usize, b: usize, s: string): bool {
  if (<i32>(b - a) != s.length) return false;
  for (let i = 0; i < s.length; i++) if (<i32>load<u8>(a + <usize>i) != s.charCodeAt(i)) return false;
  return true;
}

/** Walks an object's members; for each key calls back through `onKey` (with pos at the value). */
function members(depth: i32): i32 {
  ws();
  if (peek() != 0x7b) return 2;
  pos++;
  while (true) {
    ws();
    if (peek() == 0x7d) { pos++; return 0; }
    if (peek() != 0x22) return 3;
    const ka = pos + 1;
    if (!skipString()) return 4;
    const kb = pos - 1;
    ws();
    if (peek() != 0x3a) return 5;
    pos++;
    ws();
    const va = pos;
    if (depth == 0 && keyIs(ka, kb, 'model')) {
      const r = members(1);
      if (r != 0) return r;
    } else {
      if (!skipValue()) return 6;
      if (depth == 1 && keyIs(ka, kb, 'vocab')) { vocabAt = <i32>va; vocabEnd = <i32>pos; }
      else if (depth == 1 && keyIs(ka, kb, 'merges')) { mergesAt = <i32>va; mergesEnd = <i32>pos; }
    }
    ws();
    if (peek() == 0x2c) { pos++; continue; }
    if (peek() == 0x7d) { pos++; return 0; }
    return 7;
  }
}

/** Locates model.vocab and model.merges (offsets from p in vocabAt..mergesEnd); 0, or an error code. */
export function scanTokenizerJson(p: usize, n: i32): i32 {
  pos = p; end = p + <usize>n;
  vocabAt = vocabEnd = mergesAt = mergesEnd = 0;
  const r = members(0);
  if (r != 0) return r;
  if (!vocabEnd || !mergesEnd) return 8;
  // Invalid UTF-8 would be U+FFFD after TextDecoder: leave such files to the JS path.
  if (!validUtf8(vocabAt, vocabEnd) || !validUtf8(mergesAt, mergesEnd)) return 9;
  vocabAt -= <i32>p; vocabEnd -= <i32>p; mergesAt -= <i32>p; mergesEnd -= <i32>p;
  return 0;
}

function validUtf8(a: usize, b: usize): bool {
  let q = a;
  while (q < b) {
    const c = <u32>load<u8>(q);
    if (c < 0x80) { q++; continue; }
    const n: usize = c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : 0;
    if (n == 0 || q + n >= b) return false;
    for (let k: usize = 1; k <= n; k++) if ((load<u8>(q + k) & 0xc0) != 0x80) return false;
    const c1 = <u32>load<u8>(q + 1);
    if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 >= 0x90)) return false;
    q += n + 1;
  }
  return true;
}

function hex(c: u32): i32 {
  if (c - 0x30 < 10) return <i32>(c - 0x30);
  const l = (c | 0x20) - 0x61;
  return l < 6 ? <i32>l + 10 : -1;
}

function hex4(): i32 {
  if (pos + 4 > end) return -1;
  let v = 0;
  for (let i = 0; i < 4; i++) { const h = hex(load<u8>(pos + <usize>i)); if (h < 0) return -1; v = (v << 4) | h; }
  pos += 4;
  return v;
}

/** Reads the JSON string at pos into out as UTF-8 (a lone surrogate escape gives U+FFFD, as TextEncoder would). */
function readString(out: Bytes): bool {
  if (peek() != 0x22) return false;
  pos++;
  while (pos < end) {
    const c = load<u8>(pos);
    if (c == 0x22) { pos++; return true; }
    if (c != 0x5c) { out.push(c); pos++; continue; }
    pos++;
    const e = peek();
    pos++;
    if (e == 0x75) {
      let cp = hex4();
      if (cp < 0) return false;
      if (cp >= 0xd800 && cp < 0xdc00 && peek() == 0x5c && pos + 1 < end && load<u8>(pos + 1) == 0x75) {
        const save = pos;
        pos += 2;
        const lo = hex4();
        if (lo >= 0xdc00 && lo < 0xe000) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        else pos = save;
      }
      out.pushCp(cp >= 0xd800 && cp < 0xe000 ? 0xfffd : cp);
    } else if (e == 0x6e) out.push(0x0a);
    else if (e == 0x74) out.push(0x09);
    else if (e == 0x72) out.push(0x0d);
    else if (e == 0x62) out.push(0x08);
    else if (e == 0x66) out.push(0x0c);
    else if (e == 0x22 || e == 0x5c || e == 0x2f) out.push(<u8>e);
    else return false;
  }
  return false;
}

/** Appends the byte-level bytes of UTF-8 text [a, a + n) to out; false when a character is outside the alphabet. */
function toByteLevel(a: usize, n: i32, out: Bytes): bool {
  const start = out.len;
  let i = 0;
  while (i < n) {
    const b0 = <i32>load<u8>(a + <usize>i);
    let cp = b0, k = 1;
    if (b0 >= 0x80) { // the alphabet has nothing above U+0143: two-byte characters at most
      const b1 = i + 1 < n ? <i32>load<u8>(a + <usize>i + 1) : 0;
      if (b0 < 0xc2 || b0 >= 0xe0 || (b1 & 0xc0) != 0x80) { out.len = start; return false; }
      cp = ((b0 & 0x1f) << 6) | (b1 & 0x3f);
      k = 2;
    }
    if (cp >= 324 || CHAR_TO_BYTE[cp] < 0) { out.len = start; return false; }
    out.push(<u8>CHAR_TO_BYTE[cp]);
    i += k;
  }
  return true;
}

const keys = new Bytes(1 << 20);   // unescaped tokens, back to back
const keyEnd = new IdBuf(1 << 16); // end offset of each token in keys
const keyId = new IdBuf(1 << 16);  // its id
const tmp = new Bytes(256);
const out = new Bytes(1 << 20);

function isByteToken(p: usize, n: i32): i32 { // "<0xHH>" (upper-case hex, as tokenizers formats it) → HH
  if (n != 6 || load<u8>(p) != 0x3c || load<u8>(p, 1) != 0x30 || load<u8>(p, 2) != 0x78 || load<u8>(p, 5) != 0x3e) return -1;
  const h = load<u8>(p, 3), l = load<u8>(p, 4);
  if ((h >= 0x61 && h <= 0x66) || (l >= 0x61 && l <= 0x66)) return -1;
  const a = hex(h), b = hex(l);
  return a < 0 || b < 0 ? -1 : a * 16 + b;
}

/**
 * Packs vocab (JSON object at p[vocabAt..]) and merges (array at p[mergesAt..]) into the loadBpe layout at
 * `packed` (packedLen bytes). aff: prefix then suffix bytes (prefixLen + suffixLen), unk: the unk token's
 * UTF-8 (unkLen 0: none). Returns 0, or an error code (then use the JSON.parse path).
 */
export function packJsonModel(p: usize, flags: i32, aff: usize, prefixLen: i32, suffixLen: i32, unk: usize, unkLen: i32): i32 {
  initAlphabet();
  const byteLevel = (flags & F_BYTE_LEVEL) != 0;
  keys.reset(); keyEnd.len = 0; keyId.len = 0;
  pos = p + <usize>vocabAt; end = p + <usize>vocabEnd;
  ws(); if (peek() != 0x7b) return 20;
  pos++;
  let maxId = -1;
  while (true) {
    ws();
    if (peek() == 0x7d) break;
    if (!readString(keys)) return 21;
    ws(); if (peek() != 0x3a) return 22;
    pos++; ws();
    let id: i64 = 0, digits = 0;
    while (pos < end && load<u8>(pos) >= 0x30 && load<u8>(pos) <= 0x39) { id = id * 10 + (load<u8>(pos) - 0x30); pos++; digits++; if (digits > 8) return 23; }
    if (digits == 0 || id >= (1 << 24)) return 23;
    keyEnd.push(keys.len); keyId.push(<i32>id);
    if (<i32>id > maxId) maxId = <i32>id;
    ws();
    if (peek() == 0x2c) { pos++; continue; }
    if (peek() != 0x7d) return 24;
  }
  const count = keyEnd.len, nVocab = maxId + 1;
  if (hasDuplicateKey(count)) return 26; // JSON.parse keeps the last one: leave that to the JS path
  // Entry index by id; a repeated id would need JSON.parse's last-one-wins: leave that to the JS path.
  const byId = heap.alloc(<usize>max(nVocab, 1) << 2);
  memory.fill(byId, 0xff, <usize>max(nVocab, 1) << 2);
  for (let i = 0; i < count; i++) {
    const at = byId + (<usize>load<i32>(keyId.ptr + (<usize>i << 2)) << 2);
    if (load<i32>(at) >= 0) { heap.free(byId); return 25; }
    store<i32>(at, i);
  }
  out.reset();
  out.reserve(HEADER + (nVocab << 2));
  out.len = HEADER + (nVocab << 2);
  memory.fill(out.ptr, 0, <usize>out.len);
  let unkId = -1;
  const byteIds = out.ptr + 28;
  memory.fill(byteIds, 0xff, 1024);
  for (let id = 0; id < nVocab; id++) {
    const i = load<i32>(byId + (<usize>id << 2));
    let lenWord: u32 = 0x80000000; // a hole
    if (i >= 0) {
      const a = i == 0 ? 0 : load<i32>(keyEnd.ptr + (<usize>(i - 1) << 2));
      const s = keys.ptr + <usize>a, n = load<i32>(keyEnd.ptr + (<usize>i << 2)) - a;
      if (unkLen > 0 && n == unkLen && memory.compare(s, unk, <usize>n) == 0) unkId = id;
      const hb = flags & F_BYTE_FALLBACK ? isByteToken(s, n) : -1;
      if (hb >= 0) store<i32>(byteIds + (<usize>hb << 2), id);
      const before = out.len;
      if (byteLevel && toByteLevel(s, n, out)) lenWord = <u32>(out.len - before);
      else { out.append(s, n); lenWord = byteLevel ? (<u32>n | 0x80000000) : <u32>n; }
    }
    store<u32>(out.ptr + HEADER + (<usize>id << 2), lenWord);
  }
  heap.free(byId);
  const blobLen = out.len - HEADER - (nVocab << 2);
  while (out.len & 3) out.push(0);
  out.append(aff, prefixLen + suffixLen);
  while (out.len & 3) out.push(0);
  const nMerges = packMerges(p, byteLevel);
  if (nMerges < 0) return -nMerges;
  const h = out.ptr;
  store<i32>(h, nVocab); store<i32>(h, blobLen, 4); store<i32>(h, nMerges, 8); store<i32>(h, flags, 12);
  store<i32>(h, unkId, 16); store<i32>(h, prefixLen, 20); store<i32>(h, suffixLen, 24);
  packed = out.ptr; packedLen = out.len;
  return 0;
}

function hasDuplicateKey(count: i32): bool {
  let slots: u32 = 16;
  while (slots < <u32>count * 2) slots <<= 1;
  const table = heap.alloc(<usize>slots << 2);
  memory.fill(table, 0xff, <usize>slots << 2);
  let dup = false;
  for (let i = 0; i < count && !dup; i++) {
    const a = i == 0 ? 0 : load<i32>(keyEnd.ptr + (<usize>(i - 1) << 2));
    const n = load<i32>(keyEnd.ptr + (<usize>i << 2)) - a;
    const s = keys.ptr + <usize>a;
    let h: u32 = 2166136261;
    for (let k = 0; k < n; k++) h = (h ^ load<u8>(s + <usize>k)) * 16777619;
    let slot = h & (slots - 1);
    while (true) {
      const j = load<i32>(table + (<usize>slot << 2));
      if (j < 0) { store<i32>(table + (<usize>slot << 2), i); break; }
      const b = j == 0 ? 0 : load<i32>(keyEnd.ptr + (<usize>(j - 1) << 2));
      if (load<i32>(keyEnd.ptr + (<usize>j << 2)) - b == n && memory.compare(keys.ptr + <usize>b, s, <usize>n) == 0) { dup = true; break; }
      slot = (slot + 1) & (slots - 1);
    }
  }
  heap.free(table);
  return dup;
}

/** Appends one merge part: its bytes (byte-level converted); false when it cannot be a token. */
function part(byteLevel: bool): bool {
  tmp.reset();
  if (!readString(tmp)) return false;
  if (byteLevel) return toByteLevel(tmp.ptr, tmp.len, out);
  out.append(tmp.ptr, tmp.len);
  return true;
}

/** Merges as u16 lenA, u16 lenB, bytes; returns their count, or -(error code). */
function packMerges(p: usize, byteLevel: bool): i32 {
  pos = p + <usize>mergesAt; end = p + <usize>mergesEnd;
  ws(); if (peek() != 0x5b) return -30;
  pos++;
  let count = 0;
  while (true) {
    ws();
    if (peek() == 0x5d) return count;
    const head = out.len;
    out.reserve(4); out.len += 4;
    let la = 0, lb = 0, ok = true;
    if (peek() == 0x22) { // "a b": split at the first space
      tmp.reset();
      if (!readString(tmp)) return -31;
      let sp = 0;
      while (sp < tmp.len && load<u8>(tmp.ptr + <usize>sp) != 0x20) sp++;
      if (sp == tmp.len) return -32;
      const s = heap.alloc(<usize>tmp.len); memory.copy(s, tmp.ptr, <usize>tmp.len);
      const n = tmp.len;
      if (byteLevel) {
        ok = toByteLevel(s, sp, out); la = out.len - head - 4;
        if (ok) { ok = toByteLevel(s + <usize>sp + 1, n - sp - 1, out); lb = out.len - head - 4 - la; }
      } else {
        out.append(s, sp); out.append(s + <usize>sp + 1, n - sp - 1); la = sp; lb = n - sp - 1;
      }
      heap.free(s);
    } else if (peek() == 0x5b) { // ["a", "b"]
      pos++; ws();
      ok = part(byteLevel); la = out.len - head - 4;
      ws(); if (peek() != 0x2c) return -33;
      pos++; ws();
      if (ok) { ok = part(byteLevel); lb = out.len - head - 4 - la; } else if (!skipValue()) return -33;
      ws(); if (peek() != 0x5d) return -33;
      pos++;
    } else return -34;
    if (!ok || la > 0xfffe || lb > 0xffff) { out.len = head + 4; la = 0xffff; lb = 0; }
    store<u16>(out.ptr + <usize>head, <u16>la);
    store<u16>(out.ptr + <usize>head, <u16>lb, 2);
    count++;
    ws();
    if (peek() == 0x2c) { pos++; continue; }
    if (peek() != 0x5d) return -35;
  }
}
