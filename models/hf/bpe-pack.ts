// Packs a tokenizer.json BPE model (vocab + merges) into the one buffer the engine loads (asm/tokenizer/hf/bpe.ts
// loadBpe): token bytes by id (byte-level tokens converted to raw bytes) and merges as (left, right, merged) ids.
import { CHAR_TO_BYTE } from './bytes.ts';

export const F_BYTE_LEVEL = 1, F_BYTE_FALLBACK = 2, F_FUSE_UNK = 4, F_IGNORE_MERGES = 8, F_RECORD = 32;
const HEADER = 28 + 1024;
const MAX_VOCAB = 1 << 24;

export interface PackedBpe {
  bytes: Uint8Array;
  nVocab: number;
  /** Byte-level tokens outside the byte alphabet: stored as UTF-8 and never produced by encoding. */
  hiddenIds: number[];
  unkId: number;
}

type Cfg = Record<string, unknown>;
const utf8 = new TextEncoder();

function optString(m: Cfg, key: string, where: string): string {
  const v = m[key];
  if (v === null || v === undefined) return '';
  if (typeof v !== 'string') throw new Error(`${where}: model.${key} must be a string or null`);
  return v;
}

/** The BPE model's settings besides vocab and merges, as the packed header holds them. */
export interface BpeOptions { flags: number; prefix: string; suffix: string; unk: string }

export function bpeOptions(m: Cfg, byteLevel: boolean, where: string, record: boolean): BpeOptions {
  if (m.dropout !== null && m.dropout !== undefined && m.dropout !== 0) {
    throw new Error(`${where}: BPE dropout ${JSON.stringify(m.dropout)} is not supported (encoding would be random)`);
  }
  const flags = (byteLevel ? F_BYTE_LEVEL : 0) | (m.byte_fallback ? F_BYTE_FALLBACK : 0) |
    (m.fuse_unk ? F_FUSE_UNK : 0) | (m.ignore_merges ? F_IGNORE_MERGES : 0) | (record ? F_RECORD : 0);
  return {
    flags,
    prefix: optString(m, 'continuing_subword_prefix', where),
    suffix: optString(m, 'end_of_word_suffix', where),
    unk: optString(m, 'unk_token', where),
  };
}

/** Ids of the byte-level tokens stored as UTF-8 (bit 31 of a non-empty length in a packed model). */
export function hiddenIdsOf(bytes: Uint8Array): number[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ids: number[] = [];
  for (let id = 0, n = dv.getInt32(0, true); id < n; id++) {
    const l = dv.getUint32(HEADER + id * 4, true);
    if (l > 0x80000000) ids.push(id);
  }
  return ids;
}

/** Packs vocab and merges from parsed JSON. `record`: have the engine keep the resolved merges, to write the
 *  compact cached form (compact.ts). */
export function packBpe(m: Cfg, byteLevel: boolean, where: string, record = false): PackedBpe {
  const vocab = m.vocab as Record<string, unknown>;
  if (!vocab || typeof vocab !== 'object' || Array.isArray(vocab)) throw new Error(`${where}: model.vocab must be an object of token → id`);
  if (!Array.isArray(m.merges)) throw new Error(`${where}: model.merges must be a list`);
  const merges = m.merges as unknown[];
  const { flags, prefix, suffix, unk } = bpeOptions(m, byteLevel, where, record);

  // Tokens by id; ids may leave holes (empty, never matched).
  const tokens: string[] = [];
  let chars = 0;
  for (const t in vocab) {
    const id = vocab[t];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= MAX_VOCAB) {
      throw new Error(`${where}: model.vocab[${JSON.stringify(t)}] = ${JSON.stringify(id)} is not a valid id`);
    }
    tokens[id] = t;
    chars += t.length;
  }
  const nVocab = tokens.length;
  const lookup = (t: string): number => { const id = vocab[t]; return typeof id === 'number' ? id : -1; };

  const blob = new Uint8Array(chars * 3 + 16);
  const lens = new Uint32Array(nVocab);
  const hiddenIds: number[] = [];
  let off = 0;
  for (let id = 0; id < nVocab; id++) {
    const t = tokens[id];
    if (t === undefined) { lens[id] = 0x80000000; continue; }
    let len = -1;
    if (byteLevel) {
      len = t.length;
      for (let i = 0; i < t.length; i++) {
        const c = t.charCodeAt(i);
        const b = c < 324 ? CHAR_TO_BYTE[c] : -1;
        if (b < 0) { len = -1; break; }
        blob[off + i] = b;
      }
    }
    if (len >= 0) { lens[id] = len; off += len; continue; }
    const n = utf8.encodeInto(t, blob.subarray(off)).written;
    off += n;
    lens[id] = byteLevel ? (n | 0x80000000) >>> 0 : n;
    if (byteLevel) hiddenIds.push(id);
  }

  const byteIds = new Int32Array(256).fill(-1);
  if (m.byte_fallback) {
    for (let b = 0; b < 256; b++) byteIds[b] = lookup(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  }
  const pre = utf8.encode(prefix), suf = utf8.encode(suffix);
  const affix = (pre.length + suf.length + 3) & ~3;
  const mergeBytes = packMerges(merges, byteLevel, where);
  const blobPad = (off + 3) & ~3;
  const at0 = HEADER + nVocab * 4 + blobPad + affix;
  const out = new Uint8Array(at0 + mergeBytes.length);
  const dv = new DataView(out.buffer);
  const unkId = unk ? lookup(unk) : -1;
  [nVocab, off, merges.length, flags, unkId, pre.length, suf.length].forEach((v, i) => dv.setInt32(i * 4, v, true));
  for (let b = 0; b < 256; b++) dv.setInt32(28 + b * 4, byteIds[b], true);
  let at = HEADER;
  new Uint8Array(out.buffer, at, nVocab * 4).set(new Uint8Array(lens.buffer));
  at += nVocab * 4;
  out.set(blob.subarray(0, off), at);
  at += blobPad;
  out.set(pre, at);
  out.set(suf, at + pre.length);
  out.set(mergeBytes, at0);
  return { bytes: out, nVocab, hiddenIds, unkId };
}

/** Merges in rank order as u16 lenA, u16 lenB, bytes of A, bytes of B (raw bytes for byte-level); the engine
 *  resolves the ids. A part that cannot be a token (outside the byte alphabet) gives lenA 0xffff. */
function packMerges(merges: unknown[], byteLevel: boolean, where: string): Uint8Array {
  let cap = 1 << 16;
  let buf = new Uint8Array(cap);
  let o = 0;
  const put = (s: string): number => { // returns the byte count, or -1
    if (!byteLevel) return utf8.encodeInto(s, buf.subarray(o)).written;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      const b = c < 324 ? CHAR_TO_BYTE[c] : -1;
      if (b < 0) return -1;
      buf[o + i] = b;
    }
    return s.length;
  };
  for (let r = 0; r < merges.length; r++) {
    const x = merges[r];
    let a: string, b: string;
    if (typeof x === 'string') {
      const sp = x.indexOf(' ');
      if (sp < 0) throw new Error(`${where}: merge ${r} ${JSON.stringify(x)} is not two tokens separated by a space`);
      a = x.slice(0, sp); b = x.slice(sp + 1);
    } else if (Array.isArray(x) && x.length === 2 && typeof x[0] === 'string' && typeof x[1] === 'string') {
      a = x[0]; b = x[1];
    } else {
      throw new Error(`${where}: merge ${r} must be "a b" or ["a", "b"]`);
    }
    const need = 4 + (a.length + b.length) * 3;
    if (need > 0xfffe) throw new Error(`${where}: merge ${r} is too long`);
    if (o + need > cap) {
      while (o + need > cap) cap *= 2;
      const nb = new Uint8Array(cap); nb.set(buf.subarray(0, o)); buf = nb;
    }
    const head = o;
    o += 4;
    const la = put(a);
    if (la >= 0) o += la;
    const lb = la >= 0 ? put(b) : -1;
    if (la < 0 || lb < 0) { o = head + 4; buf[head] = buf[head + 1] = 0xff; buf[head + 2] = buf[head + 3] = 0; continue; }
    o += lb;
    buf[head] = la & 0xff; buf[head + 1] = la >> 8; buf[head + 2] = lb & 0xff; buf[head + 3] = lb >> 8;
  }
  return buf.subarray(0, o);
}
