// The compact cached form of a tokenizer: the validated HfSpec with its BPE model already packed and its merges
// already resolved to ids, so a later load skips JSON.parse of the large tokenizer.json and the merge lookups.
// Layout: "WTTK", u32 version, u32 header length, header JSON (the spec without the model bytes, plus the cache
// key), padding to 4, model bytes. Files live in a cache directory, named by a hash of the key (paths, sizes and
// modification times of tokenizer.json and tokenizer_config.json), and are only used when the key matches.
import type { HfSpec } from './spec.ts';
import type { PackedBpe } from './bpe-pack.ts';
import { fileSystem } from '../../runtime/platform.ts';

const MAGIC = 0x4b545457; // "WTTK" little-endian
const VERSION = 1;
const F_MERGE_IDS = 16, F_RECORD = 32; // asm/tokenizer/hf/bpe.ts
const HEADER = 28 + 1024;

/** The packed model with its string merges replaced by resolved (a, b, merged id) triples. */
export function withResolvedMerges(model: Uint8Array, triples: Int32Array): Uint8Array {
  const dv = new DataView(model.buffer, model.byteOffset, model.byteLength);
  const [nVocab, blobLen, nMerges, flags, , pre, suf] = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, true));
  if (triples.length !== nMerges * 3) throw new Error('resolved merges do not match the model');
  const at = HEADER + nVocab * 4 + ((blobLen + 3) & ~3) + ((pre + suf + 3) & ~3);
  const out = new Uint8Array(at + nMerges * 12);
  out.set(model.subarray(0, at));
  new DataView(out.buffer).setInt32(12, (flags | F_MERGE_IDS) & ~F_RECORD, true);
  out.set(new Uint8Array(triples.buffer, triples.byteOffset, triples.byteLength), at);
  return out;
}

export function encodeCompact(spec: HfSpec, key: string): Uint8Array {
  const { bytes, ...model } = spec.model;
  const header = new TextEncoder().encode(JSON.stringify({ ...spec, model, key }));
  const at = (12 + header.length + 3) & ~3;
  const out = new Uint8Array(at + bytes.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, VERSION, true);
  dv.setUint32(8, header.length, true);
  out.set(header, 12);
  out.set(bytes, at);
  return out;
}

/** The spec in a compact file, or undefined when it is not one, is another version, or has another key. */
export function decodeCompact(data: Uint8Array, key: string): HfSpec | undefined {
  if (data.length < 12) return undefined;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (dv.getUint32(0, true) !== MAGIC || dv.getUint32(4, true) !== VERSION) return undefined;
  const len = dv.getUint32(8, true);
  if (12 + len > data.length) return undefined;
  let h: HfSpec & { key?: string; model: Omit<PackedBpe, 'bytes'> };
  try { h = JSON.parse(new TextDecoder().decode(data.subarray(12, 12 + len))); } catch { return undefined; }
  if (h.key !== key) return undefined;
  const at = (12 + len + 3) & ~3;
  const { key: _, ...spec } = h;
  return { ...spec, model: { ...h.model, bytes: data.subarray(at) } };
}

/** Where compact files go: $WEBTUNE_CACHE_DIR, else $XDG_CACHE_HOME/webtune, else ~/.cache/webtune (then
 *  /tokenizers). Undefined (no caching) when WEBTUNE_CACHE_DIR is "off" or no home is known. */
export function defaultCacheDir(env: (name: string) => string | undefined): string | undefined {
  const dir = env('WEBTUNE_CACHE_DIR');
  if (dir === 'off' || dir === '0') return undefined;
  const base = dir || (env('XDG_CACHE_HOME') ? `${env('XDG_CACHE_HOME')}/webtune` : env('HOME') ? `${env('HOME')}/.cache/webtune` : undefined);
  return base ? `${base}/tokenizers` : undefined;
}

/** The cache key of the files (real paths, sizes, modification times) and the file name it maps to. */
export async function cacheKey(files: string[]): Promise<{ key: string; file: string }> {
  const fs = fileSystem();
  const parts = [`v${VERSION}`];
  for (const f of files) {
    const real = await fs.realpath(f);
    const s = (await fs.stat(real))!;
    parts.push(`${real}|${s.size}|${s.mtimeMs}`);
  }
  const key = parts.join('\n');
  let h1 = 0x811c9dc5, h2 = 0x01000193;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 13);
  }
  const hex = (x: number) => (x >>> 0).toString(16).padStart(8, '0');
  return { key, file: `${hex(h1)}${hex(h2)}.wttk` };
}
